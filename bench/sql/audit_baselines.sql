-- The baselines bench/audit.sh compares pulse's capture with, on the same table. Created as
-- AFTER ROW triggers, disabled; the harness enables one variant at a time.
\set ON_ERROR_STOP on
CREATE SCHEMA bench_baseline;

-- A lean PL/pgSQL trigger writing one to_jsonb snapshot per row.
CREATE TABLE bench_baseline.lean_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operation   text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    snapshot    jsonb NOT NULL
);
CREATE FUNCTION bench_baseline.lean_capture() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    INSERT INTO bench_baseline.lean_log (operation, snapshot) VALUES (TG_OP, to_jsonb(COALESCE(NEW, OLD)));
    RETURN NULL;
END
$$;
CREATE TRIGGER bench_lean AFTER INSERT OR UPDATE OR DELETE ON documents.documents
    FOR EACH ROW EXECUTE FUNCTION bench_baseline.lean_capture();
ALTER TABLE documents.documents DISABLE TRIGGER bench_lean;

-- A PL/pgSQL AFTER ROW trigger that does nothing: what any row trigger costs (queuing the
-- event, fetching the row again at the statement's end, calling the function) before it
-- records anything. bench/audit_per_row.sh subtracts it to show what capture itself costs.
CREATE FUNCTION bench_baseline.no_op() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NULL;
END
$$;
CREATE TRIGGER bench_no_op AFTER INSERT OR UPDATE OR DELETE ON documents.documents
    FOR EACH ROW EXECUTE FUNCTION bench_baseline.no_op();
ALTER TABLE documents.documents DISABLE TRIGGER bench_no_op;

-- The approach of supa_audit (github.com/supabase/supa_audit), written anew for this
-- benchmark: a SECURITY DEFINER PL/pgSQL trigger that looks up the table's primary key
-- columns in the catalog on every row, snapshots old and new rows with to_jsonb, derives a
-- record id from the key, and inserts into one shared table with four indexes.
CREATE TABLE bench_baseline.record_version (
    id             bigserial PRIMARY KEY,
    record_id      uuid,
    old_record_id  uuid,
    op             text NOT NULL,
    ts             timestamptz NOT NULL DEFAULT now(),
    table_oid      oid NOT NULL,
    table_schema   name NOT NULL,
    table_name     name NOT NULL,
    record         jsonb,
    old_record     jsonb,
    CHECK (coalesce(record_id, old_record_id) IS NOT NULL),
    CHECK (op IN ('INSERT', 'UPDATE') = (record IS NOT NULL)),
    CHECK (op IN ('UPDATE', 'DELETE') = (old_record IS NOT NULL))
);
CREATE INDEX ON bench_baseline.record_version (record_id) WHERE record_id IS NOT NULL;
CREATE INDEX ON bench_baseline.record_version (old_record_id) WHERE old_record_id IS NOT NULL;
CREATE INDEX ON bench_baseline.record_version USING brin (ts);
CREATE INDEX ON bench_baseline.record_version (table_oid);
CREATE FUNCTION bench_baseline.key_columns(rel oid) RETURNS text[] LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = '' AS $$
    SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum), '{}')
      FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = rel AND i.indisprimary
$$;
CREATE FUNCTION bench_baseline.record_key(rel oid, columns text[], rec jsonb) RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN rec IS NULL THEN NULL
                ELSE md5(rel::text || (SELECT string_agg(rec ->> c, ',') FROM unnest(columns) c))::uuid END
$$;
CREATE FUNCTION bench_baseline.supa_style_capture() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    columns text[] := bench_baseline.key_columns(TG_RELID);
    new_json jsonb := to_jsonb(NEW);
    old_json jsonb := to_jsonb(OLD);
BEGIN
    INSERT INTO bench_baseline.record_version (record_id, old_record_id, op, table_oid, table_schema, table_name,
                                               record, old_record)
    VALUES (bench_baseline.record_key(TG_RELID, columns, new_json), bench_baseline.record_key(TG_RELID, columns, old_json),
            TG_OP, TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, new_json, old_json);
    RETURN NULL;
END
$$;
CREATE TRIGGER bench_supa_style AFTER INSERT OR UPDATE OR DELETE ON documents.documents
    FOR EACH ROW EXECUTE FUNCTION bench_baseline.supa_style_capture();
ALTER TABLE documents.documents DISABLE TRIGGER bench_supa_style;
