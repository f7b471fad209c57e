-- pulse install script: the document lifecycle (issue 5): storage credentials, content
-- revisions, the log of issued URLs, registration, deduplication, soft delete and restore,
-- phase transitions and reconciliation with the object store. Signing is Rust
-- (src/documents/); this file holds the tables and the SQL that orchestrates them.

-- Credentials of each storage. Nobody but the extension owner (and superusers) can read
-- them: no privilege is granted on the table and row-level security has no policy. pulse
-- reads them in Rust to sign URLs; they are never a function argument, never in an error,
-- a log line, a notice or a history row.
CREATE TABLE pulse.storage_credential (
    storage_id         integer PRIMARY KEY REFERENCES pulse.storage_reference (storage_id) ON DELETE CASCADE,
    access_key_id      text NOT NULL,
    secret_access_key  text NOT NULL,
    session_token      text,
    max_expires_in     integer NOT NULL DEFAULT 3600,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT storage_credential_access_key_id_format CHECK (access_key_id ~ '^[A-Za-z0-9._~+/=-]+$' AND length(access_key_id) <= 256),
    CONSTRAINT storage_credential_secret_not_empty CHECK (secret_access_key <> '' AND length(secret_access_key) <= 512),
    CONSTRAINT storage_credential_session_token_format
        CHECK (session_token <> '' AND length(session_token) <= 8192 AND session_token !~ '[[:cntrl:][:space:]]'),
    -- SigV4 presigned URLs live at most seven days.
    CONSTRAINT storage_credential_max_expires_in_range CHECK (max_expires_in BETWEEN 1 AND 604800)
);
ALTER TABLE pulse.storage_credential ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON pulse.storage_credential FROM PUBLIC;
CREATE TRIGGER touch_updated_at BEFORE UPDATE ON pulse.storage_credential
    FOR EACH ROW EXECUTE FUNCTION pulse.touch_updated_at();
-- Backends cache a signer per storage; a change reaches every backend at commit.
CREATE TRIGGER forget_cached_copies AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pulse.storage_credential
    FOR EACH STATEMENT EXECUTE FUNCTION pulse.forget_cached_copies();
COMMENT ON TABLE pulse.storage_credential IS
    'S3 credentials per storage, readable only by the extension owner: pulse signs URLs with them and never shows them.';
COMMENT ON COLUMN pulse.storage_credential.storage_id IS 'The storage these credentials sign for.';
COMMENT ON COLUMN pulse.storage_credential.access_key_id IS 'Access key id (appears in signed URLs, as S3 requires).';
COMMENT ON COLUMN pulse.storage_credential.secret_access_key IS 'Secret access key; never leaves the database.';
COMMENT ON COLUMN pulse.storage_credential.session_token IS 'Session token of temporary credentials (STS), or NULL.';
COMMENT ON COLUMN pulse.storage_credential.max_expires_in IS 'Longest lifetime of a URL signed for this storage, in seconds (1 to 604800).';
COMMENT ON COLUMN pulse.storage_credential.updated_at IS 'When the credentials last changed.';

-- What happens when a registered document's content already exists in the same project and
-- storage: refuse (the default), link to the existing object, or allow a second upload.
CREATE FUNCTION documents.duplicate_policy(requested text) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    policy text := coalesce(requested, nullif(current_setting('pulse.duplicate_documents', true), ''), 'refuse');
BEGIN
    IF policy NOT IN ('refuse', 'link', 'allow') THEN
        RAISE EXCEPTION 'unknown duplicate policy "%"', policy
            USING ERRCODE = '22023', HINT = 'Use refuse, link or allow.';
    END IF;
    RETURN policy;
END
$$;
COMMENT ON FUNCTION documents.duplicate_policy(text) IS
    'The duplicate policy in force: the requested one, else the setting pulse.duplicate_documents, else refuse.';

-- A document is soft-deleted on its own or hidden by its project's soft delete; restoring
-- the project brings back exactly the second kind.
ALTER TABLE documents.documents ADD COLUMN deleted_with_project boolean NOT NULL DEFAULT false;
ALTER TABLE documents.documents ADD CONSTRAINT documents_deleted_with_project_needs_deleted_at
    CHECK (NOT deleted_with_project OR deleted_at IS NOT NULL);
COMMENT ON COLUMN documents.documents.deleted_with_project IS
    'True when the document was hidden by its project''s soft delete (and comes back with its restore).';

