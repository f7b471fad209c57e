-- Data set of the audit suite (bench/suites/audit.sh): one project with :documents
-- documents (100,000 in full runs), and a writer who owns it, loaded by the superuser
-- (no session: history records no author). The documents are recorded as they are inserted,
-- as every document is where pulse was installed before the data came: each has its first
-- history row and its chain head, so that an UPDATE measured later is what it is in use,
-- the next version of a recorded document, not the first record of a document that was
-- never recorded (which costs the head's insertion and its index entry instead of a HOT
-- update; docs/benchmarks.md, "Recorded documents"). The project and its membership are
-- loaded with capture off.
\set ON_ERROR_STOP on
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
ALTER TABLE projects.projects ENABLE TRIGGER history_capture;
ALTER TABLE projects.project_member ENABLE TRIGGER history_capture, ENABLE TRIGGER history_flush;
VACUUM ANALYZE;
