-- Golden test: the shape of the schema (tables, column counts, keys, comments).
\set SHOW_CONTEXT never
SELECT n.nspname AS schema, c.relname AS table,
       (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       pg_get_constraintdef((SELECT oid FROM pg_constraint WHERE conrelid = c.oid AND contype = 'p')) AS primary_key,
       obj_description(c.oid, 'pg_class') IS NOT NULL AS commented
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit') AND c.relkind = 'r'
 ORDER BY 1, 2;

-- Foreign keys: every edge of the model.
SELECT conrelid::regclass AS from_table, confrelid::regclass AS to_table,
       pg_get_constraintdef(oid) AS definition
  FROM pg_constraint
 WHERE contype = 'f' AND connamespace IN (SELECT oid FROM pg_namespace
                                          WHERE nspname IN ('pulse', 'users', 'projects', 'documents', 'audit'))
 ORDER BY conrelid::regclass::text, confrelid::regclass::text, 3;

-- CREATE EXTENSION refuses to install over a schema it did not create.
-- (Run on a fresh and on an upgraded database: come back to whichever this is.)
\set regress_db :DBNAME
CREATE DATABASE pulse_regress_guard;
\c pulse_regress_guard
CREATE SCHEMA audit;
CREATE EXTENSION pulse;
\dn
\c :regress_db
DROP DATABASE pulse_regress_guard;
