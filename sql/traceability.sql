-- pulse install script: traceability. The catalog describes pulse to the people who run it.
--
-- Everything here is read from the system catalogs when it is asked for, never copied:
-- the ER diagram, the inventories of tables, columns, constraints and indexes, what is
-- missing (catalog_problems), which database roles may do what (role_privileges,
-- role_flags), project memberships as the caller may see them (project_access), and
-- pg_stat_statements when it is there (audit.statement_statistics).
--
-- Names are compared and sorted with COLLATE "C", so that the output is the same on every
-- cluster whatever its default collation (docs/er-diagram.dot is compared byte for byte).
-- The catalog views are ordinary (owner's rights) views over catalogs every role can read;
-- project_access is the one that reads pulse's data, and it runs with the caller's rights.

-- ---------------------------------------------------------------------------------------
-- The ER diagram.

CREATE FUNCTION pulse.er_diagram(format text DEFAULT 'mermaid') RETURNS text
    LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    font constant text := 'Liberation Sans';
    diagram text;
BEGIN
    IF er_diagram.format IS NULL OR er_diagram.format NOT IN ('mermaid', 'dot') THEN
        RAISE EXCEPTION 'unknown diagram format %', coalesce(pg_catalog.quote_literal(er_diagram.format), 'NULL')
            USING ERRCODE = '22023', HINT = 'Use ''mermaid'' (the default) or ''dot'' (Graphviz).';
    END IF;

    WITH tables AS (
        SELECT c.oid, n.nspname AS schema_name, c.relname AS table_name,
               n.nspname || '.' || c.relname AS label
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit') AND c.relkind IN ('r', 'p')
    ),
    -- Key columns: those of the primary key and of foreign keys, in column order.
    key_columns AS (
        SELECT t.oid, a.attnum, a.attname::text AS column_name,
               pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
               pg_catalog.bool_or(k.contype = 'p') AS pk, pg_catalog.bool_or(k.contype = 'f') AS fk
          FROM tables t
          JOIN pg_catalog.pg_constraint k ON k.conrelid = t.oid AND k.contype IN ('p', 'f')
          JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (k.conkey)
         GROUP BY t.oid, a.attnum, a.attname, a.atttypid, a.atttypmod
    ),
    foreign_keys AS (
        SELECT k.conname::text AS constraint_name, ch.label AS child, pa.label AS parent,
               ch.schema_name AS child_schema, ch.table_name AS child_table,
               -- The referencing side is "one" when a unique index covers the key's columns.
               EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                        WHERE i.indrelid = k.conrelid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
                          AND (i.indkey::int2[])[0:i.indnkeyatts - 1] <@ k.conkey) AS child_unique,
               -- The referenced row is optional when a key column may be NULL.
               NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                            WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey) AND NOT a.attnotnull) AS mandatory,
               -- Identifying: the key is part of the referencing table's primary key.
               EXISTS (SELECT 1 FROM pg_catalog.pg_constraint p
                        WHERE p.conrelid = k.conrelid AND p.contype = 'p' AND k.conkey <@ p.conkey) AS identifying,
               (SELECT a.attname::text FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = k.conrelid AND a.attnum = k.conkey[1]) AS child_port,
               (SELECT a.attname::text FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = k.confrelid AND a.attnum = k.confkey[1]) AS parent_port
          FROM pg_catalog.pg_constraint k
          JOIN tables ch ON ch.oid = k.conrelid
          JOIN tables pa ON pa.oid = k.confrelid
         WHERE k.contype = 'f'
    ),
    mermaid AS (
        SELECT 'erDiagram' || E'\n'
               || coalesce((
                   -- An entity with its key columns (Mermaid types are one word); a table
                   -- without any is named alone.
                   SELECT pg_catalog.string_agg(
                              CASE WHEN k.attributes IS NULL THEN pg_catalog.format(E'    "%s"\n', t.label)
                                   ELSE pg_catalog.format(E'    "%s" {\n%s    }\n', t.label, k.attributes) END,
                              '' ORDER BY t.schema_name COLLATE "C", t.table_name COLLATE "C")
                     FROM tables t
                     CROSS JOIN LATERAL (
                         SELECT pg_catalog.string_agg(
                                    pg_catalog.format(E'        %s %s %s\n', pg_catalog.translate(kc.data_type, ' ,', '__'),
                                                      kc.column_name,
                                                      pg_catalog.concat_ws(', ', CASE WHEN kc.pk THEN 'PK' END,
                                                                           CASE WHEN kc.fk THEN 'FK' END)),
                                    '' ORDER BY kc.attnum)
                           FROM key_columns kc WHERE kc.oid = t.oid) AS k (attributes)), '')
               || coalesce((
                   SELECT pg_catalog.string_agg(
                              pg_catalog.format(E'    "%s" %s%s%s "%s" : "%s"\n', f.child,
                                                CASE WHEN f.child_unique THEN '|o' ELSE '}o' END,
                                                CASE WHEN f.identifying THEN '--' ELSE '..' END,
                                                CASE WHEN f.mandatory THEN '||' ELSE 'o|' END,
                                                f.parent, f.constraint_name),
                              '' ORDER BY f.child_schema COLLATE "C", f.child_table COLLATE "C",
                                          f.constraint_name COLLATE "C")
                     FROM foreign_keys f), '') AS diagram
    ),
    dot AS (
        SELECT pg_catalog.format(E'digraph pulse {\n'
                                 '    graph [rankdir=LR, fontname="%1$s", fontsize=11, nodesep=0.25, ranksep=1.1,\n'
                                 '           label="pulse: tables, key columns and foreign keys (pulse.er_diagram(''dot''))", labelloc=t];\n'
                                 '    node [shape=plain, fontname="%1$s", fontsize=10];\n'
                                 '    edge [fontname="%1$s", fontsize=9, dir=both, color="#4a5a6a"];\n', font)
               || coalesce((
                   SELECT pg_catalog.string_agg(
                              pg_catalog.format(E'    subgraph "cluster_%1$s" {\n'
                                                '        label="%1$s"; style=rounded; color="#9aa8b6";\n%2$s    }\n',
                                                s.schema_name, s.nodes),
                              '' ORDER BY s.schema_name COLLATE "C")
                     FROM (SELECT t.schema_name,
                                  pg_catalog.string_agg(
                                      pg_catalog.format(
                                          E'        "%1$s" [id="%1$s", label=<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
                                          '<TR><TD COLSPAN="3" BGCOLOR="#dde6f0"><B>%1$s</B></TD></TR>%2$s</TABLE>>];\n',
                                          t.label,
                                          coalesce((SELECT pg_catalog.string_agg(
                                                               pg_catalog.format('<TR><TD PORT="%1$s" ALIGN="LEFT">%1$s</TD>'
                                                                                 '<TD ALIGN="LEFT">%2$s</TD><TD PORT="key-%1$s">%3$s</TD></TR>',
                                                                                 kc.column_name,
                                                                                 pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
                                                                                     kc.data_type, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                                                                                 pg_catalog.concat_ws(' ', CASE WHEN kc.pk THEN 'PK' END,
                                                                                                      CASE WHEN kc.fk THEN 'FK' END)),
                                                               '' ORDER BY kc.attnum)
                                                      FROM key_columns kc WHERE kc.oid = t.oid), '')),
                                      '' ORDER BY t.table_name COLLATE "C") AS nodes
                             FROM tables t GROUP BY t.schema_name) s), '')
               || coalesce((
                   SELECT pg_catalog.string_agg(
                              pg_catalog.format(E'    "%s":"key-%s":e -> "%s":"%s":w [id="%s.%s", arrowtail=%s, arrowhead=%s%s];\n',
                                                f.child, f.child_port, f.parent, f.parent_port, f.child, f.constraint_name,
                                                CASE WHEN f.child_unique THEN 'teeodot' ELSE 'crowodot' END,
                                                CASE WHEN f.mandatory THEN 'teetee' ELSE 'teeodot' END,
                                                CASE WHEN f.identifying THEN '' ELSE ', style=dashed' END),
                              '' ORDER BY f.child_schema COLLATE "C", f.child_table COLLATE "C",
                                          f.constraint_name COLLATE "C")
                     FROM foreign_keys f), '')
               || E'}\n' AS diagram
    )
    SELECT CASE er_diagram.format WHEN 'mermaid' THEN (SELECT m.diagram FROM mermaid m)
                                  ELSE (SELECT d.diagram FROM dot d) END
      INTO diagram;
    RETURN diagram;
