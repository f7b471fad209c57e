-- What changed from version 3 to version 8 of a random document (audit.document_diff).
\set k random(0, :document_entities - 1)
\set id :first_doc + :k % :seed_documents + (:k / :seed_documents) * :stride
BEGIN;
SELECT pulse.authenticate(:token);
SELECT * FROM audit.document_diff(:id, 3, 8);
END;
