-- pulse install script: history capture, the hash chain and the append-only guard.
--
-- The trigger functions are Rust (src/history/): capture.rs describes each change,
-- append.rs writes each history row sealed into its entity's hash chain (without SQL), chain.rs
-- verifies the chains, guard.rs refuses edits.
-- Triggers fire in name order; history_capture on projects.projects must come before
-- owner_membership (access.sql), so that a project's creation is its version 1.

CREATE FUNCTION audit.capture_project() RETURNS trigger
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'capture_project_wrapper';
CREATE FUNCTION audit.capture_project_link() RETURNS trigger
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'capture_project_link_wrapper';
CREATE FUNCTION audit.flush_project_links() RETURNS trigger
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'flush_project_links_wrapper';
CREATE FUNCTION audit.capture_document() RETURNS trigger
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'capture_document_wrapper';
CREATE FUNCTION audit.refuse_history_change() RETURNS trigger
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'refuse_history_change_wrapper';
CREATE FUNCTION audit.refuse_truncate() RETURNS trigger
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'refuse_truncate_wrapper';

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
COMMENT ON FUNCTION audit.refuse_history_change() IS
    'Trigger on the tables of history: INSERT, UPDATE, DELETE and TRUNCATE are refused (42501), but for a purge''s tombstone and the purge itself.';
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

    -- Capture caches reference rows (labels); a change to one makes every backend read again.
    FOREACH t IN ARRAY pg_catalog.string_to_array(pulse.reference_table_list(), ', ') LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER forget_cached_copies AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s
                 FOR EACH STATEMENT EXECUTE FUNCTION pulse.forget_cached_copies()', t);
    END LOOP;

    -- Pulse appends history rows and moves chain heads without SQL (src/history/append.rs):
    -- every SQL INSERT, UPDATE or DELETE of these is someone else's, and refused.
    FOREACH t IN ARRAY ARRAY['audit.project_history', 'audit.document_history', 'audit.project_chain',
                             'audit.document_chain'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER append_only BEFORE INSERT OR UPDATE OR DELETE ON %s
                 FOR EACH ROW EXECUTE FUNCTION audit.refuse_history_change()', t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON %s
                 FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_history_change()', t);
    END LOOP;
END
$capture$;

-- Reading history. Security invoker: row-level security shows each caller the history of
-- the projects they may read.
-- A document's history is reached through its chain head, which names its project: the
-- history's primary key then finds the rows (on Citus, on one shard). An index of the history
-- by document would take an entry in a random page of a large index for every change
-- (decision log D57); this one takes an entry once per document, at its first record, as
-- heads move HOT. With project_id in its key it answers the lookup alone (an index-only scan
-- where the page is all-visible), in the order the readers take (lowest project first).
CREATE INDEX document_chain_document_idx ON audit.document_chain (document_id, project_id);

-- The as-of readers are PL/pgSQL so that their query is planned once per session, not on
-- every call as a SQL function with a SET clause is (decision log D57).
CREATE FUNCTION audit.project_as_of(project_id bigint, at timestamptz) RETURNS jsonb
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT CASE WHEN h.operation = 'DELETE' THEN NULL ELSE h.snapshot END
              FROM audit.project_history h
             WHERE h.project_id = project_as_of.project_id AND h.changed_at <= project_as_of.at
             ORDER BY h.version DESC
             LIMIT 1);
END
$$;
COMMENT ON FUNCTION audit.project_as_of(bigint, timestamptz) IS
    'The project (row and link sets) as it was at a time: the snapshot of its last version recorded by then; NULL if it did not exist or was deleted.';

CREATE FUNCTION audit.document_as_of(document_id bigint, at timestamptz) RETURNS jsonb
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT CASE WHEN h.operation = 'DELETE' THEN NULL ELSE h.snapshot END
              FROM audit.document_history h
             WHERE h.project_id = (SELECT c.project_id FROM audit.document_chain c
                                    WHERE c.document_id = document_as_of.document_id
                                    ORDER BY c.project_id LIMIT 1)
               AND h.document_id = document_as_of.document_id AND h.changed_at <= document_as_of.at
             ORDER BY h.version DESC
             LIMIT 1);
END
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

