-- pulse install script, part 1: the guard and the five schemas.
--
-- Runs first (pgrx `bootstrap`). The control file names pg_catalog as the extension's
-- schema, so every statement below qualifies its objects explicitly: nothing is ever
-- created in `public`, and a hostile search_path cannot redirect a name.

-- Refuse to install over somebody else's schema. supa_audit and many tutorials create a
-- schema called "audit"; silently sharing it would mix their tables and privileges with
-- pulse's and make DROP EXTENSION destroy what was not ours.
DO $guard$
DECLARE
    wanted text;
BEGIN
    FOREACH wanted IN ARRAY ARRAY['pulse', 'users', 'projects', 'documents', 'audit'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = wanted) THEN
            RAISE EXCEPTION 'pulse cannot be installed: schema "%" already exists', wanted
                USING ERRCODE = '42P06',
                      DETAIL = 'pulse creates and owns the schemas pulse, users, projects, documents and audit.',
                      HINT = pg_catalog.format(
                          'Rename the existing schema (ALTER SCHEMA %I RENAME TO ...) or drop it, then run CREATE EXTENSION pulse again.',
                          wanted);
        END IF;
    END LOOP;
END
$guard$;

-- pgrx also emits "CREATE SCHEMA IF NOT EXISTS" for the schemas its Rust functions live in;
-- after the guard above those are no-ops (PostgreSQL runs extension scripts with
-- client_min_messages at least WARNING, so their "already exists" notices stay quiet).
CREATE SCHEMA pulse;
COMMENT ON SCHEMA pulse IS
    'ProjectPulse core: the SQL API applications call, the normalized reference data shared by all projects, and catalog-backed inventories.';

CREATE SCHEMA users;
COMMENT ON SCHEMA users IS
    'Identity: application users (login credentials as PHC hashes) and their authentication sessions.';

CREATE SCHEMA projects;
COMMENT ON SCHEMA projects IS
    'Projects, their membership (the basis of role-based access), feature / tech-stack / tag links and the decision log.';

CREATE SCHEMA documents;
COMMENT ON SCHEMA documents IS
    'Documents stored in S3-compatible object storage: metadata, checksums, object keys and lifecycle.';

CREATE SCHEMA audit;
COMMENT ON SCHEMA audit IS
    'Append-only history of projects and documents: who changed what, when, in which session, and why.';

-- Schemas grant USAGE only, and only to roles pulse is told about (see pulse.grant_* later);
-- PUBLIC gets nothing beyond what PostgreSQL gives every new schema (which is nothing).
