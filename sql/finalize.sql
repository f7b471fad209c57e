-- pulse install script, last part: privileges.
--
-- PostgreSQL grants EXECUTE on new functions to PUBLIC; pulse takes that back for every
-- function it creates, and grants what an application or an auditor needs only to the roles
-- a DBA names. pulse creates no cluster-wide roles: the DBA's own roles are used as they are.
-- (The REVOKE is the last statement, so that it covers the functions defined here too.)

-- What every pulse reader needs, application or auditor: schema usage, the functions
-- row-level security policies call (they reveal only the caller's own standing), and SELECT
-- on every table, with credentials withheld by column privileges (no password_hash, no
-- token_hash) and the identity key not granted at all.
CREATE FUNCTION pulse.grant_reader_privileges(role_name name) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = '42704';
    END IF;
    EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA pulse, users, projects, documents, audit TO %I', role_name);
    EXECUTE pg_catalog.format(
        'GRANT EXECUTE ON FUNCTION pulse.current_user_id(), pulse.current_session_id(), pulse.current_user_is_system_admin(),
                                   pulse.caller_project_ids(text), pulse.caller_all_projects_from(text),
                                   pulse.caller_holds(text, bigint),
                                   pulse.caller_is_auditor() TO %I', role_name);
    EXECUTE pg_catalog.format('GRANT SELECT ON ALL TABLES IN SCHEMA projects, documents, audit TO %I', role_name);
    EXECUTE pg_catalog.format('GRANT SELECT ON pulse.project_access TO %I', role_name);
    EXECUTE pg_catalog.format(
        'GRANT EXECUTE ON FUNCTION audit.project_as_of(bigint, timestamptz), audit.document_as_of(bigint, timestamptz),
                                   audit.project_diff(bigint, integer, integer),
                                   audit.document_diff(bigint, integer, integer),
                                   audit.purgeable_history(timestamptz) TO %I', role_name);
    EXECUTE pg_catalog.format(
        'GRANT EXECUTE ON FUNCTION pulse.sha256_hex(bytea), pulse.sha256_bytes(bytea), pulse.is_sha256_hex(text),
                                   documents.download_url(bigint, integer, integer), documents.find_duplicates(bigint),
                                   documents.reconcile(text, jsonb), documents.duplicate_policy(text),
                                   documents.filetype_of(text), documents.check_content(bigint, text),
                                   documents.object_key_for(integer, bigint, text), pulse.require_system_admin(text) TO %I', role_name);
    EXECUTE pg_catalog.format(
        'GRANT EXECUTE ON FUNCTION projects.search_projects(jsonb, integer, text), projects.project_facets(jsonb),
                                   documents.search_documents(jsonb, integer, text), documents.document_facets(jsonb),
                                   pulse.parse_discovery_filter(text, jsonb, integer, text),
                                   pulse.discovery_cursor(text, text, bigint, bigint) TO %I', role_name);
    EXECUTE pg_catalog.format(
        'GRANT SELECT ON pulse.auditor_role, %s TO %I', pulse.reference_table_list(), role_name);
    EXECUTE pg_catalog.format(
        'GRANT SELECT (user_id, email, display_name, is_active, is_system_admin, created_at, updated_at, deleted_at)
             ON users.users TO %I', role_name);
    EXECUTE pg_catalog.format(
        'GRANT SELECT (session_id, user_id, created_at, expires_at, revoked_at, revoked_reason, last_active_at,
                       user_agent, ip_address, metadata) ON users.sessions TO %I', role_name);
END
$$;
COMMENT ON FUNCTION pulse.grant_reader_privileges(name) IS
    'Internal: what pulse.grant_application_role() and pulse.grant_auditor_role() both grant.';

CREATE FUNCTION pulse.grant_application_role(role_name name) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    SELECT rolsuper, rolbypassrls INTO r FROM pg_catalog.pg_roles WHERE rolname = role_name;
    IF FOUND AND (r.rolsuper OR r.rolbypassrls) THEN
        RAISE EXCEPTION 'role "%" bypasses row-level security and must not be an application role', role_name
            USING ERRCODE = '22023', HINT = 'Connect the application as a login role without SUPERUSER or BYPASSRLS.';
    END IF;
    PERFORM pulse.grant_reader_privileges(role_name);
    EXECUTE pg_catalog.format(
        'GRANT EXECUTE ON FUNCTION pulse.authenticate(text, text, text), pulse.check_password_hash(text),
                                   users.create_user(text, text, text, boolean), users.set_password_hash(integer, text),
                                   users.set_user_active(integer, boolean),
                                   users.open_session(integer, interval, inet, text, jsonb), users.revoke_session(uuid, text),
                                   users.revoke_user_sessions(integer, text), users.active_sessions(integer),
                                   users.purge_expired_sessions(interval), pulse.set_change_reason(text),
                                   audit.rollback_project(bigint, integer, integer),
                                   audit.rollback_document(bigint, integer, integer),
                                   audit.set_column_policy(regclass, name, text),
                                   audit.place_legal_hold(bigint, text), audit.release_legal_hold(bigint),
                                   audit.purge_history(text),
                                   documents.register_document(bigint, text, text, text, text, bigint, text, text, integer, jsonb),
                                   documents.new_revision(bigint, text, text, bigint, text, integer),
                                   documents.confirm_upload(bigint, bigint, text), documents.upload_url(bigint, integer),
                                   documents.soft_delete_document(bigint), documents.restore_document(bigint),
                                   projects.soft_delete_project(bigint), projects.restore_project(bigint),
                                   documents.purge_deleted_documents(interval) TO %I', role_name);
    -- Row-level security decides which rows each write may touch.
    EXECUTE pg_catalog.format('GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA projects, documents TO %I', role_name);
    EXECUTE pg_catalog.format('GRANT INSERT, UPDATE, DELETE ON %s TO %I', pulse.reference_table_list(), role_name);
END
$$;
COMMENT ON FUNCTION pulse.grant_application_role(name) IS
    'Grant an existing login role (neither superuser nor BYPASSRLS) what an application needs: the SQL API, and tables under row-level security.';

CREATE FUNCTION pulse.grant_auditor_role(role_name name) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pulse.grant_reader_privileges(role_name);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION audit.verify(), audit.statement_stats(), users.session_backends(),
                                                      users.failed_authentications() TO %I', role_name);
    EXECUTE pg_catalog.format('GRANT SELECT ON users.session_monitor, users.session_anomalies TO %I', role_name);
    EXECUTE pg_catalog.format(
        'GRANT SELECT ON pulse.table_inventory, pulse.column_inventory, pulse.constraint_inventory, pulse.index_inventory,
                         pulse.catalog_problems, pulse.role_privileges, pulse.role_flags, audit.statement_statistics TO %I', role_name);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pulse.er_diagram(text), audit.statement_stats_available() TO %I', role_name);
    INSERT INTO pulse.auditor_role (role_name) VALUES (grant_auditor_role.role_name) ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION pulse.grant_auditor_role(name) IS
    'Grant an existing role read-only access to every pulse row (history included) without a session, audit.verify(), audit.statement_stats() and the session monitor; credentials stay hidden.';

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA pulse, users, projects, documents, audit FROM PUBLIC;
