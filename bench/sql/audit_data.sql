-- Data set of the audit suite (bench/suites/audit.sh): one project with :documents
-- documents (100,000 in full runs), and a writer who owns it. Loaded through the maintenance
-- path with history capture off (the load is not what is measured).
\set ON_ERROR_STOP on
ALTER TABLE documents.documents DISABLE TRIGGER history_capture;
ALTER TABLE projects.projects DISABLE TRIGGER history_capture;
ALTER TABLE projects.project_member DISABLE TRIGGER history_capture, DISABLE TRIGGER history_flush;
INSERT INTO users.users (email, display_name) VALUES ('writer@bench.example', 'Bench Writer') RETURNING user_id AS writer \gset
INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
VALUES ('Bench', :writer, (SELECT phase_id FROM pulse.phase_reference WHERE code = 'build'),
        (SELECT priority_id FROM pulse.priority_reference WHERE code = 'medium'))
RETURNING project_id AS project \gset
INSERT INTO projects.project_member (project_id, user_id, access_role_id)
SELECT :project, :writer, access_role_id FROM pulse.access_role_reference WHERE code = 'owner';
INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint)
VALUES ('bench', 'Bench store', 'minio', 'bench', 'http://127.0.0.1:9000');
INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,
                                 checksum_sha256, priority_id, phase_id)
SELECT :project, 'Document ' || d, 'doc' || d || '.pdf',
       (SELECT filetype_id FROM pulse.filetype_reference WHERE code = 'pdf'),
       (SELECT storage_id FROM pulse.storage_reference WHERE code = 'bench'),
       'p/d' || d, 1000 + d, encode(sha256(convert_to(d::text, 'UTF8')), 'hex'),
       (SELECT priority_id FROM pulse.priority_reference WHERE code = 'medium'),
       (SELECT phase_id FROM pulse.phase_reference WHERE code = 'build')
  FROM generate_series(1, :documents) d;
ALTER TABLE documents.documents ENABLE TRIGGER history_capture;
ALTER TABLE projects.projects ENABLE TRIGGER history_capture;
ALTER TABLE projects.project_member ENABLE TRIGGER history_capture, ENABLE TRIGGER history_flush;
VACUUM ANALYZE;
