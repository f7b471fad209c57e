-- pulse install script: history capture, the hash chain and the append-only guard.
--
-- The trigger functions are Rust (src/history/): capture.rs describes each change,
-- chain.rs seals each history row into its entity's hash chain, guard.rs refuses edits.
-- Triggers fire in name order; history_capture on projects.projects must come before
-- owner_membership (access.sql), so that a project's creation is its version 1.

COMMENT ON FUNCTION pulse.set_change_reason(text) IS
    'Give the reason for this transaction''s changes; every history row of the transaction records it.';
COMMENT ON FUNCTION audit.capture_project() IS
    'AFTER ROW trigger on projects.projects: records the change with a full snapshot, its diff and summary.';
COMMENT ON FUNCTION audit.capture_project_link() IS
    'AFTER ROW trigger on the project link tables: collects added and removed elements until the statement ends.';
COMMENT ON FUNCTION audit.flush_project_links() IS
    'AFTER STATEMENT trigger on the project link tables: records one project version per project the statement touched.';
COMMENT ON FUNCTION audit.capture_document() IS
    'AFTER ROW trigger on documents.documents: records the change with a full snapshot, its diff and summary.';
COMMENT ON FUNCTION audit.seal_history_row() IS
    'BEFORE INSERT trigger on the history tables: assigns the next version, chains prev_hash and computes row_hash.';
COMMENT ON FUNCTION audit.refuse_history_change() IS
    'Trigger on history and chain tables: UPDATE, DELETE and TRUNCATE are refused (42501).';
COMMENT ON FUNCTION audit.refuse_truncate() IS
    'BEFORE TRUNCATE trigger on audited tables: refused (42501), so that every removal is recorded.';
COMMENT ON FUNCTION audit.verify() IS
    'One row per broken link of the history hash chains (table, entity, version, what is wrong); no rows when history is intact.';

-- Noise and secrets: columns a DBA keeps out of history, or records only as a salted hash.
CREATE TABLE audit.column_policy (
    table_name   text NOT NULL,
    column_name  name NOT NULL,
    treatment    text NOT NULL,
    set_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, column_name),
    CONSTRAINT column_policy_table_check CHECK (table_name IN ('projects.projects', 'documents.documents')),
    CONSTRAINT column_policy_treatment_check CHECK (treatment IN ('exclude', 'redact'))
);
COMMENT ON TABLE audit.column_policy IS
    'Columns of audited tables kept out of history snapshots (exclude) or recorded as a salted SHA-256 (redact). Change with audit.set_column_policy().';
COMMENT ON COLUMN audit.column_policy.table_name IS 'projects.projects or documents.documents.';
COMMENT ON COLUMN audit.column_policy.column_name IS 'The column.';
COMMENT ON COLUMN audit.column_policy.treatment IS 'exclude: not in snapshots, changes to it alone are not recorded; redact: recorded as redacted:<sha256 hex>.';
COMMENT ON COLUMN audit.column_policy.set_at IS 'When the policy was set.';
SELECT pg_catalog.pg_extension_config_dump('audit.column_policy', '');
ALTER TABLE audit.column_policy ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON audit.column_policy FOR SELECT
    USING ((SELECT pulse.current_user_id()) IS NOT NULL OR (SELECT pulse.caller_is_auditor()));
CREATE TRIGGER forget_cached_copies AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit.column_policy
    FOR EACH STATEMENT EXECUTE FUNCTION pulse.forget_cached_copies();

-- The salt of redacted values: one row, readable only by the owner, not dumped (a restored
-- database salts anew, as it keys anew: decision log D20).
CREATE TABLE pulse.redaction_salt (
    singleton   boolean PRIMARY KEY DEFAULT true,
    salt        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT redaction_salt_singleton CHECK (singleton),
    CONSTRAINT redaction_salt_length CHECK (octet_length(salt) = 32)
);
COMMENT ON TABLE pulse.redaction_salt IS 'Salt of the hashes that stand for redacted history columns. Readable only by the extension owner; never dumped.';
COMMENT ON COLUMN pulse.redaction_salt.singleton IS 'Always true: the table holds exactly one salt.';
COMMENT ON COLUMN pulse.redaction_salt.salt IS '32 bytes from the server''s strong random source.';
COMMENT ON COLUMN pulse.redaction_salt.created_at IS 'When the salt was generated.';
INSERT INTO pulse.redaction_salt (salt) VALUES (pulse.strong_random_key());
CREATE TRIGGER forget_cached_copies AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pulse.redaction_salt
    FOR EACH STATEMENT EXECUTE FUNCTION pulse.forget_cached_copies();