-- DDL audit: who changed pulse's schemas, when, and how (the seed's pg_event_trigger hook).
CREATE TABLE audit.ddl_log (
    project_id      bigint NOT NULL DEFAULT 0,
    event_id        bigint GENERATED ALWAYS AS IDENTITY,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    login_role      name NOT NULL DEFAULT session_user,
    acting_role     name NOT NULL DEFAULT current_user,
    pulse_user_id   integer,
    event           text NOT NULL,
    command_tag     text NOT NULL,
    object_type     text,
    object_identity text,
    PRIMARY KEY (project_id, event_id),
    CONSTRAINT ddl_log_event_check CHECK (event IN ('ddl_command_end', 'sql_drop')),
    CONSTRAINT ddl_log_project_zero CHECK (project_id = 0)
);
COMMENT ON TABLE audit.ddl_log IS
    'DDL that touched pulse''s schemas, recorded by an event trigger: who, when, which command, which object. Append-only.';
COMMENT ON COLUMN audit.ddl_log.project_id IS 'Always 0: DDL belongs to no project (the column keeps the table distributable like the others).';
COMMENT ON COLUMN audit.ddl_log.event_id IS 'Order of the events.';
COMMENT ON COLUMN audit.ddl_log.occurred_at IS 'Transaction timestamp of the command.';
COMMENT ON COLUMN audit.ddl_log.login_role IS 'The login role that ran it.';
COMMENT ON COLUMN audit.ddl_log.acting_role IS 'The role it ran as (after SET ROLE).';
COMMENT ON COLUMN audit.ddl_log.pulse_user_id IS 'The authenticated pulse user, if any.';
COMMENT ON COLUMN audit.ddl_log.event IS 'ddl_command_end or sql_drop.';
COMMENT ON COLUMN audit.ddl_log.command_tag IS 'The command, as in ALTER TABLE.';
COMMENT ON COLUMN audit.ddl_log.object_type IS 'The kind of object touched.';
COMMENT ON COLUMN audit.ddl_log.object_identity IS 'The object, schema-qualified.';
SELECT pg_catalog.pg_extension_config_dump('audit.ddl_log', '');
SELECT pg_catalog.pg_extension_config_dump('audit.ddl_log_event_id_seq', '');
ALTER TABLE audit.ddl_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON audit.ddl_log FOR SELECT
    USING ((SELECT pulse.current_user_is_system_admin()) OR (SELECT pulse.caller_is_auditor()));
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON audit.ddl_log
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_history_change();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON audit.ddl_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_history_change();

CREATE FUNCTION audit.record_ddl() RETURNS event_trigger
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    schemas constant text[] := ARRAY['pulse', 'users', 'projects', 'documents', 'audit'];
    -- Inside this definer function current_user is the owner; the setting "role" still
    -- holds what the session SET ROLE to.
    acting name := CASE pg_catalog.current_setting('role') WHEN 'none' THEN session_user
                        ELSE pg_catalog.current_setting('role') END;
    caller integer := pulse.current_user_id();
BEGIN
    IF TG_EVENT = 'ddl_command_end' THEN
        -- Commands of pulse's own install and upgrade scripts are the extension's, not changes to it.
        INSERT INTO audit.ddl_log (login_role, acting_role, pulse_user_id, event, command_tag, object_type, object_identity)
        SELECT session_user, acting, caller, TG_EVENT, c.command_tag, c.object_type, c.object_identity
          FROM pg_catalog.pg_event_trigger_ddl_commands() c
         WHERE NOT c.in_extension
           AND (c.schema_name = ANY (schemas)
                OR (c.object_type = 'schema' AND c.object_identity = ANY (schemas))
                OR (c.object_type = 'extension' AND c.object_identity = 'pulse'));
    ELSE
        INSERT INTO audit.ddl_log (login_role, acting_role, pulse_user_id, event, command_tag, object_type, object_identity)
        SELECT session_user, acting, caller, TG_EVENT, TG_TAG, d.object_type, d.object_identity
          FROM pg_catalog.pg_event_trigger_dropped_objects() d
         WHERE d.original
           AND (d.schema_name = ANY (schemas) OR (d.object_type = 'schema' AND d.object_name = ANY (schemas)));
    END IF;