END
$$;
COMMENT ON FUNCTION pulse.er_diagram(text) IS
    'The entity-relationship diagram of pulse''s tables (schemas pulse, users, projects, documents, audit), built from the catalog: tables with their primary-key and foreign-key columns and types, and every foreign key with its cardinality (}o many or |o one referencing row; || a required or o| an optional referenced row; -- identifying, .. not). format: ''mermaid'' (erDiagram, the default) or ''dot'' (Graphviz); anything else is 22023. The output is deterministic; docs/er-diagram.dot is its dot form.';

-- ---------------------------------------------------------------------------------------
-- Inventories.

CREATE VIEW pulse.table_inventory AS
SELECT n.nspname AS schema_name,
       c.relname AS table_name,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS row_estimate,
       pg_catalog.pg_total_relation_size(c.oid) AS total_bytes,
       c.relrowsecurity AS rls_enabled,
       c.relforcerowsecurity AS rls_forced,
       pg_catalog.obj_description(c.oid, 'pg_class') AS comment
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')
   AND c.relkind IN ('r', 'p');
COMMENT ON VIEW pulse.table_inventory IS
    'Every table of pulse''s schemas: estimated rows, size, row-level security and comment, from the catalog.';
COMMENT ON COLUMN pulse.table_inventory.schema_name IS 'Schema of the table.';
COMMENT ON COLUMN pulse.table_inventory.table_name IS 'Name of the table.';
COMMENT ON COLUMN pulse.table_inventory.row_estimate IS
    'Rows as estimated by the last VACUUM or ANALYZE (pg_class.reltuples); NULL when the table has never been analyzed.';
