-- The first page of a filtered document search and its facets through pulse, as the
-- application role: authenticate, then the two functions; row-level security filters.
BEGIN;
SELECT pulse.authenticate(:token);
SELECT * FROM documents.search_documents('{"mime_category": ["document", "spreadsheet", "presentation"], "phase": ["design", "build", "review", "release"], "size_min": 100000, "properties": {"confidential": false}}');
SELECT * FROM documents.document_facets('{"mime_category": ["document", "spreadsheet", "presentation"], "phase": ["design", "build", "review", "release"], "size_min": 100000, "properties": {"confidential": false}}');
END;
