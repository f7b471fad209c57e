-- The scale suite's audited update: one of the reader's documents (READER_DOCS, an array
-- literal), by the reader, an editor, under row-level security with pulse's capture on.
\set k random(1, :doc_count)
\set t random(1, 1000000000)
BEGIN;
SELECT pulse.authenticate(:token);
UPDATE documents.documents SET title = 'Title ' || :t WHERE document_id = (:docs::bigint[])[:k];
END;