END
$$;
COMMENT ON FUNCTION audit.record_ddl() IS
    'Event trigger function: records DDL on pulse''s schemas in audit.ddl_log.';
CREATE EVENT TRIGGER pulse_ddl_audit ON ddl_command_end EXECUTE FUNCTION audit.record_ddl();
CREATE EVENT TRIGGER pulse_ddl_drop_audit ON sql_drop EXECUTE FUNCTION audit.record_ddl();

-- pg_stat_statements, narrowed to statements on pulse's objects, when it is installed.
CREATE FUNCTION audit.statement_stats()
    RETURNS TABLE (queryid bigint, calls bigint, total_exec_ms double precision, mean_exec_ms double precision,
                   rows bigint, query text)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    view_schema name;
BEGIN
    SELECT n.nspname INTO view_schema FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_stat_statements';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pg_stat_statements is not installed in this database' USING ERRCODE = '55000',
            HINT = 'Add it to shared_preload_libraries and CREATE EXTENSION pg_stat_statements.';
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT s.queryid, s.calls, s.total_exec_time, s.mean_exec_time, s.rows, s.query
           FROM %I.pg_stat_statements s
          WHERE s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
            AND s.query ~ %L
          ORDER BY s.total_exec_time DESC', view_schema, '\m(pulse|users|projects|documents|audit)\.');
END
$$;
COMMENT ON FUNCTION audit.statement_stats() IS
    'pg_stat_statements rows of statements on pulse''s schemas, slowest first (55000 when pg_stat_statements is not installed). Query texts of other roles need pg_read_all_stats.';

-- Retention: history older than its reference data's retention_policy is purged, except
-- under a legal hold; each purge leaves a tombstone so that the chain still verifies.
CREATE TRIGGER append_only BEFORE INSERT OR UPDATE OR DELETE ON audit.history_tombstone
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_history_change();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON audit.history_tombstone
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_history_change();

