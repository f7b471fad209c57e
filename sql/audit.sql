-- pulse install script: history tables (seed Step 5).
--
-- History rows are written only by pulse's audit triggers and are append-only. They hold
-- no foreign keys on purpose: history must outlive the rows it describes (a purged project,
-- a hard-deleted user, a retired reference value) and must not slow the audited write with
-- foreign-key checks. Reference values are stored both as ids (typed columns) and, resolved
-- to codes and labels, inside the snapshot.

CREATE TABLE audit.project_history (
    project_id       bigint NOT NULL,
    version          integer NOT NULL,
    operation        text NOT NULL,
    project_version  integer,
    owner_id         integer,
    priority_id      integer,
    phase_id         integer,
    snapshot         jsonb NOT NULL,
    changed_columns  text[] NOT NULL DEFAULT '{}',
    change_summary   text NOT NULL,
    reason           text,
    changed_by       integer,
    session_id       uuid,
    changed_at       timestamptz NOT NULL DEFAULT now(),
    transaction_id   xid8 NOT NULL DEFAULT pg_current_xact_id(),
    prev_hash        bytea,
    row_hash         bytea NOT NULL,
    PRIMARY KEY (project_id, version),
    CONSTRAINT project_history_version_positive CHECK (version >= 1),
    CONSTRAINT project_history_operation_check
        CHECK (operation IN ('INSERT', 'UPDATE', 'SOFT_DELETE', 'RESTORE', 'DELETE', 'ROLLBACK')),
    CONSTRAINT project_history_project_version_positive CHECK (project_version >= 1),
    CONSTRAINT project_history_snapshot_object CHECK (jsonb_typeof(snapshot) = 'object'),
    CONSTRAINT project_history_changed_columns_no_nulls CHECK (array_position(changed_columns, NULL) IS NULL),
    CONSTRAINT project_history_reason_length CHECK (length(reason) BETWEEN 1 AND 2000),
    CONSTRAINT project_history_row_hash_sha256 CHECK (octet_length(row_hash) = 32),
    CONSTRAINT project_history_prev_hash_sha256 CHECK (octet_length(prev_hash) = 32),
    CONSTRAINT project_history_first_has_no_predecessor CHECK (version > 1 OR prev_hash IS NULL)
);
CREATE INDEX project_history_changed_by_idx ON audit.project_history (changed_by, changed_at) WHERE changed_by IS NOT NULL;
COMMENT ON TABLE audit.project_history IS
    'Append-only history of projects: one row per change of a project or its links, with a full snapshot and a per-project SHA-256 hash chain.';
COMMENT ON COLUMN audit.project_history.project_id IS 'The project the change belongs to.';
COMMENT ON COLUMN audit.project_history.version IS 'History version, gapless per project, starting at 1.';
COMMENT ON COLUMN audit.project_history.operation IS 'INSERT, UPDATE, SOFT_DELETE, RESTORE, DELETE or ROLLBACK.';
COMMENT ON COLUMN audit.project_history.project_version IS 'projects.projects.version after the change (NULL once the row is deleted).';
COMMENT ON COLUMN audit.project_history.owner_id IS 'Owner after the change (ownership over time).';
COMMENT ON COLUMN audit.project_history.priority_id IS 'Priority after the change.';
COMMENT ON COLUMN audit.project_history.phase_id IS 'Phase after the change.';
COMMENT ON COLUMN audit.project_history.snapshot IS 'The whole project after the change, including its feature, tech-stack, tag and member sets, with reference codes and labels.';
COMMENT ON COLUMN audit.project_history.changed_columns IS 'Fields that changed (link sets by name).';
COMMENT ON COLUMN audit.project_history.change_summary IS 'The change in words a person reads, generated from the diff.';
COMMENT ON COLUMN audit.project_history.reason IS 'Reason the caller gave for the transaction, if any.';
COMMENT ON COLUMN audit.project_history.changed_by IS 'User who made the change, from the authenticated session; NULL for maintenance changes.';
COMMENT ON COLUMN audit.project_history.session_id IS 'Session the change was made in; NULL for maintenance changes.';
COMMENT ON COLUMN audit.project_history.changed_at IS 'Transaction timestamp of the change.';
COMMENT ON COLUMN audit.project_history.transaction_id IS 'Transaction that made the change.';
COMMENT ON COLUMN audit.project_history.prev_hash IS 'row_hash of the previous version of the same project; NULL for version 1.';
COMMENT ON COLUMN audit.project_history.row_hash IS 'SHA-256 over prev_hash and the canonical encoding of this row.';