COMMENT ON COLUMN pulse.table_inventory.total_bytes IS 'Size on disk in bytes, indexes and TOAST included (pg_total_relation_size).';
COMMENT ON COLUMN pulse.table_inventory.rls_enabled IS 'Whether row-level security is enabled (ENABLE ROW LEVEL SECURITY).';
COMMENT ON COLUMN pulse.table_inventory.rls_forced IS 'Whether row-level security applies to the table''s owner too (FORCE ROW LEVEL SECURITY).';
COMMENT ON COLUMN pulse.table_inventory.comment IS 'The table''s COMMENT.';

CREATE VIEW pulse.column_inventory AS
SELECT n.nspname AS schema_name,
       c.relname AS table_name,
       a.attname AS column_name,
       a.attnum::integer AS ordinal,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       a.attnotnull AS not_null,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS column_default,
       CASE a.attidentity WHEN 'a' THEN 'ALWAYS' WHEN 'd' THEN 'BY DEFAULT' END AS identity,
       pg_catalog.col_description(c.oid, a.attnum) AS comment
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND a.attnum > 0 AND NOT a.attisdropped;
COMMENT ON VIEW pulse.column_inventory IS
    'Every column of the tables and views of pulse''s schemas: position, type, nullability, default and comment, from the catalog.';
COMMENT ON COLUMN pulse.column_inventory.schema_name IS 'Schema of the table or view.';
COMMENT ON COLUMN pulse.column_inventory.table_name IS 'Name of the table or view.';
COMMENT ON COLUMN pulse.column_inventory.column_name IS 'Name of the column.';
COMMENT ON COLUMN pulse.column_inventory.ordinal IS 'Position of the column in its table (pg_attribute.attnum; gaps where columns were dropped).';
COMMENT ON COLUMN pulse.column_inventory.data_type IS 'Type with its modifier, as format_type() spells it.';
COMMENT ON COLUMN pulse.column_inventory.not_null IS 'Whether the column is NOT NULL.';
COMMENT ON COLUMN pulse.column_inventory.column_default IS 'The default expression (for a generated column, its generation expression); NULL if none.';
COMMENT ON COLUMN pulse.column_inventory.identity IS 'ALWAYS or BY DEFAULT for an identity column, else NULL.';
COMMENT ON COLUMN pulse.column_inventory.comment IS 'The column''s COMMENT.';

