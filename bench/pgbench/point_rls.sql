-- One document by id through pulse.
BEGIN;
SELECT pulse.authenticate(:token);
SELECT document_id, project_id, title, size_bytes FROM documents.documents WHERE document_id = :doc;
END;
