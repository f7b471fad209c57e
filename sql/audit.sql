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
-- A head is rewritten by every change of its entity: pages keep half their room free, so that
-- every head on a page can be rewritten beside its old version in one transaction (a bulk
-- UPDATE of neighbouring documents), each a HOT update that adds no index entry (D51, D56).
CREATE TABLE audit.project_chain (
    project_id  bigint PRIMARY KEY,
    version     integer NOT NULL,
    row_hash    bytea NOT NULL,
    CONSTRAINT project_chain_version_positive CHECK (version >= 1),
    CONSTRAINT project_chain_row_hash_sha256 CHECK (octet_length(row_hash) = 32)
) WITH (fillfactor = 50);
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
) WITH (fillfactor = 50);
COMMENT ON TABLE audit.document_chain IS 'Head of each document''s history hash chain: the last version and its row hash.';
COMMENT ON COLUMN audit.document_chain.project_id IS 'The project of the document.';
COMMENT ON COLUMN audit.document_chain.document_id IS 'The document.';
COMMENT ON COLUMN audit.document_chain.version IS 'Version of the document''s last history row.';
COMMENT ON COLUMN audit.document_chain.row_hash IS 'row_hash of that row.';

SELECT pg_catalog.pg_extension_config_dump('audit.project_history', '');
SELECT pg_catalog.pg_extension_config_dump('audit.document_history', '');
SELECT pg_catalog.pg_extension_config_dump('audit.project_chain', '');
SELECT pg_catalog.pg_extension_config_dump('audit.document_chain', '');

-- Legal holds and purge tombstones (retention, see history.sql).
CREATE TABLE audit.legal_hold (
    project_id   bigint NOT NULL,
    hold_id      bigint GENERATED ALWAYS AS IDENTITY,
    placed_at    timestamptz NOT NULL DEFAULT now(),
    placed_by    integer,
    reason       text NOT NULL,
    released_at  timestamptz,
    released_by  integer,
    PRIMARY KEY (project_id, hold_id),
    CONSTRAINT legal_hold_reason_length CHECK (length(reason) BETWEEN 1 AND 2000),
    CONSTRAINT legal_hold_released_after_placed CHECK (released_at >= placed_at)
);
CREATE UNIQUE INDEX legal_hold_active_idx ON audit.legal_hold (project_id) WHERE released_at IS NULL;
COMMENT ON TABLE audit.legal_hold IS
    'Legal holds: while a project has one that is not released, no history of it or its documents is purged.';
COMMENT ON COLUMN audit.legal_hold.project_id IS 'The project held.';
COMMENT ON COLUMN audit.legal_hold.hold_id IS 'Identity of the hold.';
COMMENT ON COLUMN audit.legal_hold.placed_at IS 'When the hold was placed.';
COMMENT ON COLUMN audit.legal_hold.placed_by IS 'Who placed it (NULL: maintenance path).';
COMMENT ON COLUMN audit.legal_hold.reason IS 'Why (case, request, regulation).';
COMMENT ON COLUMN audit.legal_hold.released_at IS 'When it was released; NULL while it holds.';
COMMENT ON COLUMN audit.legal_hold.released_by IS 'Who released it.';
SELECT pg_catalog.pg_extension_config_dump('audit.legal_hold', '');
SELECT pg_catalog.pg_extension_config_dump('audit.legal_hold_hold_id_seq', '');

CREATE TABLE audit.history_tombstone (
    project_id     bigint NOT NULL,
    history_table  text NOT NULL,
    entity_id      bigint NOT NULL,
    up_to_version  integer NOT NULL,
    removed_rows   integer NOT NULL,
    removed_hash   bytea NOT NULL,
    purged_at      timestamptz NOT NULL DEFAULT now(),
    purged_by      integer,
    purged_by_role name NOT NULL DEFAULT session_user,
    reason         text NOT NULL,
    PRIMARY KEY (project_id, history_table, entity_id, up_to_version),
    CONSTRAINT history_tombstone_table_check CHECK (history_table IN ('audit.project_history', 'audit.document_history')),
    CONSTRAINT history_tombstone_version_positive CHECK (up_to_version >= 1),
    CONSTRAINT history_tombstone_removed_positive CHECK (removed_rows >= 1),
    CONSTRAINT history_tombstone_removed_hash_sha256 CHECK (octet_length(removed_hash) = 32),
    CONSTRAINT history_tombstone_reason_length CHECK (length(reason) BETWEEN 1 AND 2000)
);
COMMENT ON TABLE audit.history_tombstone IS
    'What each purge removed from a history chain: up to which version, how many rows, the row_hash the chain continues from, who, when and why.';
COMMENT ON COLUMN audit.history_tombstone.project_id IS 'The project (of the document, for document history).';
COMMENT ON COLUMN audit.history_tombstone.history_table IS 'audit.project_history or audit.document_history.';
COMMENT ON COLUMN audit.history_tombstone.entity_id IS 'The project id or the document id.';
COMMENT ON COLUMN audit.history_tombstone.up_to_version IS 'Versions up to and including this one were removed.';
COMMENT ON COLUMN audit.history_tombstone.removed_rows IS 'How many rows were removed.';
COMMENT ON COLUMN audit.history_tombstone.removed_hash IS 'row_hash of version up_to_version: the next version''s prev_hash.';
COMMENT ON COLUMN audit.history_tombstone.purged_at IS 'When.';
COMMENT ON COLUMN audit.history_tombstone.purged_by IS 'The pulse user who purged (NULL: maintenance path).';
COMMENT ON COLUMN audit.history_tombstone.purged_by_role IS 'The login role that purged.';
COMMENT ON COLUMN audit.history_tombstone.reason IS 'Why.';
SELECT pg_catalog.pg_extension_config_dump('audit.history_tombstone', '');