CREATE VIEW pulse.constraint_inventory AS
SELECT n.nspname AS schema_name,
       c.relname AS table_name,
       k.conname AS constraint_name,
       CASE k.contype WHEN 'p' THEN 'PRIMARY KEY' WHEN 'u' THEN 'UNIQUE' WHEN 'f' THEN 'FOREIGN KEY'
                      WHEN 'c' THEN 'CHECK' WHEN 'x' THEN 'EXCLUDE' WHEN 't' THEN 'CONSTRAINT TRIGGER' END AS constraint_type,
       pg_catalog.pg_get_constraintdef(k.oid) AS definition
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit');
COMMENT ON VIEW pulse.constraint_inventory IS
    'Every constraint of the tables of pulse''s schemas with its definition, from the catalog (NOT NULL is in pulse.column_inventory).';
COMMENT ON COLUMN pulse.constraint_inventory.schema_name IS 'Schema of the table.';
COMMENT ON COLUMN pulse.constraint_inventory.table_name IS 'Table the constraint belongs to.';
COMMENT ON COLUMN pulse.constraint_inventory.constraint_name IS 'Name of the constraint.';
COMMENT ON COLUMN pulse.constraint_inventory.constraint_type IS 'PRIMARY KEY, UNIQUE, FOREIGN KEY, CHECK, EXCLUDE or CONSTRAINT TRIGGER.';
COMMENT ON COLUMN pulse.constraint_inventory.definition IS
    'The constraint as pg_get_constraintdef() prints it (names qualified as the caller''s search_path requires).';

CREATE VIEW pulse.index_inventory AS
SELECT n.nspname AS schema_name,
       c.relname AS table_name,
       ic.relname AS index_name,
       pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
       i.indisunique AS is_unique,
       i.indisprimary AS is_primary
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit');
COMMENT ON VIEW pulse.index_inventory IS 'Every index of the tables of pulse''s schemas with its definition, from the catalog.';
COMMENT ON COLUMN pulse.index_inventory.schema_name IS 'Schema of the table.';
COMMENT ON COLUMN pulse.index_inventory.table_name IS 'Table the index belongs to.';
COMMENT ON COLUMN pulse.index_inventory.index_name IS 'Name of the index.';
COMMENT ON COLUMN pulse.index_inventory.definition IS 'The CREATE INDEX statement, as pg_get_indexdef() prints it.';
COMMENT ON COLUMN pulse.index_inventory.is_unique IS 'Whether the index is unique.';
COMMENT ON COLUMN pulse.index_inventory.is_primary IS 'Whether the index is the table''s primary key.';

-- What a DBA would want to know is missing. Empty on a fresh install: the test suite
-- guards it, so a new table, column, view or function without a COMMENT, or a new foreign
-- key without an index to check it with, fails the build.
CREATE VIEW pulse.catalog_problems AS
-- A foreign key is supported by an index whose leading columns are the key's columns, in
-- any order; partial indexes count (decision log D9: a check's `col = $1` implies
-- `col IS NOT NULL`).
SELECT 'unindexed_foreign_key'::text AS kind,
       pg_catalog.format('%I on %I.%I', k.conname, n.nspname, c.relname) AS object,
       pg_catalog.format('no valid index of %I.%I starts with the columns of %s', n.nspname, c.relname,
                         pg_catalog.pg_get_constraintdef(k.oid)) AS detail
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit') AND k.contype = 'f'
   AND NOT EXISTS (
       SELECT 1 FROM pg_catalog.pg_index i
        WHERE i.indrelid = k.conrelid AND i.indisvalid
          AND pg_catalog.cardinality(i.indkey::int2[]) >= pg_catalog.cardinality(k.conkey)
          AND (i.indkey::int2[])[0:pg_catalog.cardinality(k.conkey) - 1] @> k.conkey)
UNION ALL
SELECT 'uncommented_schema', pg_catalog.quote_ident(n.nspname),
       pg_catalog.format('COMMENT ON SCHEMA %I is missing', n.nspname)
  FROM pg_catalog.pg_namespace n
 WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')
   AND pg_catalog.obj_description(n.oid, 'pg_namespace') IS NULL
