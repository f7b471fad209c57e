-- The demo walkthrough: what `./scripts/demo.sh` runs against a fresh database.
-- It grows as pulse grows; every statement is echoed so the output reads as a tour.
\set ON_ERROR_STOP on
\pset footer off

CREATE EXTENSION pulse;

-- 1. Five schemas, each a concern.
SELECT nspname AS schema, obj_description(oid, 'pg_namespace') AS purpose
  FROM pg_namespace WHERE nspname IN ('pulse', 'users', 'projects', 'documents', 'audit') ORDER BY nspname;

-- 2. Normalized reference data: access roles with explicit permissions, lifecycle phases.
SELECT code, rank, can_read, can_write, can_manage_members, can_delete_restore, can_administer
  FROM pulse.access_role_reference ORDER BY rank;
SELECT code, label, sort_order FROM pulse.phase_reference ORDER BY sort_order;

-- 3. A storage (deployment-specific, so the DBA adds it), two users, a project, its links.
INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint, addressing_style)
VALUES ('local', 'Local S3', 'minio', 'pulse-demo', 'http://127.0.0.1:9000', 'path');

INSERT INTO users.users (email, display_name, password_hash) VALUES
  ('ada@example.com', 'Ada Lovelace',
   '$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG'),
  ('linus@example.com', 'Linus T.', '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW')
RETURNING user_id, email, display_name;

INSERT INTO projects.projects (name, description, owner_id, license_id, phase_id, priority_id, created_by)
SELECT 'Analytical Engine', 'A general-purpose mechanical computer', u.user_id, l.license_id, ph.phase_id, pr.priority_id, u.user_id
  FROM users.users u, pulse.license_reference l, pulse.phase_reference ph, pulse.priority_reference pr
 WHERE u.email = 'ada@example.com' AND l.code = 'Apache-2.0' AND ph.code = 'design' AND pr.code = 'high'
RETURNING project_id, name, version;

INSERT INTO projects.project_member (project_id, user_id, access_role_id)
SELECT p.project_id, u.user_id, r.access_role_id
  FROM projects.projects p, users.users u, pulse.access_role_reference r
 WHERE (u.email, r.code) IN (('ada@example.com', 'owner'), ('linus@example.com', 'editor'));

INSERT INTO projects.project_tag (project_id, tag_id)
SELECT p.project_id, t.tag_id FROM projects.projects p, pulse.tag_reference t WHERE t.code IN ('experimental', 'performance');

INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,
                                 checksum_sha256, priority_id, phase_id, uploaded_by)
SELECT p.project_id, 'Notes on the Engine', 'notes.md', f.filetype_id, s.storage_id,
       'sha256/' || encode(sha256('Note G'::bytea), 'hex'), 6, encode(sha256('Note G'::bytea), 'hex'),
       p.priority_id, p.phase_id, p.owner_id
  FROM projects.projects p, pulse.filetype_reference f, pulse.storage_reference s
 WHERE f.mime_type = 'text/markdown' AND s.code = 'local'
RETURNING document_id, file_name, checksum_sha256;

-- 4. The project with its members and labels resolved.
SELECT p.name, ph.label AS phase, pr.label AS priority, l.code AS license, u.display_name AS member, r.label AS role
  FROM projects.projects p
  JOIN pulse.phase_reference ph USING (phase_id)
  JOIN pulse.priority_reference pr USING (priority_id)
  JOIN pulse.license_reference l USING (license_id)
  JOIN projects.project_member m USING (project_id)
  JOIN users.users u ON u.user_id = m.user_id
  JOIN pulse.access_role_reference r ON r.access_role_id = m.access_role_id
 ORDER BY r.rank DESC;

-- 5. Constraints refuse bad data with precise SQLSTATEs (caught here so the tour goes on).
DO $$
DECLARE
    attempt text;
    state text;
    msg text;
BEGIN
    FOREACH attempt IN ARRAY ARRAY[
        $q$INSERT INTO users.users (email, display_name, password_hash) VALUES ('eve@example.com', 'Eve', 'hunter2')$q$,
        $q$INSERT INTO users.users (email, display_name) VALUES ('ADA@example.com', 'Ada again')$q$,
        $q$UPDATE documents.documents SET checksum_sha256 = 'not-a-checksum', version = version + 1$q$,
        $q$UPDATE projects.projects SET owner_id = -1$q$,
        $q$UPDATE pulse.phase_reference SET label = 'Construction' WHERE code = 'build'$q$]
    LOOP
        BEGIN
            EXECUTE attempt;
            RAISE EXCEPTION 'accepted: %', attempt;
        EXCEPTION WHEN integrity_constraint_violation OR insufficient_privilege THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            RAISE NOTICE '% %', state, msg;
        END;
    END LOOP;
END
$$;

-- 6. Every change is history: Linus signs in, moves the project to Build with a reason, and
--    the history says who, what and why, sealed into a hash chain.
CREATE TEMP TABLE demo_session AS
SELECT token FROM users.open_session((SELECT user_id FROM users.users WHERE email = 'linus@example.com'));
BEGIN;
SELECT pulse.authenticate(token) AS linus FROM demo_session;
SELECT pulse.set_change_reason('design review passed');
UPDATE projects.projects SET phase_id = (SELECT phase_id FROM pulse.phase_reference WHERE code = 'build');
COMMIT;
SELECT h.version, h.operation, h.change_summary, u.display_name AS changed_by, h.reason
  FROM audit.project_history h LEFT JOIN users.users u ON u.user_id = h.changed_by
 ORDER BY h.version;
SELECT * FROM audit.project_diff((SELECT min(project_id) FROM projects.projects), 1, 4);

-- 7. Roll the phase change back (recorded too), and check every chain.
SELECT audit.rollback_project(project_id, 3, 4) AS new_version FROM projects.projects;
SELECT version, operation, change_summary FROM audit.project_history WHERE version > 3 ORDER BY version;
SELECT count(*) AS broken_links FROM audit.verify();
