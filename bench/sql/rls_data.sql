-- Data set of the access and scale suites (bench/suites/access.sh, scale.sh): :projects
-- projects with 50 documents each (20,000 and 1,000,000 documents in the access suite), and
-- one user who is a member of 10 of them (spread over the key range, as in real data).
-- Loaded without a caller: the documented maintenance path (superuser, no row-level security),
-- with history capture off (the load is not what is measured).
\set ON_ERROR_STOP on
BEGIN;
ALTER TABLE projects.projects DISABLE TRIGGER history_capture;
ALTER TABLE projects.project_member DISABLE TRIGGER history_capture, DISABLE TRIGGER history_flush;
ALTER TABLE documents.documents DISABLE TRIGGER history_capture;
INSERT INTO users.users (email, display_name, password_hash)
SELECT 'user' || i || '@bench.example', 'User ' || i, NULL FROM generate_series(1, 1000) i;
SELECT min(user_id) - 1 AS base FROM users.users \gset

INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
SELECT 'Project ' || i, :base + 1 + (i % 1000),
       (SELECT phase_id FROM pulse.phase_reference WHERE code = 'build'),
       (SELECT priority_id FROM pulse.priority_reference WHERE code = 'medium')
  FROM generate_series(1, :projects) i;

-- Owners are members (the trigger adds them only for authenticated callers).
INSERT INTO projects.project_member (project_id, user_id, access_role_id)
SELECT p.project_id, p.owner_id, (SELECT access_role_id FROM pulse.access_role_reference WHERE code = 'owner')
  FROM projects.projects p;

-- The benchmark user is an editor in 10 projects, :projects / 10 apart.
INSERT INTO users.users (email, display_name) VALUES ('reader@bench.example', 'Bench Reader')
RETURNING user_id AS reader \gset
SELECT min(project_id) - 1 AS pbase FROM projects.projects \gset
INSERT INTO projects.project_member (project_id, user_id, access_role_id)
SELECT :pbase + i * (:projects / 10) - :projects / 20, :reader, (SELECT access_role_id FROM pulse.access_role_reference WHERE code = 'editor')
  FROM generate_series(1, 10) i;

INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint, addressing_style)
VALUES ('bench', 'Bench store', 'minio', 'bench', 'http://127.0.0.1:9000', 'path');

INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,
                                 checksum_sha256, priority_id, phase_id)
SELECT :pbase + p, 'Document ' || d, 'doc' || d || '.pdf',
       (SELECT filetype_id FROM pulse.filetype_reference WHERE code = 'pdf'),
       (SELECT storage_id FROM pulse.storage_reference WHERE code = 'bench'),
       'p' || p || '/d' || d, 1000 + d,
       encode(sha256(convert_to(p || '/' || d, 'UTF8')), 'hex'),
       (SELECT priority_id FROM pulse.priority_reference WHERE code = 'medium'),
       (SELECT phase_id FROM pulse.phase_reference WHERE code = 'build')
  FROM generate_series(1, :projects) p, generate_series(1, 50) d;
ALTER TABLE projects.projects ENABLE TRIGGER history_capture;
ALTER TABLE projects.project_member ENABLE TRIGGER history_capture, ENABLE TRIGGER history_flush;
ALTER TABLE documents.documents ENABLE TRIGGER history_capture;
COMMIT;
VACUUM ANALYZE;
