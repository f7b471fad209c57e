-- The audit suite's single-row UPDATE by the table's owner, without authenticating and
-- without row-level security: a calibration of what those add to the unaudited transaction.
-- pulse's capture records it with no session (changed_by and session_id empty).
\set d random(:first_doc, :last_doc)
\set t random(1, 1000000000)
BEGIN;
UPDATE documents.documents SET title = 'Title ' || :t WHERE project_id = :project AND document_id = :d;
END;
