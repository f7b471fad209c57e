-- pulse 0.1.0 -> 0.2.0. Released with 0.2.0: never edit this file once released (a test
-- compares it with git at every later release tag); later changes go into a new script.
\echo Use "ALTER EXTENSION pulse UPDATE TO '0.2.0'" to load this file. \quit

-- 1. History is appended without SQL (decision log D45): the BEFORE INSERT trigger that
--    sealed history rows goes, and the append-only guard now refuses every SQL INSERT into
--    the history and chain tables too.
DROP TRIGGER seal ON audit.project_history;
DROP TRIGGER seal ON audit.document_history;
DROP FUNCTION audit.seal_history_row();
DO $upgrade$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit.project_history', 'audit.document_history', 'audit.project_chain',
                             'audit.document_chain'] LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER append_only ON %s', t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER append_only BEFORE INSERT OR UPDATE OR DELETE ON %s
                 FOR EACH ROW EXECUTE FUNCTION audit.refuse_history_change()', t);
    END LOOP;
END
$upgrade$;
COMMENT ON FUNCTION audit.refuse_history_change() IS
    'Trigger on the tables of history: INSERT, UPDATE, DELETE and TRUNCATE are refused (42501), but for a purge''s tombstone and the purge itself.';

-- 2. documents.register_document computes its defaults before the INSERT (no subquery in
--    INSERT ... VALUES, which Citus refuses: decision log D42).
CREATE OR REPLACE FUNCTION documents.register_document(project_id bigint, title text, file_name text, mime_type text,
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

-- 3. Scale-out on Citus (docs/scaling.md, decision log D40-D41).
CREATE FUNCTION pulse.citus_distribution_plan()
    RETURNS TABLE (step integer, kind text, table_name regclass, statement text, why text)
    LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE
    tables AS (
        SELECT c.oid,
               EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = c.oid AND a.attname = 'project_id' AND a.attnum > 0
                          AND NOT a.attisdropped) AS per_project
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'pulse'
          JOIN pg_catalog.pg_class c ON c.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.deptype = 'e' AND c.relkind IN ('r', 'p')
    ),
    -- Foreign keys between the extension's tables (a self-reference orders nothing).
    edges AS (
        SELECT DISTINCT k.conrelid AS child, k.confrelid AS parent
          FROM pg_catalog.pg_constraint k
          JOIN tables ch ON ch.oid = k.conrelid
          JOIN tables pa ON pa.oid = k.confrelid
         WHERE k.contype = 'f' AND k.conrelid <> k.confrelid
    ),
    -- Every path along foreign keys from each table; the longest is its depth, so a table
    -- always comes after everything it references. A cycle stops at its first repeat.
    paths (oid, parent, length, visited) AS (
        SELECT t.oid, t.oid, 0, ARRAY[t.oid] FROM tables t
        UNION ALL
        SELECT p.oid, e.parent, p.length + 1, p.visited || e.parent
          FROM paths p JOIN edges e ON e.child = p.parent
         WHERE e.parent <> ALL (p.visited)
    ),
    depths AS (
        SELECT oid, pg_catalog.max(length) AS depth FROM paths GROUP BY oid
    ),
    placed AS (
        SELECT t.oid, t.per_project, d.depth,
               t.oid = 'projects.projects'::pg_catalog.regclass AS anchor,
               (SELECT pg_catalog.string_agg(e.parent::pg_catalog.regclass::text, ', '
                                             ORDER BY e.parent::pg_catalog.regclass::text COLLATE "C")
                  FROM edges e WHERE e.child = t.oid) AS parents
          FROM tables t JOIN depths d ON d.oid = t.oid
    ),
    settings (position, statement, why) AS (
        VALUES
        (1, 'SET LOCAL citus.enable_local_reference_table_foreign_keys = off',
            'Citus must not turn the tables that reference a reference table into tables of its own choosing: pulse places every table itself, below.'),
        (2, 'SET LOCAL citus.enable_unsafe_triggers = on',
            'pulse''s triggers (history capture, rules, guards) stay on the distributed tables and fire on the node holding the shard; they write only to co-located tables.'),
        (3, 'SET LOCAL citus.multi_shard_modify_mode = ''sequential''',
            'Tables with foreign keys to reference tables are distributed in the same transaction as those reference tables: Citus needs one connection per node for that.')
    ),
    ordered AS (
        SELECT 0 AS part, s.position AS rank, 'setting' AS kind, NULL::pg_catalog.regclass AS table_name,
               s.statement, s.why
          FROM settings s
        UNION ALL
        SELECT 1, pg_catalog.row_number() OVER (ORDER BY p.depth, p.oid::pg_catalog.regclass::text COLLATE "C"),
               'reference', p.oid::pg_catalog.regclass,
               pg_catalog.format('SELECT pg_catalog.create_reference_table(%L)', p.oid::pg_catalog.regclass::text),
               'no project_id column: a reference table, copied to every node'
               || coalesce('; after the tables it references (' || p.parents || ')', '')
          FROM placed p WHERE NOT p.per_project
        UNION ALL
        SELECT 2, pg_catalog.row_number() OVER (ORDER BY NOT p.anchor, p.depth,
                                                         p.oid::pg_catalog.regclass::text COLLATE "C"),
               'distributed', p.oid::pg_catalog.regclass,
               pg_catalog.format('SELECT pg_catalog.create_distributed_table(%L, %L, colocate_with => %L)',
                                 p.oid::pg_catalog.regclass::text, 'project_id',
                                 CASE WHEN p.anchor THEN 'none' ELSE 'projects.projects' END),
               CASE WHEN p.anchor
                    THEN 'the project: distributed by project_id, it starts the co-location group every per-project table joins'
                    ELSE 'project_id column: distributed by project_id, co-located with projects.projects' END
               || coalesce('; after the tables it references (' || p.parents || ')', '')
          FROM placed p WHERE p.per_project
    )
    SELECT (pg_catalog.row_number() OVER (ORDER BY o.part, o.rank))::integer, o.kind, o.table_name, o.statement, o.why
      FROM ordered o
     ORDER BY o.part, o.rank;
