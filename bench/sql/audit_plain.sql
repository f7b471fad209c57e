-- A second calibration of the audit suite (bench/suites/audit.sh): a plain table shaped like
-- pgbench's accounts (an integer key, a balance, a filler; one index, no trigger of its own),
-- with :documents rows, the lean and supa_audit-style triggers of audit_baselines.sql on it,
-- disabled. Its single-row UPDATE is far lighter than the suite's UPDATE of a document's
-- title (not HOT: an entry in each of up to twelve indexes, two of them GIN; and a BEFORE
-- trigger), so each trigger's cost weighs more against it. pulse records only its own
-- tables, and refuses to capture this one.
\set ON_ERROR_STOP on
CREATE TABLE bench_baseline.plain_accounts (
    aid       integer PRIMARY KEY,
    bid       integer NOT NULL,
    abalance  integer NOT NULL,
    filler    character(84)
);
INSERT INTO bench_baseline.plain_accounts SELECT i, 1, 0, '' FROM generate_series(1, :documents) i;
VACUUM ANALYZE bench_baseline.plain_accounts;
CREATE TRIGGER bench_lean AFTER INSERT OR UPDATE OR DELETE ON bench_baseline.plain_accounts
    FOR EACH ROW EXECUTE FUNCTION bench_baseline.lean_capture();
CREATE TRIGGER bench_supa_style AFTER INSERT OR UPDATE OR DELETE ON bench_baseline.plain_accounts
    FOR EACH ROW EXECUTE FUNCTION bench_baseline.supa_style_capture();
ALTER TABLE bench_baseline.plain_accounts DISABLE TRIGGER bench_lean, DISABLE TRIGGER bench_supa_style;