UNION ALL
SELECT CASE WHEN c.relkind IN ('v', 'm') THEN 'uncommented_view' ELSE 'uncommented_table' END,
       pg_catalog.format('%I.%I', n.nspname, c.relname),
       pg_catalog.format('COMMENT ON %s %I.%I is missing',
                         CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                        WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, n.nspname, c.relname)
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND pg_catalog.obj_description(c.oid, 'pg_class') IS NULL
UNION ALL
SELECT 'uncommented_column', pg_catalog.format('%I.%I.%I', n.nspname, c.relname, a.attname),
       pg_catalog.format('COMMENT ON COLUMN %I.%I.%I is missing', n.nspname, c.relname, a.attname)
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
   AND pg_catalog.col_description(c.oid, a.attnum) IS NULL
UNION ALL
SELECT 'uncommented_function',
       pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, args.types),
       pg_catalog.format('COMMENT ON %s %I.%I(%s) is missing', CASE p.prokind WHEN 'p' THEN 'PROCEDURE'
                                                                             WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
                         n.nspname, p.proname, args.types)
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  CROSS JOIN LATERAL (SELECT coalesce(pg_catalog.string_agg(pg_catalog.format_type(a.type, NULL), ',' ORDER BY a.position), '')
                        FROM pg_catalog.unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a (type, position)) AS args (types)
 WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')
   AND pg_catalog.obj_description(p.oid, 'pg_proc') IS NULL;
COMMENT ON VIEW pulse.catalog_problems IS
    'What the catalog of pulse''s schemas lacks: foreign keys without a supporting index, and schemas, tables, views, columns and functions without a COMMENT. Empty on a fresh install.';
COMMENT ON COLUMN pulse.catalog_problems.kind IS
    'unindexed_foreign_key, uncommented_schema, uncommented_table, uncommented_view, uncommented_column or uncommented_function.';
COMMENT ON COLUMN pulse.catalog_problems.object IS
    'The object: constraint on schema.table, schema, schema.table, schema.table.column or schema.function(argument types, listed as regprocedure lists them).';
COMMENT ON COLUMN pulse.catalog_problems.detail IS 'What is missing, in words.';

-- ---------------------------------------------------------------------------------------
-- Access audit.

-- Which database roles may do what on pulse's objects, as PostgreSQL decides it: the ACLs
-- of schemas, tables, views, sequences, columns and functions (a NULL ACL is the owner's
-- default rights, acldefault()), the owner's own rights (OWNER: alter, drop, grant), and
-- inheritance. A role uses the privileges of the roles it is a member of, directly or
-- through other roles, as long as every role on the way has INHERIT (PostgreSQL 15 rules).
-- Superusers pass every check without any of this: see pulse.role_flags.
CREATE VIEW pulse.role_privileges AS
WITH RECURSIVE uses (role_oid, via_oid) AS (
    SELECT r.oid, r.oid FROM pg_catalog.pg_roles r
    UNION
    SELECT u.role_oid, m.roleid
      FROM uses u
      JOIN pg_catalog.pg_roles v ON v.oid = u.via_oid AND v.rolinherit
      JOIN pg_catalog.pg_auth_members m ON m.member = u.via_oid
),
objects (object_type, schema_name, object_name, owner, acl) AS (
    SELECT 'schema'::text, n.nspname, pg_catalog.quote_ident(n.nspname)::text, n.nspowner,
           coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')
    UNION ALL
    SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                          WHEN 'f' THEN 'foreign table' ELSE 'table' END,
           n.nspname, pg_catalog.format('%I.%I', n.nspname, c.relname), c.relowner,
           coalesce(c.relacl, pg_catalog.acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')
       AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
    UNION ALL
    -- Column privileges are only what was granted on the column itself; a table privilege
    -- covers every column and is listed once, for the table.
    SELECT 'column', n.nspname, pg_catalog.format('%I.%I.%I', n.nspname, c.relname, a.attname), c.relowner, a.attacl
      FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')
       AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped AND a.attacl IS NOT NULL
    UNION ALL
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
           n.nspname,
           pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, args.types),
           p.proowner, coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))
      FROM pg_catalog.pg_proc p
      JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
      CROSS JOIN LATERAL (SELECT coalesce(pg_catalog.string_agg(pg_catalog.format_type(a.type, NULL), ',' ORDER BY a.position), '')
                            FROM pg_catalog.unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a (type, position)) AS args (types)
     WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')
),
grants (object_type, schema_name, object_name, grantee, privilege, is_grantable) AS (
    -- The owner may always grant what it holds, whatever its ACL entry says.
    SELECT o.object_type, o.schema_name, o.object_name, a.grantee, a.privilege_type, a.is_grantable OR a.grantee = o.owner
      FROM objects o, pg_catalog.aclexplode(o.acl) a
    UNION ALL
    SELECT o.object_type, o.schema_name, o.object_name, o.owner, 'OWNER', true
      FROM objects o
     WHERE o.object_type <> 'column'
)
SELECT r.rolname AS role_name, v.rolname AS via_role, g.object_type, g.schema_name, g.object_name,
       g.privilege, g.is_grantable
  FROM grants g
  JOIN uses u ON u.via_oid = g.grantee
  JOIN pg_catalog.pg_roles r ON r.oid = u.role_oid
  JOIN pg_catalog.pg_roles v ON v.oid = u.via_oid
