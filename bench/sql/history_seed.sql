-- Seed of the history suite (bench/suites/history.sh), recorded by pulse's own capture: one
-- project "History" with :seed_documents documents, and :seed_projects more projects; every
-- document and project then gets 9 updates, each statement its own transaction, so that each
-- has versions 1 to 10 with distinct changed_at (version 5's is the as-of time the suite
-- asks for). An administrator reads the history (row-level security still applies: an
-- administrator's policy lets every project through). Run as superuser in "bench".
\set ON_ERROR_STOP on
INSERT INTO users.users (email, display_name, is_system_admin) VALUES ('historian@bench.example', 'Historian', true)
RETURNING user_id AS historian \gset
INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint, addressing_style)
VALUES ('bench', 'Bench store', 'minio', 'bench', 'http://127.0.0.1:9000', 'path');
INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
SELECT CASE WHEN i = 0 THEN 'History' ELSE 'Project ' || i END, :historian,
       (SELECT phase_id FROM pulse.phase_reference WHERE code = 'build'),
       (SELECT priority_id FROM pulse.priority_reference WHERE code = 'medium')
  FROM generate_series(0, :seed_projects) i ORDER BY i;
INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,
                                 checksum_sha256, priority_id, phase_id)
SELECT (SELECT project_id FROM projects.projects WHERE name = 'History'), 'Document ' || d, 'doc' || d || '.pdf',
       (SELECT filetype_id FROM pulse.filetype_reference WHERE code = 'pdf'),
       (SELECT storage_id FROM pulse.storage_reference WHERE code = 'bench'),
       'p/d' || d, 1000 + d, encode(sha256(convert_to(d::text, 'UTF8')), 'hex'),
       (SELECT priority_id FROM pulse.priority_reference WHERE code = 'medium'),
       (SELECT phase_id FROM pulse.phase_reference WHERE code = 'build')
  FROM generate_series(1, :seed_documents) d ORDER BY d;
-- Versions 2 to 10: a title and the priority (documents; metadata only, content changes need
-- a new revision), a description and the phase (projects).
SELECT format('UPDATE documents.documents SET title = %L || document_id,
                      priority_id = (SELECT priority_id FROM pulse.priority_reference WHERE code = %L);
               UPDATE projects.projects SET description = %L || project_id,
                      phase_id = (SELECT phase_id FROM pulse.phase_reference WHERE code = %L)',
              'Document, revision ' || v || ': ', CASE WHEN v % 2 = 0 THEN 'high' ELSE 'medium' END,
              'Description, revision ' || v || ': ',
              CASE WHEN v % 2 = 0 THEN 'design' ELSE 'build' END)
  FROM generate_series(2, 10) v \gexec
VACUUM ANALYZE;
