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

CREATE FUNCTION pulse.caller_project_ids(permission text) RETURNS bigint[]
    LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller integer := pulse.current_user_id();
    ids bigint[];
BEGIN
    IF permission NOT IN ('read', 'write', 'manage_members', 'delete_restore', 'administer') THEN
        RAISE EXCEPTION 'unknown permission "%"', permission
            USING ERRCODE = '22023', HINT = 'One of read, write, manage_members, delete_restore, administer.';
    END IF;
    IF caller IS NULL THEN
        RETURN '{}';
    END IF;
    SELECT COALESCE(pg_catalog.array_agg(m.project_id ORDER BY m.project_id), '{}') INTO ids
      FROM projects.project_member m
      JOIN pulse.access_role_reference r ON r.access_role_id = m.access_role_id
     WHERE m.user_id = caller
       AND CASE permission WHEN 'read' THEN r.can_read
                           WHEN 'write' THEN r.can_write
                           WHEN 'manage_members' THEN r.can_manage_members
                           WHEN 'delete_restore' THEN r.can_delete_restore
                           ELSE r.can_administer END;
    RETURN ids;
END
$$;
COMMENT ON FUNCTION pulse.caller_project_ids(text) IS
    'Projects in which the authenticated caller holds a permission (read, write, manage_members, delete_restore, administer); empty without a caller.';

CREATE FUNCTION pulse.caller_is_auditor() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Security invoker on purpose: it asks about the role that runs the query.
    SELECT EXISTS (SELECT 1 FROM pulse.auditor_role a
                    WHERE pg_catalog.pg_has_role(CURRENT_USER, a.role_name, 'MEMBER'));
$$;
COMMENT ON FUNCTION pulse.caller_is_auditor() IS
    'Whether the current database role is (a member of) a registered auditor role.';

-- Readers: members who may read, system administrators, auditors. Writers: members with
-- the permission, and system administrators.
DO $policies$
DECLARE
    t text;
    readers constant text :=
        'project_id = ANY ((SELECT pulse.caller_project_ids(''read''))::bigint[]) OR (SELECT pulse.current_user_is_system_admin()) OR (SELECT pulse.caller_is_auditor())';
    writers constant text :=
        'project_id = ANY ((SELECT pulse.caller_project_ids(''write''))::bigint[]) OR (SELECT pulse.current_user_is_system_admin())';
    admins constant text := '(SELECT pulse.current_user_is_system_admin())';
    everyone constant text := '(SELECT pulse.current_user_id()) IS NOT NULL OR (SELECT pulse.caller_is_auditor())';
BEGIN
    -- Per-project data: read by readers, written by writers.
    FOREACH t IN ARRAY ARRAY['projects.project_feature', 'projects.project_tech_stack', 'projects.project_tag',
                             'projects.project_decision_log', 'projects.decision_feature',
                             'projects.decision_document', 'documents.documents'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format('CREATE POLICY read ON %s FOR SELECT USING (%s)', t, readers);
        EXECUTE pg_catalog.format('CREATE POLICY add ON %s FOR INSERT WITH CHECK (%s)', t, writers);
        EXECUTE pg_catalog.format('CREATE POLICY change ON %s FOR UPDATE USING (%s) WITH CHECK (%s)', t, writers, writers);
        EXECUTE pg_catalog.format('CREATE POLICY remove ON %s FOR DELETE USING (%s)', t,
                                  CASE WHEN t = 'documents.documents' THEN admins ELSE writers END);
    END LOOP;

    -- History: visible exactly when the project is; written only by pulse's definer triggers.
    FOREACH t IN ARRAY ARRAY['audit.project_history', 'audit.document_history'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format('CREATE POLICY read ON %s FOR SELECT USING (%s)', t, readers);
    END LOOP;

    -- Reference data: readable by every authenticated caller, written by system administrators.
    FOREACH t IN ARRAY ARRAY['access_role_reference', 'feature_reference', 'tech_stack_reference', 'license_reference',
                             'phase_reference', 'decision_type_reference', 'tag_reference', 'filetype_reference',
                             'storage_reference', 'priority_reference'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE pulse.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format('CREATE POLICY read ON pulse.%I FOR SELECT USING (%s)', t, everyone);
        EXECUTE pg_catalog.format('CREATE POLICY manage ON pulse.%I FOR ALL USING (%s) WITH CHECK (%s)', t, admins, admins);
    END LOOP;
END
$policies$;

-- Projects: anyone authenticated creates projects they own; writers change them; only
-- system administrators delete them for good (everyone else soft-deletes). The owner always
-- sees the project, also in INSERT ... RETURNING, before the owner membership exists.
ALTER TABLE projects.projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON projects.projects FOR SELECT
    USING (owner_id = (SELECT pulse.current_user_id())
           OR project_id = ANY ((SELECT pulse.caller_project_ids('read'))::bigint[])
           OR (SELECT pulse.current_user_is_system_admin()) OR (SELECT pulse.caller_is_auditor()));
CREATE POLICY add ON projects.projects FOR INSERT
    WITH CHECK (owner_id = (SELECT pulse.current_user_id()) OR (SELECT pulse.current_user_is_system_admin()));
CREATE POLICY change ON projects.projects FOR UPDATE
    USING (project_id = ANY ((SELECT pulse.caller_project_ids('write'))::bigint[]) OR (SELECT pulse.current_user_is_system_admin()))
    WITH CHECK (project_id = ANY ((SELECT pulse.caller_project_ids('write'))::bigint[]) OR (SELECT pulse.current_user_is_system_admin()));
CREATE POLICY remove ON projects.projects FOR DELETE USING ((SELECT pulse.current_user_is_system_admin()));

-- Membership: readers see it; members who manage members change it (rank rules in the trigger).
ALTER TABLE projects.project_member ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON projects.project_member FOR SELECT
    USING (project_id = ANY ((SELECT pulse.caller_project_ids('read'))::bigint[])
           OR (SELECT pulse.current_user_is_system_admin()) OR (SELECT pulse.caller_is_auditor()));
CREATE POLICY manage ON projects.project_member FOR ALL
    USING (project_id = ANY ((SELECT pulse.caller_project_ids('manage_members'))::bigint[]) OR (SELECT pulse.current_user_is_system_admin()))
    WITH CHECK (project_id = ANY ((SELECT pulse.caller_project_ids('manage_members'))::bigint[]) OR (SELECT pulse.current_user_is_system_admin()));

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
CREATE TRIGGER add_owner_membership AFTER INSERT ON projects.projects
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