UNION ALL
SELECT 'PUBLIC', 'PUBLIC', g.object_type, g.schema_name, g.object_name, g.privilege, g.is_grantable
  FROM grants g
 WHERE g.grantee = 0;
COMMENT ON VIEW pulse.role_privileges IS
    'Which database roles may do what on the objects of pulse''s schemas: privileges from ACLs (with the owner''s default rights when none were granted) and ownership, for the role holding them and every role that inherits them. PUBLIC rows apply to every role; superusers pass every check regardless (pulse.role_flags).';
COMMENT ON COLUMN pulse.role_privileges.role_name IS 'The role that may use the privilege (PUBLIC: every role).';
COMMENT ON COLUMN pulse.role_privileges.via_role IS
    'The role that holds the grant or owns the object: role_name itself when direct, else a role role_name is a member of and inherits from.';
COMMENT ON COLUMN pulse.role_privileges.object_type IS 'schema, table, view, materialized view, foreign table, sequence, column, function or procedure.';
COMMENT ON COLUMN pulse.role_privileges.schema_name IS 'Schema of the object (for a schema, the schema itself).';
COMMENT ON COLUMN pulse.role_privileges.object_name IS 'Qualified name: schema, schema.table, schema.table.column or schema.function(argument types, listed as regprocedure lists them).';
COMMENT ON COLUMN pulse.role_privileges.privilege IS
    'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, USAGE, CREATE, EXECUTE, or OWNER (alter, drop and grant every privilege).';
COMMENT ON COLUMN pulse.role_privileges.is_grantable IS 'Whether the holder may grant the privilege to others (always for OWNER).';

-- Roles whose reach goes beyond their grants, each with the reason.
CREATE VIEW pulse.role_flags AS
WITH RECURSIVE uses (role_oid, via_oid) AS (
    -- Privileges are inherited only through INHERIT roles (as in pulse.role_privileges).
    SELECT r.oid, r.oid FROM pg_catalog.pg_roles r
    UNION
    SELECT u.role_oid, m.roleid
      FROM uses u
      JOIN pg_catalog.pg_roles v ON v.oid = u.via_oid AND v.rolinherit
      JOIN pg_catalog.pg_auth_members m ON m.member = u.via_oid
),
member_of (role_oid, via_oid) AS (
    -- Membership alone, whatever INHERIT says: what pulse.caller_is_auditor() tests.
    SELECT r.oid, r.oid FROM pg_catalog.pg_roles r
    UNION
    SELECT mo.role_oid, m.roleid
      FROM member_of mo
      JOIN pg_catalog.pg_auth_members m ON m.member = mo.via_oid
),
owned (owner, objects, rls_tables) AS (
    SELECT o.owner, pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE o.rls_unforced)
      FROM (SELECT n.nspowner AS owner, false AS rls_unforced
              FROM pg_catalog.pg_namespace n
             WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')
            UNION ALL
            SELECT c.relowner, c.relrowsecurity AND NOT c.relforcerowsecurity
              FROM pg_catalog.pg_class c
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')
               AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
            UNION ALL
            SELECT p.proowner, false
              FROM pg_catalog.pg_proc p
              JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')) o
     GROUP BY o.owner
)
SELECT r.rolname AS role_name, r.rolname AS via_role, 'superuser'::text AS flag, true AS bypasses_rls,
       'SUPERUSER: passes every privilege check and bypasses row-level security on every table'::text AS reason
  FROM pg_catalog.pg_roles r
 WHERE r.rolsuper