-- Every content revision of a document: earlier versions stay downloadable by number, and
-- their objects are never overwritten (keys derive from the checksum).
CREATE TABLE documents.document_revision (
    project_id       bigint NOT NULL,
    document_id      bigint NOT NULL,
    version          integer NOT NULL,
    object_key       text NOT NULL,
    file_name        text NOT NULL,
    filetype_id      integer NOT NULL REFERENCES pulse.filetype_reference (filetype_id),
    storage_id       integer NOT NULL REFERENCES pulse.storage_reference (storage_id),
    size_bytes       bigint NOT NULL,
    checksum_sha256  text NOT NULL,
    uploaded_by      integer REFERENCES users.users (user_id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    available_at     timestamptz,
    PRIMARY KEY (project_id, document_id, version),
    FOREIGN KEY (project_id, document_id) REFERENCES documents.documents (project_id, document_id) ON DELETE CASCADE,
    CONSTRAINT document_revision_version_positive CHECK (version >= 1),
    CONSTRAINT document_revision_size_range CHECK (size_bytes BETWEEN 0 AND 5497558138880),
    CONSTRAINT document_revision_checksum_sha256_hex CHECK (checksum_sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT document_revision_available_after_created CHECK (available_at >= created_at)
);
CREATE INDEX document_revision_object_idx ON documents.document_revision (storage_id, object_key);
CREATE INDEX document_revision_document_idx ON documents.document_revision (document_id, version);
CREATE INDEX document_revision_filetype_id_idx ON documents.document_revision (filetype_id);
CREATE INDEX document_revision_uploaded_by_idx ON documents.document_revision (uploaded_by) WHERE uploaded_by IS NOT NULL;
COMMENT ON TABLE documents.document_revision IS
    'Content revisions of documents (maintained by trigger from documents.documents): each version''s object, size and checksum.';
COMMENT ON COLUMN documents.document_revision.project_id IS 'The project of the document.';
COMMENT ON COLUMN documents.document_revision.document_id IS 'The document.';
COMMENT ON COLUMN documents.document_revision.version IS 'Content revision number (documents.documents.version when it was current).';
COMMENT ON COLUMN documents.document_revision.object_key IS 'Key of this revision''s object in its storage.';
COMMENT ON COLUMN documents.document_revision.file_name IS 'File name of this revision.';
COMMENT ON COLUMN documents.document_revision.filetype_id IS 'MIME type of this revision.';
COMMENT ON COLUMN documents.document_revision.storage_id IS 'Storage holding this revision''s object.';
COMMENT ON COLUMN documents.document_revision.size_bytes IS 'Size of this revision''s content in bytes.';
COMMENT ON COLUMN documents.document_revision.checksum_sha256 IS 'SHA-256 of this revision''s content, lower-case hex.';
COMMENT ON COLUMN documents.document_revision.uploaded_by IS 'Who registered this revision.';
COMMENT ON COLUMN documents.document_revision.created_at IS 'When this revision was registered.';
COMMENT ON COLUMN documents.document_revision.available_at IS 'When its upload was confirmed; NULL while the content is expected.';

-- Every URL pulse signed for a document: "who could download this file last month" is one query.
CREATE TABLE documents.url_grant (
    grant_id     bigint GENERATED ALWAYS AS IDENTITY,
    project_id   bigint NOT NULL,
    document_id  bigint NOT NULL,
    version      integer NOT NULL,
    method       text NOT NULL,
    user_id      integer NOT NULL REFERENCES users.users (user_id),
    session_id   uuid NOT NULL,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (project_id, grant_id),
    CONSTRAINT url_grant_method_check CHECK (method IN ('GET', 'PUT')),
    CONSTRAINT url_grant_expires_after_issued CHECK (expires_at > issued_at)
);
CREATE INDEX url_grant_document_idx ON documents.url_grant (document_id, issued_at);
CREATE INDEX url_grant_user_idx ON documents.url_grant (user_id, issued_at);
COMMENT ON TABLE documents.url_grant IS
    'Every presigned URL issued for a document: who (user and session), what (document, version, method) and for how long.';
COMMENT ON COLUMN documents.url_grant.grant_id IS 'Database-generated identity.';
COMMENT ON COLUMN documents.url_grant.project_id IS 'The project of the document.';
COMMENT ON COLUMN documents.url_grant.document_id IS 'The document the URL is for (kept after the document is purged).';
COMMENT ON COLUMN documents.url_grant.version IS 'The content revision the URL is for.';
COMMENT ON COLUMN documents.url_grant.method IS 'GET (download) or PUT (upload).';
COMMENT ON COLUMN documents.url_grant.user_id IS 'The user the URL was issued to.';
COMMENT ON COLUMN documents.url_grant.session_id IS 'The session that asked for it.';
COMMENT ON COLUMN documents.url_grant.issued_at IS 'When it was signed.';
COMMENT ON COLUMN documents.url_grant.expires_at IS 'When it stops working.';

-- Read by members (revisions) and by project administrators and auditors (the URL log);
-- written only by pulse's triggers and functions, which run as the extension owner.
ALTER TABLE documents.document_revision ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON documents.document_revision FOR SELECT USING (
    project_id = ANY ((SELECT pulse.caller_project_ids('read'))::bigint[])
    OR project_id BETWEEN (SELECT pulse.caller_all_projects_from('read')) AND 9223372036854775807);
ALTER TABLE documents.url_grant ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON documents.url_grant FOR SELECT USING (
    project_id = ANY ((SELECT pulse.caller_project_ids('administer'))::bigint[])
    OR project_id BETWEEN (SELECT pulse.caller_all_projects_from('administer')) AND 9223372036854775807
    OR (SELECT pulse.caller_is_auditor()));

-- Rules for document rows that row-level security cannot express.
CREATE FUNCTION documents.enforce_document_rules() RETURNS trigger
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller integer := pulse.current_user_id();
BEGIN
    -- New content is a new version: the object of a version never changes.
    IF (OLD.object_key, OLD.checksum_sha256, OLD.size_bytes, OLD.storage_id)
       IS DISTINCT FROM (NEW.object_key, NEW.checksum_sha256, NEW.size_bytes, NEW.storage_id) THEN
        IF NEW.version <> OLD.version + 1 THEN
            RAISE EXCEPTION 'new content for document % must be version %, not %', NEW.document_id, OLD.version + 1, NEW.version
                USING ERRCODE = '55000', HINT = 'Use documents.new_revision().';
        END IF;
    ELSIF NEW.version <> OLD.version THEN
        RAISE EXCEPTION 'the version of document % changes only with new content', NEW.document_id
            USING ERRCODE = '55000', HINT = 'Use documents.new_revision().';
    END IF;
    IF NEW.version <> OLD.version AND NEW.available_at IS NOT DISTINCT FROM OLD.available_at THEN
        NEW.available_at := NULL;
    END IF;
    IF caller IS NOT NULL AND NOT pulse.current_user_is_system_admin()
       AND OLD.deleted_at IS DISTINCT FROM NEW.deleted_at
       AND NOT NEW.project_id = ANY (pulse.caller_project_ids('delete_restore')) THEN
        RAISE EXCEPTION 'soft-deleting or restoring document % needs the delete_restore permission', NEW.document_id
            USING ERRCODE = '42501';
    END IF;
    IF NEW.deleted_at IS NULL THEN
        NEW.deleted_with_project := false;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION documents.enforce_document_rules() IS
    'Trigger on documents.documents: new content needs the next version; soft delete and restore need delete_restore.';
-- Only when a column it rules is written: an UPDATE of the title pays nothing.
CREATE TRIGGER enforce_document_rules
    BEFORE UPDATE OF object_key, checksum_sha256, size_bytes, storage_id, version, deleted_at, deleted_with_project
    ON documents.documents FOR EACH ROW EXECUTE FUNCTION documents.enforce_document_rules();

-- Keeps documents.document_revision in step with the document's current content.
CREATE FUNCTION documents.keep_revisions() RETURNS trigger
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.version <> OLD.version THEN
        INSERT INTO documents.document_revision (project_id, document_id, version, object_key, file_name, filetype_id,
                                                 storage_id, size_bytes, checksum_sha256, uploaded_by, created_at,
                                                 available_at)
        VALUES (NEW.project_id, NEW.document_id, NEW.version, NEW.object_key, NEW.file_name, NEW.filetype_id,
                NEW.storage_id, NEW.size_bytes, NEW.checksum_sha256, coalesce(NEW.updated_by, NEW.uploaded_by),
                CASE WHEN TG_OP = 'INSERT' THEN NEW.created_at ELSE NEW.updated_at END, NEW.available_at);
    ELSIF NEW.available_at IS DISTINCT FROM OLD.available_at OR NEW.file_name <> OLD.file_name
          OR NEW.filetype_id <> OLD.filetype_id THEN
        UPDATE documents.document_revision
           SET available_at = NEW.available_at, file_name = NEW.file_name, filetype_id = NEW.filetype_id
         WHERE project_id = NEW.project_id AND document_id = NEW.document_id AND version = NEW.version;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION documents.keep_revisions() IS
    'Trigger on documents.documents: records each content version in documents.document_revision.';
CREATE TRIGGER keep_revisions
    AFTER INSERT OR UPDATE OF version, available_at, file_name, filetype_id ON documents.documents
    FOR EACH ROW EXECUTE FUNCTION documents.keep_revisions();

-- Phase changes of projects and documents follow the order of pulse.phase_reference
-- (src/documents/phase.rs); a rollback restores whatever phase it restores.
CREATE FUNCTION pulse.check_phase_transition() RETURNS trigger
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'check_phase_transition_wrapper';
CREATE TRIGGER check_phase_transition BEFORE UPDATE OF phase_id ON projects.projects
    FOR EACH ROW EXECUTE FUNCTION pulse.check_phase_transition();
CREATE TRIGGER check_phase_transition BEFORE UPDATE OF phase_id ON documents.documents
    FOR EACH ROW EXECUTE FUNCTION pulse.check_phase_transition();

-- The filetype of a MIME type as clients send it ("Application/PDF; charset=binary").
CREATE FUNCTION documents.filetype_of(mime_type text) RETURNS integer
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    normalized text := lower(btrim(split_part(mime_type, ';', 1)));
    filetype integer;
BEGIN
    IF mime_type IS NULL OR normalized !~ '^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$' THEN
        RAISE EXCEPTION 'malformed MIME type %', coalesce(quote_literal(mime_type), 'NULL')
            USING ERRCODE = '22023', HINT = 'A MIME type is type/subtype, for example application/pdf.';
    END IF;
    SELECT f.filetype_id INTO filetype FROM pulse.filetype_reference f WHERE f.mime_type = normalized;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown MIME type %', normalized
            USING ERRCODE = '22023', HINT = 'Known types are listed in pulse.filetype_reference.';
    END IF;
    RETURN filetype;
END
$$;
COMMENT ON FUNCTION documents.filetype_of(text) IS
    'The filetype_reference id of a MIME type, ignoring case and parameters; 22023 when malformed or unknown.';

-- Arguments of registration and revision, checked before anything is written.
CREATE FUNCTION documents.check_content(size_bytes bigint, checksum_sha256 text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF size_bytes IS NULL OR size_bytes NOT BETWEEN 0 AND 5497558138880 THEN
        RAISE EXCEPTION 'size % is out of range', coalesce(size_bytes::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'A size is 0 bytes to 5 TiB.';
    END IF;
    IF checksum_sha256 IS NULL OR NOT pulse.is_sha256_hex(checksum_sha256) THEN
        RAISE EXCEPTION 'malformed SHA-256 checksum %', coalesce(quote_literal(checksum_sha256), 'NULL')
            USING ERRCODE = '22023', HINT = 'Give 64 lower-case hexadecimal digits.';
    END IF;
END
$$;
COMMENT ON FUNCTION documents.check_content(bigint, text) IS
    'Raises 22023 unless the size is 0 to 5 TiB and the checksum is 64 lower-case hex digits.';

-- A project's content-addressed key: identical content in a project is stored once, and an
-- object is never overwritten by other bytes (upload URLs are bound to the checksum).
CREATE FUNCTION documents.object_key_for(storage_id integer, project_id bigint, checksum_sha256 text) RETURNS text
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
RETURN (SELECT s.key_prefix FROM pulse.storage_reference s WHERE s.storage_id = object_key_for.storage_id)
       || 'p' || project_id || '/sha256/' || checksum_sha256;
COMMENT ON FUNCTION documents.object_key_for(integer, bigint, text) IS
    'Object key of content in a project: <storage key_prefix>p<project_id>/sha256/<checksum>.';

CREATE FUNCTION documents.register_document(project_id bigint, title text, file_name text, mime_type text,
                                            storage text, size_bytes bigint, checksum_sha256 text,
                                            on_duplicate text DEFAULT NULL, expires_in integer DEFAULT NULL,
                                            custom_properties jsonb DEFAULT '{}')
    RETURNS TABLE (document_id bigint, version integer, object_key text, duplicate_of bigint, upload_url text,
                   upload_headers jsonb, expires_at timestamptz)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    policy text := documents.duplicate_policy(on_duplicate);
    filetype integer;
    storage_row pulse.storage_reference;
    existing documents.documents;
    created documents.documents;
    key text;
    default_priority integer;
    first_phase integer;
BEGIN
    PERFORM documents.check_content(size_bytes, checksum_sha256);
    -- Permission before anything that reads reference data, so a caller without rights
    -- learns nothing but that.
    IF NOT pulse.caller_holds('write', register_document.project_id) THEN
        RAISE EXCEPTION 'no project % or no right to add documents to it', register_document.project_id
            USING ERRCODE = '42501';
    END IF;
    filetype := documents.filetype_of(mime_type);
    SELECT * INTO storage_row FROM pulse.storage_reference s WHERE s.code = storage;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown storage "%"', storage USING ERRCODE = '42704';
    END IF;
    key := documents.object_key_for(storage_row.storage_id, register_document.project_id, checksum_sha256);
    SELECT d.* INTO existing FROM documents.documents d
     WHERE d.project_id = register_document.project_id AND d.storage_id = storage_row.storage_id
       AND d.checksum_sha256 = register_document.checksum_sha256 AND d.deleted_at IS NULL
     ORDER BY d.available_at IS NULL, d.document_id LIMIT 1;
    IF FOUND AND policy = 'refuse' THEN
        RAISE EXCEPTION 'document % of project % already has this content', existing.document_id, existing.project_id
            USING ERRCODE = '23505', DETAIL = pg_catalog.format('checksum %s in storage %s', checksum_sha256, storage),
                  HINT = 'Register with on_duplicate => ''link'' to share the stored object, or ''allow''.';
    END IF;
    -- Computed first, not as subqueries inside VALUES, which Citus refuses on a distributed
    -- table (docs/scaling.md).
    SELECT p.priority_id INTO default_priority FROM pulse.priority_reference p
     ORDER BY p.code <> 'medium', p.priority_id LIMIT 1;
    SELECT p.phase_id INTO first_phase FROM pulse.phase_reference p ORDER BY p.sort_order LIMIT 1;
    INSERT INTO documents.documents AS d (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,
                                          checksum_sha256, custom_properties, priority_id, phase_id, uploaded_by,
                                          available_at)
    VALUES (register_document.project_id, title, file_name, filetype, storage_row.storage_id, key, size_bytes,
            checksum_sha256, coalesce(custom_properties, '{}'), default_priority, first_phase,
            pulse.current_user_id(),
            CASE WHEN policy = 'link' AND existing.available_at IS NOT NULL THEN now() END)
    RETURNING d.* INTO created;
    document_id := created.document_id;
    version := created.version;
    object_key := created.object_key;
    duplicate_of := existing.document_id;
    IF created.available_at IS NULL THEN
        SELECT u.url, u.headers, u.expires_at INTO upload_url, upload_headers, register_document.expires_at
          FROM documents.upload_url(created.document_id, expires_in) u;
    END IF;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION documents.register_document(bigint, text, text, text, text, bigint, text, text, integer, jsonb) IS
    'Register a document for upload: returns it, the duplicate it matches (if any) and a PUT URL bound to its checksum (NULL when linked to content already stored).';

CREATE FUNCTION documents.new_revision(of_document bigint, file_name text, mime_type text, size_bytes bigint,
                                       checksum_sha256 text, expires_in integer DEFAULT NULL)
    RETURNS TABLE (document_id bigint, version integer, object_key text, duplicate_of bigint, upload_url text,
                   upload_headers jsonb, expires_at timestamptz)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
-- The argument is not called document_id: PL/pgSQL refuses a parameter named like a result column.
DECLARE
    filetype integer;
    current documents.documents;
    changed documents.documents;
    existing_revision documents.document_revision;
BEGIN
    PERFORM documents.check_content(size_bytes, checksum_sha256);
    SELECT d.* INTO current FROM documents.documents d WHERE d.document_id = of_document FOR UPDATE;
    IF NOT FOUND OR NOT pulse.caller_holds('write', current.project_id) THEN
        RAISE EXCEPTION 'no document % or no right to change it', of_document USING ERRCODE = '42501';
    END IF;
    IF current.deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'document % is deleted', of_document
            USING ERRCODE = '55000', HINT = 'Restore it first.';
    END IF;
    filetype := documents.filetype_of(mime_type);
    -- Content some revision of this project already stored and confirmed needs no upload.
    SELECT r.* INTO existing_revision FROM documents.document_revision r
     WHERE r.storage_id = current.storage_id
       AND r.object_key = documents.object_key_for(current.storage_id, current.project_id, new_revision.checksum_sha256)
       AND r.available_at IS NOT NULL LIMIT 1;
    UPDATE documents.documents d
       SET version = d.version + 1, file_name = new_revision.file_name, filetype_id = filetype,
           size_bytes = new_revision.size_bytes, checksum_sha256 = new_revision.checksum_sha256,
           object_key = documents.object_key_for(d.storage_id, d.project_id, new_revision.checksum_sha256),
           available_at = CASE WHEN existing_revision.object_key IS NOT NULL THEN now() END,
           updated_by = pulse.current_user_id()
     WHERE d.project_id = current.project_id AND d.document_id = current.document_id
    RETURNING d.* INTO changed;
    document_id := changed.document_id;
    version := changed.version;
    object_key := changed.object_key;
    duplicate_of := existing_revision.document_id;
    IF changed.available_at IS NULL THEN
        SELECT u.url, u.headers, u.expires_at INTO upload_url, upload_headers, new_revision.expires_at
          FROM documents.upload_url(changed.document_id, expires_in) u;
    END IF;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION documents.new_revision(bigint, text, text, bigint, text, integer) IS
    'New content for a document: the next version, with a PUT URL bound to its checksum; earlier versions stay downloadable.';

CREATE FUNCTION documents.confirm_upload(document_id bigint, size_bytes bigint DEFAULT NULL,
                                         checksum_sha256 text DEFAULT NULL) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    current documents.documents;
BEGIN
    SELECT d.* INTO current FROM documents.documents d WHERE d.document_id = confirm_upload.document_id FOR UPDATE;
    IF NOT FOUND OR NOT pulse.caller_holds('write', current.project_id) THEN
        RAISE EXCEPTION 'no document % or no right to change it', confirm_upload.document_id USING ERRCODE = '42501';
    END IF;
    -- What the application's HEAD request returned, when it made one.
    IF size_bytes IS DISTINCT FROM current.size_bytes AND size_bytes IS NOT NULL THEN
        RAISE EXCEPTION 'the stored object of document % has % bytes, not the % registered', current.document_id,
                        size_bytes, current.size_bytes USING ERRCODE = '22023';
    END IF;
    IF checksum_sha256 IS DISTINCT FROM current.checksum_sha256 AND checksum_sha256 IS NOT NULL THEN
        RAISE EXCEPTION 'the stored object of document % has another SHA-256 than the one registered', current.document_id
            USING ERRCODE = '22023';
    END IF;
    IF current.available_at IS NOT NULL THEN
        RETURN current.available_at;
    END IF;
    UPDATE documents.documents d SET available_at = now(), updated_by = pulse.current_user_id()
     WHERE d.project_id = current.project_id AND d.document_id = current.document_id;
    RETURN now();
END
$$;
COMMENT ON FUNCTION documents.confirm_upload(bigint, bigint, text) IS
    'Mark the current version of a document available after its upload; size and checksum from a HEAD request are checked when given.';

CREATE FUNCTION documents.soft_delete_document(document_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE documents.documents d SET deleted_at = now(), deleted_by = pulse.current_user_id(),
                                     updated_by = pulse.current_user_id()
     WHERE d.document_id = soft_delete_document.document_id AND d.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no live document % or no right to change it', document_id USING ERRCODE = '42501';
    END IF;
END
$$;
COMMENT ON FUNCTION documents.soft_delete_document(bigint) IS
    'Soft-delete a document (needs delete_restore); its history records SOFT_DELETE.';

CREATE FUNCTION documents.restore_document(document_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM documents.documents d JOIN projects.projects p USING (project_id)
                WHERE d.document_id = restore_document.document_id AND p.deleted_at IS NOT NULL) THEN
        RAISE EXCEPTION 'the project of document % is deleted', document_id
            USING ERRCODE = '55000', HINT = 'Restore the project first.';
    END IF;
    UPDATE documents.documents d SET deleted_at = NULL, deleted_by = NULL, updated_by = pulse.current_user_id()
     WHERE d.document_id = restore_document.document_id AND d.deleted_at IS NOT NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no deleted document % or no right to change it', document_id USING ERRCODE = '42501';
    END IF;
END
$$;
COMMENT ON FUNCTION documents.restore_document(bigint) IS
    'Restore a soft-deleted document (needs delete_restore); its history records RESTORE.';

CREATE FUNCTION projects.soft_delete_project(project_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE projects.projects p SET deleted_at = now(), deleted_by = pulse.current_user_id(),
                                   updated_by = pulse.current_user_id()
     WHERE p.project_id = soft_delete_project.project_id AND p.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no live project % or no right to change it', project_id USING ERRCODE = '42501';
    END IF;
    -- Hide its live documents, marked so that the project's restore brings back exactly these.
    UPDATE documents.documents d SET deleted_at = now(), deleted_by = pulse.current_user_id(),
                                     updated_by = pulse.current_user_id(), deleted_with_project = true
     WHERE d.project_id = soft_delete_project.project_id AND d.deleted_at IS NULL;
END
$$;
COMMENT ON FUNCTION projects.soft_delete_project(bigint) IS
    'Soft-delete a project (needs delete_restore) and hide its live documents.';

CREATE FUNCTION projects.restore_project(project_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE projects.projects p SET deleted_at = NULL, deleted_by = NULL, updated_by = pulse.current_user_id()
     WHERE p.project_id = restore_project.project_id AND p.deleted_at IS NOT NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no deleted project % or no right to change it', project_id USING ERRCODE = '42501';
    END IF;
    UPDATE documents.documents d SET deleted_at = NULL, deleted_by = NULL, updated_by = pulse.current_user_id()
     WHERE d.project_id = restore_project.project_id AND d.deleted_with_project;
END
$$;
COMMENT ON FUNCTION projects.restore_project(bigint) IS
    'Restore a soft-deleted project (needs delete_restore) and exactly the documents its soft delete hid.';

-- Purge after retention: documents soft-deleted longer than their storage's retention
-- (or older_than) are deleted for good; history records DELETE, and their objects become
-- orphans for documents.reconcile() once no history refers to them.
CREATE FUNCTION documents.purge_deleted_documents(older_than interval DEFAULT NULL) RETURNS integer
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    purged integer;
BEGIN
    PERFORM pulse.require_system_admin('purge deleted documents');
    DELETE FROM documents.documents d USING pulse.storage_reference s
     WHERE s.storage_id = d.storage_id AND d.deleted_at IS NOT NULL
       AND d.deleted_at < now() - coalesce(older_than, s.retention_policy)
       AND NOT EXISTS (SELECT FROM audit.legal_hold h WHERE h.project_id = d.project_id AND h.released_at IS NULL);
    GET DIAGNOSTICS purged = ROW_COUNT;
    RETURN purged;
END
$$;
COMMENT ON FUNCTION documents.purge_deleted_documents(interval) IS
    'Delete for good the documents soft-deleted longer than older_than (default: their storage''s retention; none keeps them), except under legal hold; system administrators only.';

CREATE FUNCTION documents.find_duplicates(project_id bigint DEFAULT NULL)
    RETURNS TABLE (project_id bigint, storage text, checksum_sha256 text, document_ids bigint[])
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT d.project_id, s.code, d.checksum_sha256, array_agg(d.document_id ORDER BY d.document_id)
      FROM documents.documents d JOIN pulse.storage_reference s USING (storage_id)
     WHERE d.deleted_at IS NULL AND (find_duplicates.project_id IS NULL OR d.project_id = find_duplicates.project_id)
     GROUP BY d.project_id, s.code, d.checksum_sha256
    HAVING count(*) > 1
     ORDER BY 1, 2, 3;
END;
COMMENT ON FUNCTION documents.find_duplicates(bigint) IS
    'Groups of live documents the caller can see with the same content in the same project and storage.';

CREATE FUNCTION documents.reconcile(storage text, inventory jsonb)
    RETURNS TABLE (object_key text, problem text, document_id bigint, version integer, expected_size bigint,
                   found_size bigint, expected_sha256 text, found_sha256 text)
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target integer;
BEGIN
    IF NOT pulse.caller_is_auditor() THEN
        PERFORM pulse.require_system_admin('reconcile a storage (auditors may too)');
    END IF;
    SELECT s.storage_id INTO target FROM pulse.storage_reference s WHERE s.code = storage;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown storage "%"', storage USING ERRCODE = '42704';
    END IF;
    IF jsonb_typeof(inventory) IS DISTINCT FROM 'array' OR EXISTS (
        SELECT FROM jsonb_array_elements(inventory) e
         WHERE jsonb_typeof(e) <> 'object' OR jsonb_typeof(e -> 'key') IS DISTINCT FROM 'string'
            OR jsonb_typeof(e -> 'size') IS DISTINCT FROM 'number' OR (e -> 'size')::numeric < 0
            OR (e ? 'sha256' AND NOT (jsonb_typeof(e -> 'sha256') = 'string' AND pulse.is_sha256_hex(e ->> 'sha256')))) THEN
        RAISE EXCEPTION 'malformed inventory'
            USING ERRCODE = '22023',
                  HINT = 'Give a JSON array of {"key": text, "size": bytes, "sha256": optional lower-case hex}.';
    END IF;
    RETURN QUERY
    WITH listed AS (
        SELECT DISTINCT ON (e ->> 'key') e ->> 'key' AS key, (e ->> 'size')::bigint AS size, e ->> 'sha256' AS sha256
          FROM jsonb_array_elements(inventory) e
    ), wanted AS (
        -- One row per object the database expects: the confirmed revisions.
        SELECT DISTINCT ON (r.object_key) r.object_key AS key, r.document_id, r.version, r.size_bytes, r.checksum_sha256
          FROM documents.document_revision r
         WHERE r.storage_id = target AND r.available_at IS NOT NULL
         ORDER BY r.object_key, r.document_id, r.version
    ), remembered AS (
        -- Objects history still refers to are kept, never reported as orphans.
        SELECT DISTINCT h.snapshot ->> 'object_key' AS key
          FROM audit.document_history h
         WHERE (h.snapshot -> 'storage' ->> 'id')::integer = target
    )
    SELECT w.key, 'missing', w.document_id, w.version, w.size_bytes, NULL::bigint, w.checksum_sha256, NULL::text
      FROM wanted w WHERE NOT EXISTS (SELECT FROM listed l WHERE l.key = w.key)
    UNION ALL
    SELECT w.key, 'size differs', w.document_id, w.version, w.size_bytes, l.size, w.checksum_sha256, l.sha256
      FROM wanted w JOIN listed l USING (key) WHERE l.size <> w.size_bytes
    UNION ALL
    SELECT w.key, 'checksum differs', w.document_id, w.version, w.size_bytes, l.size, w.checksum_sha256, l.sha256
      FROM wanted w JOIN listed l USING (key) WHERE l.size = w.size_bytes AND l.sha256 <> w.checksum_sha256
    UNION ALL
    SELECT l.key, 'orphaned', NULL, NULL, NULL, l.size, NULL, l.sha256
      FROM listed l
     WHERE NOT EXISTS (SELECT FROM documents.document_revision r WHERE r.storage_id = target AND r.object_key = l.key)
       AND NOT EXISTS (SELECT FROM remembered m WHERE m.key = l.key)
     ORDER BY 1, 2;
END
$$;
COMMENT ON FUNCTION documents.reconcile(text, jsonb) IS
    'Compare a listing of a storage (keys, sizes, optional SHA-256) with the database: missing, orphaned, and size or checksum differences. System administrators and auditors.';

SELECT pg_catalog.pg_extension_config_dump('pulse.storage_credential', '');
SELECT pg_catalog.pg_extension_config_dump('documents.document_revision', '');
SELECT pg_catalog.pg_extension_config_dump('documents.url_grant', '');
SELECT pg_catalog.pg_extension_config_dump('documents.url_grant_grant_id_seq', '');

COMMENT ON FUNCTION pulse.sha256_hex(bytea) IS 'SHA-256 of the data as 64 lower-case hex digits; equal to encode(sha256(data), ''hex'').';
COMMENT ON FUNCTION pulse.sha256_bytes(bytea) IS 'SHA-256 of the data as 32 bytes; equal to sha256(data).';
COMMENT ON FUNCTION pulse.is_sha256_hex(text) IS 'Whether the text is a SHA-256 in stored form: 64 lower-case hex digits.';
COMMENT ON FUNCTION pulse.s3_presign(text, text, text, integer, timestamptz, text, text) IS
    'SigV4 presigned URL for an object of a storage, with that storage''s credentials; for administrators (granted to no one by default).';
COMMENT ON FUNCTION pulse.check_phase_transition() IS
    'Trigger: a phase moves one step forward in phase_reference order, back to an earlier phase, or to a terminal phase.';
COMMENT ON FUNCTION documents.upload_url(bigint, integer) IS
    'PUT URL for the current version of a document, bound to its checksum and content type (write permission); logged in documents.url_grant.';
COMMENT ON FUNCTION documents.download_url(bigint, integer, integer) IS
    'GET URL for a version of a document (read access; not for deleted documents or versions not yet uploaded); logged in documents.url_grant.';
