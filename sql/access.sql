-- pulse install script: role-based access, enforced by row-level security.
--
-- A caller's rights in a project come from projects.project_member x the permission flags
-- of pulse.access_role_reference. Policies compare project_id with the caller's project set
-- computed ONCE per statement: `project_id = ANY ((SELECT pulse.caller_project_ids('read'))::bigint[])`
-- is an InitPlan, where a correlated EXISTS per row measured 250-500x slower at 200k rows.
-- Without an authenticated caller every set is empty: nothing is visible, every write is
-- refused (fail closed). Table owners and superusers bypass row-level security: that is
-- the documented maintenance path.

-- Database roles registered as read-only auditors (see pulse.grant_auditor_role()).
CREATE TABLE pulse.auditor_role (
    role_name   name PRIMARY KEY,
    granted_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pulse.auditor_role IS
    'Database roles that read every pulse row without a session (row-level security lets them see all, write nothing).';
COMMENT ON COLUMN pulse.auditor_role.role_name IS 'Name of the database role (members of it inherit the right).';
COMMENT ON COLUMN pulse.auditor_role.granted_at IS 'When the role was registered.';
SELECT pg_catalog.pg_extension_config_dump('pulse.auditor_role', '');

-- The policy helpers are in Rust (src/access.rs): every statement pays for them.
COMMENT ON FUNCTION pulse.caller_project_ids(text) IS
    'Projects in which the authenticated caller''s membership grants a permission (read, write, manage_members, delete_restore, administer); empty without a caller.';
COMMENT ON FUNCTION pulse.caller_is_auditor() IS
    'Whether the current database role is (a member of) a registered auditor role.';

-- A blanket right (system administrators: every permission; auditors: read) is written
-- into the policies as a range of project ids, `project_id BETWEEN <this> AND max`, and
-- not as a boolean: `project_id = ANY (ids) OR <boolean>` cannot use an index, and turned
-- the listing of a user's documents at 1M rows into a sequential scan (decision log D21).
-- With two index conditions the planner builds a BitmapOr, and for a caller without a
-- blanket right the range is empty (NULL bound) and costs one index descent.
COMMENT ON FUNCTION pulse.caller_all_projects_from(text) IS
    'Lowest project id the caller holds a permission on through a blanket right (system administrator; auditor for read), or NULL: the lower bound of the range in every project policy.';

-- The same question for one project, in functions that check a permission before they act
-- (policies keep the index-friendly form above).
CREATE FUNCTION pulse.caller_holds(permission text, project_id bigint) RETURNS boolean
    LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
RETURN caller_holds.project_id = ANY (pulse.caller_project_ids(caller_holds.permission))
       OR pulse.caller_all_projects_from(caller_holds.permission) IS NOT NULL;
COMMENT ON FUNCTION pulse.caller_holds(text, bigint) IS
    'Whether the authenticated caller holds a permission in a project (through membership or a blanket right).';

-- Readers of per-project rows hold "read" in the project, writers "write", and so on;
-- %1$L is the permission.
DO $policies$
DECLARE
    t text;
    holds constant text :=
        'project_id = ANY ((SELECT pulse.caller_project_ids(%1$L))::bigint[]) OR project_id BETWEEN (SELECT pulse.caller_all_projects_from(%1$L)) AND 9223372036854775807';
    admins constant text := '(SELECT pulse.current_user_is_system_admin())';
    everyone constant text := '(SELECT pulse.current_user_id()) IS NOT NULL OR (SELECT pulse.caller_is_auditor())';
BEGIN
    -- Per-project data: read by readers, written by writers. Projects and membership below
    -- differ only where noted.
    FOREACH t IN ARRAY ARRAY['projects.projects', 'projects.project_member', 'projects.project_feature',
                             'projects.project_tech_stack', 'projects.project_tag', 'projects.project_decision_log',
                             'projects.decision_feature', 'projects.decision_document', 'documents.documents',
                             'audit.project_history', 'audit.document_history', 'audit.project_chain',
                             'audit.document_chain', 'audit.legal_hold', 'audit.history_tombstone'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format('CREATE POLICY read ON %s FOR SELECT USING (%s%s)', t, pg_catalog.format(holds, 'read'),
                                  -- The owner sees a new project also in INSERT ... RETURNING,
                                  -- before the AFTER trigger has made them its first member.
                                  CASE WHEN t = 'projects.projects' THEN ' OR owner_id = (SELECT pulse.current_user_id())' ELSE '' END);
        CASE
        WHEN t LIKE 'audit.%' THEN
            -- History is written only by pulse's own definer triggers.
            CONTINUE;
        WHEN t = 'projects.project_member' THEN
            -- Members who manage members; the rank rules are in the trigger below.
            EXECUTE pg_catalog.format('CREATE POLICY manage ON %s FOR ALL USING (%2$s) WITH CHECK (%2$s)', t,
                                      pg_catalog.format(holds, 'manage_members'));
            CONTINUE;
        WHEN t = 'projects.projects' THEN
            -- Anyone authenticated creates a project they own.
            EXECUTE pg_catalog.format('CREATE POLICY add ON %s FOR INSERT WITH CHECK (owner_id = (SELECT pulse.current_user_id()) OR %s)',
                                      t, admins);
        ELSE
            EXECUTE pg_catalog.format('CREATE POLICY add ON %s FOR INSERT WITH CHECK (%s)', t, pg_catalog.format(holds, 'write'));
        END CASE;
        EXECUTE pg_catalog.format('CREATE POLICY change ON %s FOR UPDATE USING (%2$s) WITH CHECK (%2$s)', t,
                                  pg_catalog.format(holds, 'write'));
        -- Projects and documents are deleted for good only by system administrators (everyone
        -- else soft-deletes); links and decisions by writers.
        EXECUTE pg_catalog.format('CREATE POLICY remove ON %s FOR DELETE USING (%s)', t,
                                  CASE WHEN t IN ('projects.projects', 'documents.documents') THEN admins
                                       ELSE pg_catalog.format(holds, 'write') END);
    END LOOP;

    -- Reference data: readable by every authenticated caller, written by system administrators.
    FOREACH t IN ARRAY pg_catalog.string_to_array(pulse.reference_table_list(), ', ') LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format('CREATE POLICY read ON %s FOR SELECT USING (%s)', t, everyone);
        EXECUTE pg_catalog.format('CREATE POLICY manage ON %s FOR ALL USING (%s) WITH CHECK (%s)', t, admins, admins);
    END LOOP;
END
$policies$;

-- Users: every authenticated caller sees the directory (password hashes are withheld by
-- column privileges); changes go through users.* functions.
ALTER TABLE users.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON users.users FOR SELECT
    USING ((SELECT pulse.current_user_id()) IS NOT NULL OR (SELECT pulse.caller_is_auditor()));

-- Sessions: users see their own, system administrators and auditors all; changes go through
-- users.* functions.
ALTER TABLE users.sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON users.sessions FOR SELECT
    USING (user_id = (SELECT pulse.current_user_id()) OR (SELECT pulse.current_user_is_system_admin())
           OR (SELECT pulse.caller_is_auditor()));

-- Rules row-level security cannot express: soft delete and restore need delete_restore,
-- ownership transfer needs administer; a new project's owner becomes its first member.
CREATE FUNCTION projects.enforce_project_rules() RETURNS trigger
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller integer := pulse.current_user_id();
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF caller IS NOT NULL THEN
            INSERT INTO projects.project_member (project_id, user_id, access_role_id, added_by)
            SELECT NEW.project_id, NEW.owner_id, r.access_role_id, caller
              FROM pulse.access_role_reference r WHERE r.code = 'owner';
        END IF;
        RETURN NULL;
    END IF;
    -- UPDATE (BEFORE): only an authenticated caller is checked; maintenance bypasses RLS anyway.
    IF caller IS NULL OR pulse.current_user_is_system_admin() THEN
        RETURN NEW;
    END IF;
    IF OLD.deleted_at IS DISTINCT FROM NEW.deleted_at
       AND NOT NEW.project_id = ANY (pulse.caller_project_ids('delete_restore')) THEN
        RAISE EXCEPTION 'soft-deleting or restoring project % needs the delete_restore permission', NEW.project_id
            USING ERRCODE = '42501';
    END IF;
    IF OLD.owner_id IS DISTINCT FROM NEW.owner_id
       AND NOT NEW.project_id = ANY (pulse.caller_project_ids('administer')) THEN
        RAISE EXCEPTION 'transferring ownership of project % needs the administer permission', NEW.project_id
            USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION projects.enforce_project_rules() IS
    'Trigger on projects.projects: permission checks for soft delete, restore and ownership transfer; makes a new project''s owner its first member.';
CREATE TRIGGER enforce_project_rules BEFORE UPDATE ON projects.projects
    FOR EACH ROW EXECUTE FUNCTION projects.enforce_project_rules();
-- Named to fire after history_capture (triggers fire in name order): the project's
-- creation is version 1 of its history, the owner's membership version 2.
CREATE TRIGGER owner_membership AFTER INSERT ON projects.projects
    FOR EACH ROW EXECUTE FUNCTION projects.enforce_project_rules();

-- Membership rules: nobody grants a role above their own, nobody raises their own role, and
-- a project always keeps an owner (a member whose role may administer).
CREATE FUNCTION projects.enforce_membership_rules() RETURNS trigger
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller integer := pulse.current_user_id();
    caller_rank smallint;
    new_rank smallint;
    old_rank smallint;
    project bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.project_id ELSE NEW.project_id END;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') AND caller IS NOT NULL AND NOT pulse.current_user_is_system_admin() THEN
        SELECT r.rank INTO caller_rank FROM projects.project_member m
          JOIN pulse.access_role_reference r ON r.access_role_id = m.access_role_id
         WHERE m.project_id = NEW.project_id AND m.user_id = caller;
        SELECT r.rank INTO new_rank FROM pulse.access_role_reference r WHERE r.access_role_id = NEW.access_role_id;
        IF TG_OP = 'UPDATE' THEN
            SELECT r.rank INTO old_rank FROM pulse.access_role_reference r WHERE r.access_role_id = OLD.access_role_id;
        END IF;
        IF new_rank > caller_rank THEN
            RAISE EXCEPTION 'cannot grant a role above your own in project %', NEW.project_id USING ERRCODE = '42501';
        END IF;
        IF TG_OP = 'UPDATE' AND NEW.user_id = caller AND new_rank > old_rank THEN
            RAISE EXCEPTION 'cannot raise your own role in project %', NEW.project_id USING ERRCODE = '42501';
        END IF;
    END IF;
    -- The project must keep an owner, unless the project itself is being deleted.
    IF TG_OP IN ('UPDATE', 'DELETE')
       AND EXISTS (SELECT 1 FROM projects.projects p WHERE p.project_id = project)
       AND NOT EXISTS (SELECT 1 FROM projects.project_member m
                         JOIN pulse.access_role_reference r ON r.access_role_id = m.access_role_id
                        WHERE m.project_id = project AND r.can_administer) THEN
        RAISE EXCEPTION 'project % must keep at least one owner', project USING ERRCODE = '42501';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION projects.enforce_membership_rules() IS
    'Trigger on projects.project_member: no role above the granter''s own, no raising one''s own role, never without an owner.';
CREATE TRIGGER enforce_membership_rules AFTER INSERT OR UPDATE OR DELETE ON projects.project_member
    FOR EACH ROW EXECUTE FUNCTION projects.enforce_membership_rules();
