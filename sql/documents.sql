-- pulse install script: documents and their storage (seed Step 4).

CREATE TABLE documents.documents (
    project_id         bigint NOT NULL REFERENCES projects.projects (project_id),
    document_id        bigint GENERATED ALWAYS AS IDENTITY,
    title              text NOT NULL,
    file_name          text NOT NULL,
    filetype_id        integer NOT NULL REFERENCES pulse.filetype_reference (filetype_id),
    storage_id         integer NOT NULL REFERENCES pulse.storage_reference (storage_id),
    object_key         text NOT NULL,
    size_bytes         bigint NOT NULL,
    checksum_sha256    text NOT NULL,
    image_url          text,
    custom_properties  jsonb NOT NULL DEFAULT '{}',
    priority_id        integer NOT NULL REFERENCES pulse.priority_reference (priority_id),
    phase_id           integer NOT NULL REFERENCES pulse.phase_reference (phase_id),
    version            integer NOT NULL DEFAULT 1,
    uploaded_by        integer REFERENCES users.users (user_id),
    available_at       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    updated_by         integer REFERENCES users.users (user_id),
    deleted_at         timestamptz,
    deleted_by         integer REFERENCES users.users (user_id),
    PRIMARY KEY (project_id, document_id),
    CONSTRAINT documents_title_format
        CHECK (title = btrim(title) AND title <> '' AND length(title) <= 500 AND title !~ '[[:cntrl:]]'),
    -- A file name, not a path: no separators, no control characters, not . or ..
    CONSTRAINT documents_file_name_format
        CHECK (length(file_name) BETWEEN 1 AND 255 AND file_name !~ '[/\\[:cntrl:]]' AND file_name NOT IN ('.', '..')),
    -- S3 keys are at most 1024 bytes; control characters and a leading slash are refused.
    CONSTRAINT documents_object_key_format
        CHECK (octet_length(object_key) BETWEEN 1 AND 1024 AND object_key !~ '[[:cntrl:]]' AND object_key !~ '^/'),
    -- 0 bytes to 5 TiB, the largest S3 object.
    CONSTRAINT documents_size_range CHECK (size_bytes BETWEEN 0 AND 5497558138880),
    CONSTRAINT documents_checksum_sha256_hex CHECK (checksum_sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT documents_image_url_format
        CHECK (length(image_url) <= 2048 AND image_url ~ '^https?://[^[:space:][:cntrl:]]+$'),
    CONSTRAINT documents_custom_properties_object CHECK (jsonb_typeof(custom_properties) = 'object'),
    CONSTRAINT documents_version_positive CHECK (version >= 1),
    CONSTRAINT documents_available_after_created CHECK (available_at >= created_at),
    CONSTRAINT documents_updated_after_created CHECK (updated_at >= created_at),
    CONSTRAINT documents_deleted_after_created CHECK (deleted_at >= created_at),
    CONSTRAINT documents_deleted_by_needs_deleted_at CHECK (deleted_by IS NULL OR deleted_at IS NOT NULL)
);
-- Point lookups by document id alone (the API takes a document id).
CREATE INDEX documents_document_id_idx ON documents.documents (document_id);
-- Duplicate detection: same content in the same project and storage.
CREATE INDEX documents_checksum_idx ON documents.documents (project_id, storage_id, checksum_sha256);
CREATE INDEX documents_filetype_id_idx ON documents.documents (filetype_id);
CREATE INDEX documents_storage_id_idx ON documents.documents (storage_id);
CREATE INDEX documents_priority_id_idx ON documents.documents (priority_id);
CREATE INDEX documents_phase_id_idx ON documents.documents (phase_id);
CREATE INDEX documents_uploaded_by_idx ON documents.documents (uploaded_by) WHERE uploaded_by IS NOT NULL;
CREATE INDEX documents_updated_by_idx ON documents.documents (updated_by) WHERE updated_by IS NOT NULL;
CREATE INDEX documents_deleted_by_idx ON documents.documents (deleted_by) WHERE deleted_by IS NOT NULL;
CREATE TRIGGER touch_updated_at BEFORE UPDATE ON documents.documents
    FOR EACH ROW EXECUTE FUNCTION pulse.touch_updated_at();
COMMENT ON TABLE documents.documents IS
    'Documents: metadata of files kept in S3-compatible storage, with their SHA-256, object key and lifecycle.';
COMMENT ON COLUMN documents.documents.project_id IS 'The project the document belongs to (distribution key).';
COMMENT ON COLUMN documents.documents.document_id IS 'Database-generated identity, unique across projects.';
COMMENT ON COLUMN documents.documents.title IS 'Title shown to people.';
COMMENT ON COLUMN documents.documents.file_name IS 'Original file name (no path), offered on download.';
COMMENT ON COLUMN documents.documents.filetype_id IS 'Normalized MIME type.';
COMMENT ON COLUMN documents.documents.storage_id IS 'Object store holding the content.';
COMMENT ON COLUMN documents.documents.object_key IS 'Key of the object in its storage (derived from the content checksum, so identical content shares one object).';
COMMENT ON COLUMN documents.documents.size_bytes IS 'Size of the content in bytes (0 to 5 TiB).';
COMMENT ON COLUMN documents.documents.checksum_sha256 IS 'SHA-256 of the content, lower-case hex; detects duplicates and binds uploads to these bytes.';
COMMENT ON COLUMN documents.documents.image_url IS 'Preview image (http or https URL); NULL when there is none.';
COMMENT ON COLUMN documents.documents.custom_properties IS 'Flexible tagging: a JSON object of application-defined properties.';
COMMENT ON COLUMN documents.documents.priority_id IS 'Priority of the document.';
COMMENT ON COLUMN documents.documents.phase_id IS 'Lifecycle phase of the document.';
COMMENT ON COLUMN documents.documents.version IS 'Content revision number, starting at 1; a new upload makes a new version.';
COMMENT ON COLUMN documents.documents.uploaded_by IS 'Who registered the document (its owner); NULL for maintenance loads.';
COMMENT ON COLUMN documents.documents.available_at IS 'When the upload was confirmed; NULL while the content is still expected.';
COMMENT ON COLUMN documents.documents.created_at IS 'When the document was registered.';
COMMENT ON COLUMN documents.documents.updated_at IS 'When the row last changed (maintained by trigger).';
COMMENT ON COLUMN documents.documents.updated_by IS 'Who changed it last; NULL for maintenance changes.';
COMMENT ON COLUMN documents.documents.deleted_at IS 'Soft deletion time; NULL while the document is live.';
COMMENT ON COLUMN documents.documents.deleted_by IS 'Who soft-deleted it.';

-- Decisions link to documents of the same project; the table lives with the decision log
-- but is created here, after the table it references.
CREATE TABLE projects.decision_document (
    project_id   bigint NOT NULL,
    decision_id  bigint NOT NULL,
    document_id  bigint NOT NULL,
    PRIMARY KEY (project_id, decision_id, document_id),
    FOREIGN KEY (project_id, decision_id) REFERENCES projects.project_decision_log (project_id, decision_id) ON DELETE CASCADE,
    FOREIGN KEY (project_id, document_id) REFERENCES documents.documents (project_id, document_id) ON DELETE CASCADE
);
CREATE INDEX decision_document_document_idx ON projects.decision_document (project_id, document_id);
COMMENT ON TABLE projects.decision_document IS 'Documents a decision concerns (traceability from decision to document, within one project).';
COMMENT ON COLUMN projects.decision_document.project_id IS 'The project of both the decision and the document.';
COMMENT ON COLUMN projects.decision_document.decision_id IS 'The decision.';
COMMENT ON COLUMN projects.decision_document.document_id IS 'A document the decision concerns.';

SELECT pg_catalog.pg_extension_config_dump('documents.documents', '');
SELECT pg_catalog.pg_extension_config_dump('documents.documents_document_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('projects.decision_document', '');
