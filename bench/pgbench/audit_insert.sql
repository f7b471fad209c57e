-- One audited single-row INSERT.
\set t random(1, 1000000000)
BEGIN;
SELECT pulse.authenticate(:token);
INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,
                                 checksum_sha256, priority_id, phase_id)
VALUES (:project, 'New ' || :t, 'new.pdf', :filetype, :storage, 'p/new/' || :t, :t,
        encode(sha256(convert_to(:t::text, 'UTF8')), 'hex'), :priority, :phase);
END;
