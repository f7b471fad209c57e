-- A user's documents through pulse: authenticate, then row-level security filters.
BEGIN;
SELECT pulse.authenticate(:token);
SELECT document_id, project_id, title, size_bytes FROM documents.documents WHERE deleted_at IS NULL;
END;