$$;
COMMENT ON FUNCTION pulse.citus_distribution_plan() IS
    'The statements that distribute pulse on Citus, in the order they must run, generated from the catalog: settings, then every table without project_id as a reference table and every table with project_id distributed by project_id and co-located with projects.projects, each after the tables it references (docs/scaling.md).';

CREATE FUNCTION pulse.distribute() RETURNS integer
    LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    planned record;
    placed integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname = current_user
                      AND (r.rolsuper OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e
                                                   WHERE e.extname = 'pulse'))) THEN
        RAISE EXCEPTION 'pulse.distribute() must be run by a superuser or the owner of the extension pulse'
            USING ERRCODE = '42501';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'pulse.distribute() needs the Citus extension, which is not installed in this database'
            USING ERRCODE = '55000',
                  HINT = 'Install Citus and pulse on every node, run CREATE EXTENSION citus and then CREATE EXTENSION pulse on the coordinator, add the workers, and call pulse.distribute() there. pulse.citus_distribution_plan() shows what it would run.';
    END IF;
    -- One transaction: the caller's. A failing statement undoes every placement before it.
    FOR planned IN SELECT p.kind, p.statement FROM pulse.citus_distribution_plan() p ORDER BY p.step LOOP
        EXECUTE planned.statement;
        IF planned.kind <> 'setting' THEN
            placed := placed + 1;
        END IF;
    END LOOP;
    IF coalesce(pg_catalog.current_setting('citus.propagate_set_commands', true), '') <> 'local' THEN
        RAISE WARNING 'citus.propagate_set_commands is not ''local'': the identity pulse.authenticate() establishes does not reach the workers'
            USING HINT = 'Set citus.propagate_set_commands = ''local'' and citus.enable_unsafe_triggers = on on every node (docs/scaling.md).';
    END IF;
    RETURN placed;
END
$$;
COMMENT ON FUNCTION pulse.distribute() IS
    'Runs pulse.citus_distribution_plan() in the current transaction when Citus is installed and returns the number of tables placed; 55000 without Citus. Superusers and the extension owner only.';
REVOKE ALL ON FUNCTION pulse.citus_distribution_plan(), pulse.distribute() FROM PUBLIC;
