-- pgbench's own UPDATE, on the plain table of bench/sql/audit_plain.sql, by its owner: the
-- lighter transaction the audit suite compares the lean and supa_audit-style triggers on.
\set aid random(1, :plain_rows)
\set delta random(-5000, 5000)
BEGIN;
UPDATE bench_baseline.plain_accounts SET abalance = abalance + :delta WHERE aid = :aid;
END;