UNION ALL
SELECT r.rolname, r.rolname, 'bypassrls', true,
       'BYPASSRLS: row-level security never applies to it; what its grants let it read or write, it reads or writes in full'
  FROM pg_catalog.pg_roles r
 WHERE r.rolbypassrls
UNION ALL
SELECT r.rolname, v.rolname, 'owner', o.rls_tables > 0,
       pg_catalog.format('%s %s of pulse''s objects: may alter, drop and grant them, and row-level security does not apply to it on the %s tables that enable but do not force it',
                         CASE WHEN u.role_oid = u.via_oid THEN 'owns' ELSE 'inherits the rights of ' ||
                              pg_catalog.quote_ident(v.rolname) || ', who owns' END,
                         o.objects, o.rls_tables)
  FROM owned o
  JOIN uses u ON u.via_oid = o.owner
  JOIN pg_catalog.pg_roles r ON r.oid = u.role_oid
  JOIN pg_catalog.pg_roles v ON v.oid = u.via_oid
UNION ALL
SELECT r.rolname, v.rolname, CASE v.rolname WHEN 'pg_read_all_data' THEN 'reads_all_data' ELSE 'writes_all_data' END, false,
       pg_catalog.format('member of %s: %s every table and uses every schema without a grant (row-level security still applies)',
                         v.rolname, CASE v.rolname WHEN 'pg_read_all_data' THEN 'reads' ELSE 'writes' END)
  FROM uses u
  JOIN pg_catalog.pg_roles r ON r.oid = u.role_oid
  JOIN pg_catalog.pg_roles v ON v.oid = u.via_oid
 WHERE v.rolname IN ('pg_read_all_data', 'pg_write_all_data') AND u.role_oid <> u.via_oid
UNION ALL
SELECT r.rolname, v.rolname, 'auditor', false,
       pg_catalog.format('%s in pulse.auditor_role: the policies let it read every row of pulse''s tables without a session',
                         CASE WHEN mo.role_oid = mo.via_oid THEN 'registered' ELSE 'member of ' ||
                              pg_catalog.quote_ident(v.rolname) || ', registered' END)
  FROM pulse.auditor_role a
  JOIN pg_catalog.pg_roles v ON v.rolname = a.role_name
  JOIN member_of mo ON mo.via_oid = v.oid
  JOIN pg_catalog.pg_roles r ON r.oid = mo.role_oid;
COMMENT ON VIEW pulse.role_flags IS
    'Database roles whose reach goes beyond their grants, with the reason: superusers and BYPASSRLS roles (row-level security never applies), owners of pulse''s objects and the roles inheriting their rights, members of pg_read_all_data / pg_write_all_data, and registered auditors.';
COMMENT ON COLUMN pulse.role_flags.role_name IS 'The role.';
COMMENT ON COLUMN pulse.role_flags.via_role IS 'The role the flag comes from: role_name itself, or a role it is a member of.';
COMMENT ON COLUMN pulse.role_flags.flag IS 'superuser, bypassrls, owner, reads_all_data, writes_all_data or auditor.';
COMMENT ON COLUMN pulse.role_flags.bypasses_rls IS 'Whether row-level security fails to apply to the role on at least one of pulse''s tables.';
COMMENT ON COLUMN pulse.role_flags.reason IS 'Why the role is flagged, in words.';

-- Project memberships as the caller may see them: the application reads this view, so it
-- runs with the caller's rights and the policies of every table it reads apply.
CREATE VIEW pulse.project_access WITH (security_invoker = true) AS
SELECT m.project_id,
       p.name AS project_name,
       m.user_id,
       u.email,
       u.display_name,
       r.code AS access_role,
       r.label AS access_role_label,
       r.rank,
       r.can_read,
       r.can_write,
       r.can_manage_members,
       r.can_delete_restore,
       r.can_administer,
       m.added_at
  FROM projects.project_member m
  JOIN projects.projects p ON p.project_id = m.project_id
  JOIN users.users u ON u.user_id = m.user_id
  JOIN pulse.access_role_reference r ON r.access_role_id = m.access_role_id;
