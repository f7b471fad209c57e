-- Data set for bench/discovery.sh: :projects projects with 50 documents each, :users users,
-- and one reader who is an editor in 10 projects spread over the key range. At the issue's
-- size (projects=20000, users=100000) that is 1,000,000 documents.
-- Every attribute a discovery filter reads varies, deterministically: phase, priority,
-- licence, features, tech stack and tags of projects; filetype, phase, priority, size,
-- creation time, custom_properties and words in titles and file names of documents.
-- Loaded without a caller (the maintenance path), with history capture and revisions off:
-- the load is not what is measured.
\set ON_ERROR_STOP on
BEGIN;
-- History capture (and document revisions) off for the load, on again at the end.
CREATE FUNCTION pg_temp.set_capture(action text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    EXECUTE format('ALTER TABLE projects.projects %s TRIGGER history_capture', action);
    EXECUTE format('ALTER TABLE documents.documents %1$s TRIGGER history_capture, %1$s TRIGGER keep_revisions', action);
    FOREACH t IN ARRAY ARRAY['projects.project_member', 'projects.project_feature', 'projects.project_tech_stack',
                             'projects.project_tag'] LOOP
        EXECUTE format('ALTER TABLE %2$s %1$s TRIGGER history_capture, %1$s TRIGGER history_flush', action, t);
    END LOOP;
END
$$;
SELECT pg_temp.set_capture('DISABLE');

INSERT INTO users.users (email, display_name, password_hash)
SELECT 'user' || i || '@bench.example', 'User ' || i, NULL FROM generate_series(1, :users) i;
SELECT min(user_id) - 1 AS base FROM users.users \gset

CREATE TEMPORARY TABLE words (n integer PRIMARY KEY, word text NOT NULL);
INSERT INTO words SELECT n, w FROM unnest('{report,design,budget,roadmap,contract,invoice,minutes,architecture,review,
    security,release,onboarding,migration,analysis,proposal,summary,schedule,audit,specification,benchmark}'::text[])
    WITH ORDINALITY u (w, n);
CREATE TEMPORARY TABLE ref AS
SELECT 'phase' AS kind, row_number() OVER (ORDER BY sort_order) - 1 AS n, phase_id AS id FROM pulse.phase_reference
UNION ALL SELECT 'priority', row_number() OVER (ORDER BY rank) - 1, priority_id FROM pulse.priority_reference
UNION ALL SELECT 'license', row_number() OVER (ORDER BY code) - 1, license_id FROM pulse.license_reference
UNION ALL SELECT 'feature', row_number() OVER (ORDER BY code) - 1, feature_id FROM pulse.feature_reference
UNION ALL SELECT 'tech', row_number() OVER (ORDER BY code) - 1, tech_stack_id FROM pulse.tech_stack_reference
UNION ALL SELECT 'tag', row_number() OVER (ORDER BY code) - 1, tag_id FROM pulse.tag_reference
UNION ALL SELECT 'filetype', row_number() OVER (ORDER BY code) - 1, filetype_id
  FROM pulse.filetype_reference WHERE code IN ('pdf', 'docx', 'xlsx', 'pptx', 'md', 'csv', 'png', 'jpeg', 'zip', 'json');
CREATE INDEX ON ref (kind, n);
ANALYZE words, ref;

INSERT INTO projects.projects (name, description, owner_id, license_id, phase_id, priority_id)
SELECT initcap(w1.word) || ' ' || w2.word || ' ' || i,
       'The ' || w3.word || ' and ' || w2.word || ' of team ' || (i % 20),
       :base + 1 + (i % :users),
       (SELECT id FROM ref WHERE kind = 'license' AND n = i % 14 AND i % 5 <> 0),
       (SELECT id FROM ref WHERE kind = 'phase' AND n = i % 8),
       (SELECT id FROM ref WHERE kind = 'priority' AND n = (i / 8) % 4)
  FROM generate_series(1, :projects) i
  JOIN words w1 ON w1.n = 1 + i % 20 JOIN words w2 ON w2.n = 1 + (i / 20) % 20 JOIN words w3 ON w3.n = 1 + (i * 7) % 20;
SELECT min(project_id) - 1 AS pbase FROM projects.projects \gset

-- Owners are members (the trigger adds them only for authenticated callers); two features,
-- two technologies and one or two tags per project.
INSERT INTO projects.project_member (project_id, user_id, access_role_id)
SELECT p.project_id, p.owner_id, (SELECT access_role_id FROM pulse.access_role_reference WHERE code = 'owner')
  FROM projects.projects p;
INSERT INTO projects.project_feature (project_id, feature_id)
SELECT p.project_id, r.id FROM projects.projects p JOIN ref r ON r.kind = 'feature' AND r.n IN (p.project_id % 12, (p.project_id + 5) % 12);
INSERT INTO projects.project_tech_stack (project_id, tech_stack_id)
SELECT p.project_id, r.id FROM projects.projects p JOIN ref r ON r.kind = 'tech' AND r.n IN (p.project_id % 14, (p.project_id / 14 + 3) % 14)
ON CONFLICT DO NOTHING;
INSERT INTO projects.project_tag (project_id, tag_id)
SELECT p.project_id, r.id FROM projects.projects p JOIN ref r ON r.kind = 'tag' AND r.n IN (p.project_id % 8, (p.project_id * 3) % 8)
ON CONFLICT DO NOTHING;

-- The benchmark user is an editor in 10 projects, spread evenly.
INSERT INTO users.users (email, display_name) VALUES ('reader@bench.example', 'Bench Reader')
RETURNING user_id AS reader \gset
INSERT INTO projects.project_member (project_id, user_id, access_role_id)
SELECT :pbase + i * (:projects / 10) - (:projects / 20), :reader,
       (SELECT access_role_id FROM pulse.access_role_reference WHERE code = 'editor')
  FROM generate_series(1, 10) i;

INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint, addressing_style)
VALUES ('bench', 'Bench store', 'minio', 'bench', 'http://127.0.0.1:9000', 'path'),
       ('archive', 'Archive store', 'minio', 'bench-archive', 'http://127.0.0.1:9000', 'path');

INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,
                                 checksum_sha256, custom_properties, priority_id, phase_id, uploaded_by, created_at,
                                 updated_at)
SELECT :pbase + p, initcap(w1.word) || ' ' || w2.word || ' ' || d,
       w1.word || '_' || w2.word || '-' || d || '.' || (SELECT extensions[1] FROM pulse.filetype_reference WHERE filetype_id = ft.id),
       ft.id,
       (SELECT storage_id FROM pulse.storage_reference WHERE code = CASE WHEN d % 10 = 0 THEN 'archive' ELSE 'bench' END),
       'p' || p || '/d' || d, 1000 + (p::bigint * 7919 + d * 104729) % 10000000,
       encode(sha256(convert_to(p || '/' || d, 'UTF8')), 'hex'),
       jsonb_build_object('team', 't' || p % 20, 'confidential', d % 5 = 0, 'lang', (ARRAY['en', 'de', 'fr'])[1 + d % 3]),
       (SELECT id FROM ref WHERE kind = 'priority' AND n = (d / 3) % 4),
       (SELECT id FROM ref WHERE kind = 'phase' AND n = (p + d) % 8),
       :base + 1 + (p % :users),
       timestamptz '2024-01-01 00:00:00+00' + ((p * 50 + d) % 730) * interval '1 day',
       timestamptz '2024-01-01 00:00:00+00' + ((p * 50 + d) % 730) * interval '1 day'
  FROM generate_series(1, :projects) p, generate_series(1, 50) d
  JOIN words w1 ON w1.n = 1 + (d * 7) % 20
  JOIN words w2 ON w2.n = 1 + (d * 3 + 1) % 20
  JOIN ref ft ON ft.kind = 'filetype' AND ft.n = (d + 0) % 10;

SELECT pg_temp.set_capture('ENABLE');
COMMIT;
VACUUM ANALYZE;
