-- The first page of a document search by words (ranked) and its facets through pulse, as the
-- application role.
BEGIN;
SELECT pulse.authenticate(:token);
SELECT * FROM documents.search_documents('{"q": "report or budget", "priority": ["medium", "high", "critical"]}');
SELECT * FROM documents.document_facets('{"q": "report or budget", "priority": ["medium", "high", "critical"]}');
END;
