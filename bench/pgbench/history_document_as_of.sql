-- A document as it was at the time of its version 5 (audit.document_as_of), for a random document
-- of the grown history (bench/sql/history_grow.sql: copy k / seed of seed document k % seed).
\set k random(0, :document_entities - 1)
\set id :first_doc + :k % :seed_documents + (:k / :seed_documents) * :stride
BEGIN;
SELECT pulse.authenticate(:token);
SELECT audit.document_as_of(:id, to_timestamp(:at));
END;
