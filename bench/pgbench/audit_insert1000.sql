-- One audited 1000-row INSERT statement.
\set t random(1, 1000000000)
BEGIN;
SELECT pulse.authenticate(:token);
INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,
                                 checksum_sha256, priority_id, phase_id)
SELECT :project, 'Bulk ' || :t || '/' || i, 'bulk.pdf', :filetype, :storage, 'p/bulk/' || :t || '/' || i, i,
       encode(sha256(convert_to(:t || '/' || i, 'UTF8')), 'hex'), :priority, :phase
  FROM generate_series(1, 1000) i;
END;
