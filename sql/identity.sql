-- pulse install script: identity — the signing key, sessions and users API.
--
-- Every SECURITY DEFINER function below pins search_path to pg_catalog, pg_temp and
-- qualifies every name; EXECUTE is revoked from PUBLIC in finalize.sql and granted to
-- application roles by pulse.grant_application_role().

COMMENT ON FUNCTION pulse.authenticate(text, text, text) IS
    'Verify a session token and make its user the caller of the current transaction; returns the user id. Refusals are SQLSTATE class 28. The end user''s address and user agent, when given, go to the session monitor.';
COMMENT ON FUNCTION pulse.current_user_id() IS
    'The authenticated user of the current transaction, or NULL. Never taken from a setting a client can write.';
COMMENT ON FUNCTION pulse.current_session_id() IS
    'The session of the current transaction''s caller, or NULL.';
COMMENT ON FUNCTION pulse.current_user_is_system_admin() IS
    'Whether the authenticated caller is a system administrator (false without a caller).';
COMMENT ON FUNCTION pulse.new_session_token() IS
    'Internal: a fresh session token, 256 bits from the server''s strong random source.';
COMMENT ON FUNCTION pulse.strong_random_key() IS
    'Internal: 32 bytes from the server''s strong random source.';

-- The key that signs identity assertions (see src/identity.rs). One row, readable only by
-- the extension's owner; not dumped, so a restored database gets a key of its own.
CREATE TABLE pulse.identity_key (
    singleton   boolean PRIMARY KEY DEFAULT true,
    key         bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT identity_key_singleton CHECK (singleton),
    CONSTRAINT identity_key_length CHECK (octet_length(key) = 32)
);
COMMENT ON TABLE pulse.identity_key IS
    'HMAC-SHA256 key that signs the identity assertions pulse.authenticate() hands to other backends. Readable only by the extension owner; never dumped.';
COMMENT ON COLUMN pulse.identity_key.singleton IS 'Always true: the table holds exactly one key.';
COMMENT ON COLUMN pulse.identity_key.key IS '32 bytes from the server''s strong random source.';
COMMENT ON COLUMN pulse.identity_key.created_at IS 'When the key was generated or last rotated.';
INSERT INTO pulse.identity_key (key) VALUES (pulse.strong_random_key());
-- Backends cache the key; any change makes them all read it again (src/identity.rs).
-- The trigger function is Rust (src/direct_read.rs).
CREATE FUNCTION pulse.forget_cached_copies() RETURNS trigger
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'forget_cached_copies_wrapper';
CREATE TRIGGER forget_cached_copies AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pulse.identity_key
    FOR EACH STATEMENT EXECUTE FUNCTION pulse.forget_cached_copies();
COMMENT ON FUNCTION pulse.forget_cached_copies() IS
    'Statement trigger on tables whose contents backends cache (identity key, history column policies and salt, reference labels): makes every backend read them again.';

CREATE FUNCTION pulse.rotate_identity_key() RETURNS timestamptz
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE pulse.identity_key SET key = pulse.strong_random_key(), created_at = pg_catalog.now()
    RETURNING created_at;
$$;
COMMENT ON FUNCTION pulse.rotate_identity_key() IS
    'Replace the identity key. Assertions signed with the old key stop verifying at once; sessions are not affected.';

COMMENT ON FUNCTION pulse.check_password_hash(text) IS
    'Validate a PHC password hash (argon2id/i/d, bcrypt, scrypt) and return its algorithm; anything else, a plaintext password above all, is refused with 22023.';

