-- Grows the history of the history suite (bench/suites/history.sh) to :copies copies of the
-- seed's versions (bench/sql/history_seed.sql), for timing reads at large history sizes.
--
-- NOT captured history: copy c of a seed document's 10 versions is the same rows with
-- document_id + c * :stride (same project), and its chain head likewise (a document's history
-- is read through its head, decision log D57); copy c of a seed project's versions the same
-- rows with project_id + c * :stride. Snapshots, hashes and timestamps are the seed's, so these
-- rows do not verify as chains and their snapshots still name the seed's ids; they have
-- the size, shape and index entries of real history, which is what as-of and diff reads
-- depend on. Capturing 10 million rows through the triggers takes too long on the benchmark
-- machine. The append-only guard is disabled for the copy (superuser only) and enabled again.
-- No ORDER BY: a sort of millions of snapshots would spill gigabytes to disk; the copies land
-- in the order the join yields them.
-- Copies from :first_copy to :copies - 1 are added (copy 0 is the seed itself).
\set ON_ERROR_STOP on
BEGIN;
ALTER TABLE audit.document_history DISABLE TRIGGER append_only;
ALTER TABLE audit.project_history DISABLE TRIGGER append_only;
ALTER TABLE audit.document_chain DISABLE TRIGGER append_only;
INSERT INTO audit.document_history
SELECT h.project_id, h.document_id + c::bigint * :stride, h.version, h.operation, h.document_version, h.uploaded_by,
       h.priority_id, h.phase_id, h.checksum_sha256, h.snapshot, h.changed_columns, h.change_summary, h.reason,
       h.changed_by, h.session_id, h.changed_at, h.transaction_id, h.prev_hash, h.row_hash
  FROM generate_series(:first_copy, :copies - 1) c,
       (SELECT * FROM audit.document_history WHERE document_id < :stride) h;
INSERT INTO audit.project_history
SELECT h.project_id + c::bigint * :stride, h.version, h.operation, h.project_version, h.owner_id, h.priority_id, h.phase_id,
       h.snapshot, h.changed_columns, h.change_summary, h.reason, h.changed_by, h.session_id, h.changed_at,
       h.transaction_id, h.prev_hash, h.row_hash
  FROM generate_series(:first_copy, :copies - 1) c,
       (SELECT * FROM audit.project_history WHERE project_id < :stride) h;
INSERT INTO audit.document_chain
SELECT h.project_id, h.document_id + c::bigint * :stride, h.version, h.row_hash
  FROM generate_series(:first_copy, :copies - 1) c,
       (SELECT * FROM audit.document_chain WHERE document_id < :stride) h;
ALTER TABLE audit.document_history ENABLE TRIGGER append_only;
ALTER TABLE audit.project_history ENABLE TRIGGER append_only;
ALTER TABLE audit.document_chain ENABLE TRIGGER append_only;
COMMIT;
VACUUM ANALYZE audit.document_history, audit.project_history, audit.document_chain;