CREATE FUNCTION audit.place_legal_hold(project_id bigint, reason text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    id bigint;
BEGIN
    PERFORM pulse.require_system_admin('place legal holds');
    IF place_legal_hold.project_id IS NULL OR place_legal_hold.reason IS NULL THEN
        RAISE EXCEPTION 'project_id and reason must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM audit.project_chain c WHERE c.project_id = place_legal_hold.project_id) THEN
        RAISE EXCEPTION 'project % has no history to hold', place_legal_hold.project_id USING ERRCODE = '22023';
    END IF;
    INSERT INTO audit.legal_hold (project_id, placed_by, reason)
    VALUES (place_legal_hold.project_id, pulse.current_user_id(), place_legal_hold.reason)
    ON CONFLICT (project_id) WHERE released_at IS NULL DO NOTHING
    RETURNING hold_id INTO id;
    IF id IS NULL THEN
        RAISE EXCEPTION 'project % is already on legal hold', place_legal_hold.project_id USING ERRCODE = '22023';
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION audit.place_legal_hold(bigint, text) IS
    'Stop every purge of a project''s history (and its documents'') until the hold is released; returns the hold id. System administrators only.';

CREATE FUNCTION audit.release_legal_hold(project_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pulse.require_system_admin('release legal holds');
    UPDATE audit.legal_hold h SET released_at = pg_catalog.now(), released_by = pulse.current_user_id()
     WHERE h.project_id = release_legal_hold.project_id AND h.released_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'project % is not on legal hold', project_id USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION audit.release_legal_hold(bigint) IS
    'Release the legal hold of a project. System administrators only.';

-- What retention allows to purge at a time: all but the last version of each chain whose
-- clock has run out. A project's clock starts when it entered its current phase and runs
-- for that phase's retention_policy; a document's starts at its (soft) deletion and runs
-- for its file type's. Held projects are skipped.
CREATE FUNCTION audit.purgeable_history(at timestamptz DEFAULT now())
    RETURNS TABLE (history_table text, project_id bigint, document_id bigint, up_to_version integer)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH project_clock AS (
        SELECT c.project_id, c.version AS last_version,
               (SELECT min(h.changed_at) FROM audit.project_history h
                 WHERE h.project_id = c.project_id AND h.version > COALESCE(
                       (SELECT max(p.version) FROM audit.project_history p
                         WHERE p.project_id = c.project_id AND p.phase_id IS DISTINCT FROM last.phase_id), 0)) AS entered_at,
               r.retention_policy
          FROM audit.project_chain c
          JOIN audit.project_history last ON last.project_id = c.project_id AND last.version = c.version
          JOIN pulse.phase_reference r ON r.phase_id = last.phase_id
         WHERE r.retention_policy IS NOT NULL
    ), document_clock AS (
        SELECT c.project_id, c.document_id, c.version AS last_version,
               (SELECT max(h.changed_at) FROM audit.document_history h
                 WHERE h.project_id = c.project_id AND h.document_id = c.document_id
                   AND h.operation IN ('SOFT_DELETE', 'DELETE')) AS deleted_at,
               last.operation, last.snapshot->>'deleted_at' AS still_deleted,
               r.retention_policy
          FROM audit.document_chain c
          JOIN audit.document_history last
            ON last.project_id = c.project_id AND last.document_id = c.document_id AND last.version = c.version
          JOIN pulse.filetype_reference r ON r.filetype_id = (last.snapshot->'filetype'->>'id')::integer
         WHERE r.retention_policy IS NOT NULL
    ), latest_tombstone AS (
        SELECT t.history_table, t.entity_id, max(t.up_to_version) AS up_to_version
          FROM audit.history_tombstone t GROUP BY 1, 2
    )
    SELECT 'audit.project_history', p.project_id, NULL::bigint, p.last_version - 1
      FROM project_clock p
     WHERE p.entered_at + p.retention_policy < at AND p.last_version > 1
       AND NOT EXISTS (SELECT 1 FROM audit.legal_hold l WHERE l.project_id = p.project_id AND l.released_at IS NULL)
       AND p.last_version - 1 > COALESCE((SELECT t.up_to_version FROM latest_tombstone t
                                          WHERE t.history_table = 'audit.project_history' AND t.entity_id = p.project_id), 0)
    UNION ALL
    SELECT 'audit.document_history', d.project_id, d.document_id, d.last_version - 1
      FROM document_clock d
     WHERE (d.operation = 'DELETE' OR d.still_deleted IS NOT NULL)
       AND d.deleted_at + d.retention_policy < at AND d.last_version > 1
       AND NOT EXISTS (SELECT 1 FROM audit.legal_hold l WHERE l.project_id = d.project_id AND l.released_at IS NULL)
       AND d.last_version - 1 > COALESCE((SELECT t.up_to_version FROM latest_tombstone t
                                          WHERE t.history_table = 'audit.document_history' AND t.entity_id = d.document_id), 0)
     ORDER BY 1, 2, 3;
$$;
COMMENT ON FUNCTION audit.purgeable_history(timestamptz) IS
    'The history chains whose retention has run out at a time (all but their last version), legal holds respected: what audit.purge_history() would remove.';

CREATE FUNCTION audit.purge_history(reason text)
    RETURNS TABLE (history_table text, project_id bigint, document_id bigint, up_to_version integer, removed_rows integer)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
BEGIN
    PERFORM pulse.require_system_admin('purge history');
    IF reason IS NULL OR pg_catalog.length(reason) NOT BETWEEN 1 AND 2000 THEN
        RAISE EXCEPTION 'a reason of 1 to 2000 characters is required' USING ERRCODE = '22023';
    END IF;
    FOR p IN SELECT * FROM audit.purgeable_history(pg_catalog.now()) LOOP
        history_table := p.history_table;
        project_id := p.project_id;
        document_id := p.document_id;
        up_to_version := p.up_to_version;
        removed_rows := audit.purge_chain_prefix(p.history_table, p.project_id, p.document_id, p.up_to_version, reason);
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION audit.purge_history(text) IS
    'Remove the history that retention allows to remove (see audit.purgeable_history), leaving a tombstone per chain; returns what was removed. System administrators only.';
COMMENT ON FUNCTION audit.purge_chain_prefix(text, bigint, bigint, integer, text) IS
    'Internal: remove versions 1..up_to_version of one chain under its lock and record the tombstone. Called only by audit.purge_history().';