CREATE TABLE audit.document_history (
    project_id        bigint NOT NULL,
    document_id       bigint NOT NULL,
    version           integer NOT NULL,
    operation         text NOT NULL,
    document_version  integer,
    uploaded_by       integer,
    priority_id       integer,
    phase_id          integer,
    checksum_sha256   text,
    snapshot          jsonb NOT NULL,
    changed_columns   text[] NOT NULL DEFAULT '{}',
    change_summary    text NOT NULL,
    reason            text,
    changed_by        integer,
    session_id        uuid,
    changed_at        timestamptz NOT NULL DEFAULT now(),
    transaction_id    xid8 NOT NULL DEFAULT pg_current_xact_id(),
    prev_hash         bytea,
    row_hash          bytea NOT NULL,
    PRIMARY KEY (project_id, document_id, version),
    CONSTRAINT document_history_version_positive CHECK (version >= 1),
    CONSTRAINT document_history_operation_check
        CHECK (operation IN ('INSERT', 'UPDATE', 'SOFT_DELETE', 'RESTORE', 'DELETE', 'ROLLBACK')),
    CONSTRAINT document_history_document_version_positive CHECK (document_version >= 1),
    CONSTRAINT document_history_checksum_sha256_hex CHECK (checksum_sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT document_history_snapshot_object CHECK (jsonb_typeof(snapshot) = 'object'),
    CONSTRAINT document_history_changed_columns_no_nulls CHECK (array_position(changed_columns, NULL) IS NULL),
    CONSTRAINT document_history_reason_length CHECK (length(reason) BETWEEN 1 AND 2000),
    CONSTRAINT document_history_row_hash_sha256 CHECK (octet_length(row_hash) = 32),
    CONSTRAINT document_history_prev_hash_sha256 CHECK (octet_length(prev_hash) = 32),
    CONSTRAINT document_history_first_has_no_predecessor CHECK (version > 1 OR prev_hash IS NULL)
);
CREATE INDEX document_history_changed_by_idx ON audit.document_history (changed_by, changed_at) WHERE changed_by IS NOT NULL;
COMMENT ON TABLE audit.document_history IS
    'Append-only history of documents: one row per change, with a full snapshot and a per-document SHA-256 hash chain.';
COMMENT ON COLUMN audit.document_history.project_id IS 'The project of the document.';
COMMENT ON COLUMN audit.document_history.document_id IS 'The document the change belongs to.';
COMMENT ON COLUMN audit.document_history.version IS 'History version, gapless per document, starting at 1.';
COMMENT ON COLUMN audit.document_history.operation IS 'INSERT, UPDATE, SOFT_DELETE, RESTORE, DELETE or ROLLBACK.';
COMMENT ON COLUMN audit.document_history.document_version IS 'documents.documents.version (content revision) after the change.';
COMMENT ON COLUMN audit.document_history.uploaded_by IS 'Owner (uploader) after the change.';
COMMENT ON COLUMN audit.document_history.priority_id IS 'Priority after the change.';
COMMENT ON COLUMN audit.document_history.phase_id IS 'Phase after the change.';
COMMENT ON COLUMN audit.document_history.checksum_sha256 IS 'Content checksum after the change; keeps every revision''s object reachable.';
COMMENT ON COLUMN audit.document_history.snapshot IS 'The whole document row after the change, with reference codes and labels.';
COMMENT ON COLUMN audit.document_history.changed_columns IS 'Fields that changed.';
COMMENT ON COLUMN audit.document_history.change_summary IS 'The change in words a person reads, generated from the diff.';
COMMENT ON COLUMN audit.document_history.reason IS 'Reason the caller gave for the transaction, if any.';
COMMENT ON COLUMN audit.document_history.changed_by IS 'User who made the change, from the authenticated session; NULL for maintenance changes.';
COMMENT ON COLUMN audit.document_history.session_id IS 'Session the change was made in; NULL for maintenance changes.';
COMMENT ON COLUMN audit.document_history.changed_at IS 'Transaction timestamp of the change.';
COMMENT ON COLUMN audit.document_history.transaction_id IS 'Transaction that made the change.';
COMMENT ON COLUMN audit.document_history.prev_hash IS 'row_hash of the previous version of the same document; NULL for version 1.';
COMMENT ON COLUMN audit.document_history.row_hash IS 'SHA-256 over prev_hash and the canonical encoding of this row.';

-- Where each entity's chain ends: its last version and that row's hash (src/history/chain.rs).
-- The head serializes nothing by itself (an entity lock does); it anchors the chain's end,
-- so that removing the last history row is found like any other edit.
CREATE TABLE audit.project_chain (
    project_id  bigint PRIMARY KEY,
    version     integer NOT NULL,
    row_hash    bytea NOT NULL,
    CONSTRAINT project_chain_version_positive CHECK (version >= 1),
    CONSTRAINT project_chain_row_hash_sha256 CHECK (octet_length(row_hash) = 32)
);
COMMENT ON TABLE audit.project_chain IS 'Head of each project''s history hash chain: the last version and its row hash.';
COMMENT ON COLUMN audit.project_chain.project_id IS 'The project.';
COMMENT ON COLUMN audit.project_chain.version IS 'Version of the project''s last history row.';
COMMENT ON COLUMN audit.project_chain.row_hash IS 'row_hash of that row.';

CREATE TABLE audit.document_chain (
    project_id   bigint NOT NULL,
    document_id  bigint NOT NULL,
    version      integer NOT NULL,
    row_hash     bytea NOT NULL,
    PRIMARY KEY (project_id, document_id),
    CONSTRAINT document_chain_version_positive CHECK (version >= 1),
    CONSTRAINT document_chain_row_hash_sha256 CHECK (octet_length(row_hash) = 32)
);
COMMENT ON TABLE audit.document_chain IS 'Head of each document''s history hash chain: the last version and its row hash.';
COMMENT ON COLUMN audit.document_chain.project_id IS 'The project of the document.';
COMMENT ON COLUMN audit.document_chain.document_id IS 'The document.';
COMMENT ON COLUMN audit.document_chain.version IS 'Version of the document''s last history row.';
COMMENT ON COLUMN audit.document_chain.row_hash IS 'row_hash of that row.';

SELECT pg_catalog.pg_extension_config_dump('audit.project_history', '');
SELECT pg_catalog.pg_extension_config_dump('audit.document_history', '');
SELECT pg_catalog.pg_extension_config_dump('audit.project_chain', '');
SELECT pg_catalog.pg_extension_config_dump('audit.document_chain', '');
