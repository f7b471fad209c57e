-- One audited UPDATE of a random document, by an authenticated editor (identity and
-- row-level security on, as for every variant).
\set d random(:first_doc, :last_doc)
\set t random(1, 1000000000)
BEGIN;
SELECT pulse.authenticate(:token);
UPDATE documents.documents SET title = 'Title ' || :t WHERE project_id = :project AND document_id = :d;
END;