-- Who may manage users and sessions other than their own: an authenticated system
-- administrator, or the maintenance path (no caller, and the login role is a superuser:
-- the DBA's migrations, bulk loads and the very first administrator).
CREATE FUNCTION pulse.require_system_admin(action text) RETURNS void
    LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (pulse.current_user_is_system_admin()
            OR (pulse.current_user_id() IS NULL
                AND (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = SESSION_USER))) THEN
        RAISE EXCEPTION 'only a system administrator may %', action USING ERRCODE = '42501';
    END IF;
END
$$;
COMMENT ON FUNCTION pulse.require_system_admin(text) IS
    'Raise 42501 unless the authenticated caller is a system administrator, or there is no caller and the login role is a superuser (maintenance path).';

CREATE FUNCTION pulse.require_self_or_system_admin(user_id integer, action text) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF user_id IS DISTINCT FROM pulse.current_user_id() THEN
        PERFORM pulse.require_system_admin(action);
    END IF;
END
$$;
COMMENT ON FUNCTION pulse.require_self_or_system_admin(integer, text) IS
    'Raise 42501 unless user_id is the authenticated caller themself, or pulse.require_system_admin(action) passes.';

CREATE FUNCTION users.create_user(email text, display_name text, password_hash text DEFAULT NULL,
                                  is_system_admin boolean DEFAULT false) RETURNS integer
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id integer;
BEGIN
    IF email IS NULL OR display_name IS NULL OR is_system_admin IS NULL THEN
        RAISE EXCEPTION 'email, display_name and is_system_admin must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF is_system_admin THEN
        PERFORM pulse.require_system_admin('create a system administrator');
    END IF;
    IF password_hash IS NOT NULL THEN
        PERFORM pulse.check_password_hash(password_hash);
    END IF;
    INSERT INTO users.users (email, display_name, password_hash, is_system_admin)
    VALUES (create_user.email, create_user.display_name, create_user.password_hash, create_user.is_system_admin)
    RETURNING user_id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION users.create_user(text, text, text, boolean) IS
    'Create a user (sign-up). The password hash is a PHC string made by the application; only a system administrator may create another.';

CREATE FUNCTION users.set_password_hash(user_id integer, password_hash text) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pulse.require_self_or_system_admin(set_password_hash.user_id, 'set another user''s password');
    IF password_hash IS NOT NULL THEN
        PERFORM pulse.check_password_hash(password_hash);
    END IF;
    UPDATE users.users u SET password_hash = set_password_hash.password_hash WHERE u.user_id = set_password_hash.user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % does not exist', set_password_hash.user_id USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION users.set_password_hash(integer, text) IS
    'Set (or with NULL, remove) a user''s password hash: the user themself or a system administrator. Revokes all their sessions.';

CREATE FUNCTION users.set_user_active(user_id integer, active boolean) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pulse.require_system_admin('enable or disable users');
    UPDATE users.users u SET is_active = active WHERE u.user_id = set_user_active.user_id AND u.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % does not exist or is deleted', set_user_active.user_id USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION users.set_user_active(integer, boolean) IS
    'Enable or disable a user (system administrators only). Disabling revokes all their sessions.';

-- Disabling a user or changing their password hash ends every session they have.
CREATE FUNCTION users.revoke_sessions_on_credential_change() RETURNS trigger
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE users.sessions s
       SET revoked_at = pg_catalog.now(),
           revoked_reason = CASE WHEN NOT NEW.is_active OR NEW.deleted_at IS NOT NULL THEN 'user disabled'
                                 ELSE 'password changed' END
     WHERE s.user_id = NEW.user_id AND s.revoked_at IS NULL;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION users.revoke_sessions_on_credential_change() IS
    'AFTER UPDATE trigger on users.users: revokes the user''s sessions when they are disabled, deleted or their password hash changes.';
CREATE TRIGGER revoke_sessions_on_credential_change AFTER UPDATE OF is_active, deleted_at, password_hash ON users.users
    FOR EACH ROW
    WHEN ((OLD.is_active AND NOT NEW.is_active)
          OR (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
          OR OLD.password_hash IS DISTINCT FROM NEW.password_hash)
    EXECUTE FUNCTION users.revoke_sessions_on_credential_change();

-- Sign-in: the application verifies passwords itself (argon2id), so it needs the hash of
-- the user who signs in, before there is a session and so before row-level security shows
-- anyone. A role granted with pulse.grant_sign_in_role gets exactly this: one active user's
-- id and hash per e-mail address, and nothing else.
CREATE FUNCTION users.sign_in_credentials(email text)
    RETURNS TABLE (user_id integer, password_hash text)
    LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT u.user_id, u.password_hash FROM users.users u
     WHERE lower(u.email) = lower(sign_in_credentials.email) AND u.is_active AND u.deleted_at IS NULL
       AND u.password_hash IS NOT NULL;
END;
COMMENT ON FUNCTION users.sign_in_credentials(text) IS
    'The id and PHC password hash of the active user with this e-mail address (case-insensitive), for the application to verify a password; for sign-in roles only.';

CREATE FUNCTION pulse.grant_sign_in_role(role_name name) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = '42704';
    END IF;
    EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA users TO %I', role_name);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION users.sign_in_credentials(text) TO %I', role_name);
END
$$;
COMMENT ON FUNCTION pulse.grant_sign_in_role(name) IS
    'Grant an existing role users.sign_in_credentials(email) and nothing else: the role an application uses to read a password hash at sign-in.';

CREATE FUNCTION users.open_session(user_id integer, ttl interval DEFAULT NULL, ip_address inet DEFAULT NULL,
                                   user_agent text DEFAULT NULL, metadata jsonb DEFAULT '{}')
    RETURNS TABLE (session_id uuid, token text, expires_at timestamptz)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- First: a call into pulse's library defines the pulse.* settings read below.
    new_token text := pulse.new_session_token();
    max_ttl interval := pg_catalog.current_setting('pulse.session_lifetime')::interval;
    effective_ttl interval := COALESCE(ttl, max_ttl);
    account record;
BEGIN
    SELECT u.is_active AND u.deleted_at IS NULL AS usable INTO account FROM users.users u WHERE u.user_id = open_session.user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % does not exist', open_session.user_id USING ERRCODE = '22023';
    ELSIF NOT account.usable THEN
        RAISE EXCEPTION 'user is disabled' USING ERRCODE = '28000';
    END IF;
    IF effective_ttl <= interval '0' OR effective_ttl > max_ttl THEN
        RAISE EXCEPTION 'session ttl must be positive and at most %', max_ttl
            USING ERRCODE = '22023', HINT = 'The maximum is pulse.session_lifetime.';
    END IF;
    IF metadata IS NULL OR pg_catalog.jsonb_typeof(metadata) <> 'object' THEN
        RAISE EXCEPTION 'session metadata must be a JSON object' USING ERRCODE = '22023';
    END IF;
    IF pg_catalog.length(user_agent) > 1024 OR user_agent ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'user agent must be at most 1024 characters without control characters' USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    INSERT INTO users.sessions AS s (user_id, token_hash, expires_at, ip_address, user_agent, metadata)
    VALUES (open_session.user_id, pg_catalog.sha256(pg_catalog.convert_to(new_token, 'UTF8')),
            pg_catalog.now() + effective_ttl, open_session.ip_address, open_session.user_agent, open_session.metadata)
    RETURNING s.session_id, new_token, s.expires_at;
END
$$;
COMMENT ON FUNCTION users.open_session(integer, interval, inet, text, jsonb) IS
    'Open a session for a user whose password the application has verified. Returns the token exactly once; only its SHA-256 is stored.';

CREATE FUNCTION users.revoke_session(session_id uuid, reason text DEFAULT 'signed out') RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE users.sessions s
       SET revoked_at = pg_catalog.now(), revoked_reason = COALESCE(reason, 'signed out')
     WHERE s.session_id = revoke_session.session_id AND s.revoked_at IS NULL
       AND (s.user_id = pulse.current_user_id() OR pulse.current_user_is_system_admin());
    IF NOT FOUND THEN
        -- Unknown, already revoked and someone else's look the same: nothing to learn here.
        RAISE EXCEPTION 'no active session % of yours to revoke', revoke_session.session_id USING ERRCODE = '42501';
    END IF;
END
$$;
COMMENT ON FUNCTION users.revoke_session(uuid, text) IS
    'Revoke one session (sign-out): the caller''s own, or any as a system administrator.';

CREATE FUNCTION users.revoke_user_sessions(user_id integer, reason text DEFAULT 'revoked') RETURNS integer
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    PERFORM pulse.require_self_or_system_admin(revoke_user_sessions.user_id, 'revoke another user''s sessions');
    UPDATE users.sessions s SET revoked_at = pg_catalog.now(), revoked_reason = COALESCE(reason, 'revoked')
     WHERE s.user_id = revoke_user_sessions.user_id AND s.revoked_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION users.revoke_user_sessions(integer, text) IS
    'Revoke every active session of a user (the caller themself, or anyone as a system administrator); returns how many.';

CREATE FUNCTION users.active_sessions(user_id integer DEFAULT NULL)
    RETURNS TABLE (session_id uuid, created_at timestamptz, expires_at timestamptz, last_active_at timestamptz,
                   ip_address inet, user_agent text, metadata jsonb)
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Security invoker: row-level security shows users their own sessions, admins all.
    SELECT s.session_id, s.created_at, s.expires_at, s.last_active_at, s.ip_address, s.user_agent, s.metadata
      FROM users.sessions s
     WHERE s.user_id = COALESCE(active_sessions.user_id, pulse.current_user_id())
       AND s.revoked_at IS NULL AND s.expires_at > pg_catalog.now()
     ORDER BY s.created_at;
$$;
COMMENT ON FUNCTION users.active_sessions(integer) IS
    'Active sessions of a user (default: the caller), as row-level security lets the caller see them.';

CREATE FUNCTION users.purge_expired_sessions(older_than interval DEFAULT interval '30 days') RETURNS integer
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF older_than IS NULL OR older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must be a non-negative interval' USING ERRCODE = '22023';
    END IF;
    PERFORM pulse.require_system_admin('purge sessions');
    DELETE FROM users.sessions s
     WHERE COALESCE(s.revoked_at, s.expires_at) < pg_catalog.now() - older_than
       AND (s.revoked_at IS NOT NULL OR s.expires_at < pg_catalog.now());
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION users.purge_expired_sessions(interval) IS
    'Delete sessions that expired or were revoked more than older_than ago; returns how many.';