COMMENT ON VIEW pulse.project_access IS
    'Project memberships with each member''s access role and its permissions. Runs with the caller''s rights (security_invoker): row-level security shows only the projects the caller may read.';
COMMENT ON COLUMN pulse.project_access.project_id IS 'The project.';
COMMENT ON COLUMN pulse.project_access.project_name IS 'Name of the project.';
COMMENT ON COLUMN pulse.project_access.user_id IS 'The member.';
COMMENT ON COLUMN pulse.project_access.email IS 'The member''s e-mail address.';
COMMENT ON COLUMN pulse.project_access.display_name IS 'The member''s display name.';
COMMENT ON COLUMN pulse.project_access.access_role IS 'Code of the member''s access role (pulse.access_role_reference).';
COMMENT ON COLUMN pulse.project_access.access_role_label IS 'Label of the access role.';
COMMENT ON COLUMN pulse.project_access.rank IS 'Rank of the access role; a higher rank holds every permission of a lower one.';
COMMENT ON COLUMN pulse.project_access.can_read IS 'The role may read the project, its links, decisions, documents and history.';
COMMENT ON COLUMN pulse.project_access.can_write IS 'The role may change the project, its links and decisions, and register and revise documents.';
COMMENT ON COLUMN pulse.project_access.can_manage_members IS 'The role may add and remove members and change roles up to its own rank.';
COMMENT ON COLUMN pulse.project_access.can_delete_restore IS 'The role may soft-delete and restore the project and its documents.';
COMMENT ON COLUMN pulse.project_access.can_administer IS 'The role may do everything, rollback and ownership transfer included.';
COMMENT ON COLUMN pulse.project_access.added_at IS 'When the member was added.';

-- ---------------------------------------------------------------------------------------
-- Statement statistics without an error when pg_stat_statements is absent.
--
-- audit.statement_stats() raises 55000 without pg_stat_statements, which is right for a
-- caller who asked for statistics; a view is read by tools that list every view, and must
-- not fail. A view cannot raise a notice either, so the view returns no rows and
-- audit.statement_stats_available() says why. The condition is a constant of the query, so
-- PostgreSQL checks it once, before the function would run (a "One-Time Filter").

CREATE FUNCTION audit.statement_stats_available() RETURNS boolean
    LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Installed in this database, and its library loaded at server start: only then does it
    -- define its settings (placeholders for unknown settings never show in pg_settings).
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_stat_statements')
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_settings s WHERE s.name = 'pg_stat_statements.max');
$$;
COMMENT ON FUNCTION audit.statement_stats_available() IS
    'Whether pg_stat_statements is installed in this database and loaded (shared_preload_libraries): when false, audit.statement_statistics is empty and audit.statement_stats() raises 55000.';

CREATE VIEW audit.statement_statistics AS
SELECT s.queryid, s.calls, s.total_exec_ms, s.mean_exec_ms, s.rows, s.query
  FROM audit.statement_stats() s
 WHERE audit.statement_stats_available();
COMMENT ON VIEW audit.statement_statistics IS
    'audit.statement_stats() as a view: pg_stat_statements rows of statements on pulse''s schemas; no rows (and no error) when pg_stat_statements is not available, see audit.statement_stats_available().';
COMMENT ON COLUMN audit.statement_statistics.queryid IS 'pg_stat_statements query id.';
COMMENT ON COLUMN audit.statement_statistics.calls IS 'Number of times the statement ran.';
COMMENT ON COLUMN audit.statement_statistics.total_exec_ms IS 'Total execution time in milliseconds.';
COMMENT ON COLUMN audit.statement_statistics.mean_exec_ms IS 'Mean execution time in milliseconds.';
COMMENT ON COLUMN audit.statement_statistics.rows IS 'Rows retrieved or affected, in total.';
COMMENT ON COLUMN audit.statement_statistics.query IS 'Normalized query text (other roles'' texts need pg_read_all_stats).';
