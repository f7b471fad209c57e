-- pulse install script: scale-out on Citus (docs/scaling.md).
--
-- pulse's keys are ready for distribution by project_id (decision log D5). This part turns
-- that into statements: pulse.citus_distribution_plan() reads the extension's tables and
-- foreign keys from the catalog and returns, in order, what makes them Citus tables;
-- pulse.distribute() runs the plan when Citus is installed and refuses clearly when not.
--
-- Placement, derived from the catalog, never from a list:
--   * a table of the extension without a project_id column (reference data, users,
--     sessions, keys, credentials, policies) becomes a reference table, copied to every
--     node; referenced tables come before the tables that reference them;
--   * a table with a project_id column is distributed by project_id; projects.projects
--     starts the co-location group and every other one joins it, in foreign-key order, so
--     that a project's rows, documents and history live in one shard group.

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