CREATE FUNCTION audit.set_column_policy(table_name regclass, column_name name, treatment text) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    qualified text := table_name::text;
BEGIN
    PERFORM pulse.require_system_admin('set history column policies');
    IF table_name IS NULL OR column_name IS NULL THEN
        RAISE EXCEPTION 'table_name and column_name must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF qualified NOT IN ('projects.projects', 'documents.documents') THEN
        RAISE EXCEPTION '% is not an audited table with columns of its own', qualified
            USING ERRCODE = '22023', HINT = 'Column policies apply to projects.projects and documents.documents.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = set_column_policy.table_name
                      AND a.attname = set_column_policy.column_name AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'column "%" of % does not exist', column_name, qualified USING ERRCODE = '42703';
    END IF;
    IF column_name IN ('project_id', 'document_id', 'deleted_at', 'deleted_by') THEN
        RAISE EXCEPTION 'column "%" identifies the row or its deletion and is always recorded', column_name
            USING ERRCODE = '22023';
    END IF;
    IF treatment NOT IN ('exclude', 'redact') THEN
        RAISE EXCEPTION 'treatment must be exclude, redact or NULL' USING ERRCODE = '22023';
    END IF;
    IF treatment IS NULL THEN
        DELETE FROM audit.column_policy p WHERE p.table_name = qualified AND p.column_name = set_column_policy.column_name;
    ELSE
        INSERT INTO audit.column_policy AS p (table_name, column_name, treatment)
        VALUES (qualified, set_column_policy.column_name, set_column_policy.treatment)
        ON CONFLICT ON CONSTRAINT column_policy_pkey
        DO UPDATE SET treatment = EXCLUDED.treatment, set_at = pg_catalog.now();
    END IF;
END
$$;
COMMENT ON FUNCTION audit.set_column_policy(regclass, name, text) IS
    'Keep a column of projects.projects or documents.documents out of history (''exclude''), record it as a salted hash (''redact''), or record it in full again (NULL). System administrators only.';

CREATE TRIGGER history_capture AFTER INSERT OR UPDATE OR DELETE ON projects.projects
    FOR EACH ROW EXECUTE FUNCTION audit.capture_project();
CREATE TRIGGER history_capture AFTER INSERT OR UPDATE OR DELETE ON documents.documents
    FOR EACH ROW EXECUTE FUNCTION audit.capture_document();

DO $capture$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['projects.project_feature', 'projects.project_tech_stack', 'projects.project_tag',
                             'projects.project_member', 'projects.project_decision_log'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER history_capture AFTER INSERT OR UPDATE OR DELETE ON %s
                 FOR EACH ROW EXECUTE FUNCTION audit.capture_project_link()', t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER history_flush AFTER INSERT OR UPDATE OR DELETE ON %s
                 FOR EACH STATEMENT EXECUTE FUNCTION audit.flush_project_links()', t);
    END LOOP;

    FOREACH t IN ARRAY ARRAY['projects.projects', 'projects.project_feature', 'projects.project_tech_stack',
                             'projects.project_tag', 'projects.project_member', 'projects.project_decision_log',
                             'documents.documents'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON %s
                 FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_truncate()', t);
    END LOOP;

    FOREACH t IN ARRAY ARRAY['audit.project_history', 'audit.document_history'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER seal BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION audit.seal_history_row()', t);
    END LOOP;

    FOREACH t IN ARRAY ARRAY['audit.project_history', 'audit.document_history', 'audit.project_chain',
                             'audit.document_chain'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON %s
                 FOR EACH ROW EXECUTE FUNCTION audit.refuse_history_change()', t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON %s
                 FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_history_change()', t);
    END LOOP;
END
$capture$;

-- Reading history. Security invoker: row-level security shows each caller the history of
-- the projects they may read.
CREATE INDEX document_history_document_idx ON audit.document_history (document_id, version);

CREATE FUNCTION audit.project_as_of(project_id bigint, at timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN h.operation = 'DELETE' THEN NULL ELSE h.snapshot END
      FROM audit.project_history h
     WHERE h.project_id = project_as_of.project_id AND h.changed_at <= project_as_of.at
     ORDER BY h.version DESC
     LIMIT 1;
$$;
COMMENT ON FUNCTION audit.project_as_of(bigint, timestamptz) IS
    'The project (row and link sets) as it was at a time: the snapshot of its last version recorded by then; NULL if it did not exist or was deleted.';

CREATE FUNCTION audit.document_as_of(document_id bigint, at timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN h.operation = 'DELETE' THEN NULL ELSE h.snapshot END
      FROM audit.document_history h
     WHERE h.document_id = document_as_of.document_id AND h.changed_at <= document_as_of.at
     ORDER BY h.version DESC
     LIMIT 1;
$$;
COMMENT ON FUNCTION audit.document_as_of(bigint, timestamptz) IS
    'The document as it was at a time: the snapshot of its last version recorded by then; NULL if it did not exist or was deleted.';

COMMENT ON FUNCTION audit.project_diff(bigint, integer, integer) IS
    'What changed between two versions of a project: one row per field (old, new), one per added or removed set element, references by label.';
COMMENT ON FUNCTION audit.document_diff(bigint, integer, integer) IS
    'What changed between two versions of a document: one row per field (old, new), references by label.';
COMMENT ON FUNCTION audit.rollback_project(bigint, integer, integer) IS
    'Restore a project and its feature, tech-stack, tag and member sets to an earlier version, if it is still at expected_current_version (40001 otherwise); recorded as a ROLLBACK version, whose number is returned.';
COMMENT ON FUNCTION audit.rollback_document(bigint, integer, integer) IS
    'Restore a document to an earlier version, if it is still at expected_current_version (40001 otherwise); recorded as a ROLLBACK version, whose number is returned.';
