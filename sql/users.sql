-- pulse install script: users and sessions (seed Step 1).

-- Keeps updated_at honest on tables whose rows people edit. Names are qualified so the
-- caller's search_path cannot redirect now().
CREATE FUNCTION pulse.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
BEGIN
    NEW.updated_at := pg_catalog.now();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION pulse.touch_updated_at() IS
    'BEFORE UPDATE trigger: sets updated_at to the transaction timestamp.';

CREATE TABLE users.users (
    user_id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email            text NOT NULL,
    display_name     text NOT NULL,
    password_hash    text,
    is_active        boolean NOT NULL DEFAULT true,
    is_system_admin  boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    CONSTRAINT users_email_format
        CHECK (length(email) <= 254 AND email ~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+$'),
    CONSTRAINT users_display_name_format
        CHECK (display_name = btrim(display_name) AND display_name <> '' AND length(display_name) <= 200
               AND display_name !~ '[[:cntrl:]]'),
    -- A PHC string of an accepted algorithm, never a password: argon2id/argon2i/argon2d,
    -- bcrypt ($2a$/$2b$/$2y$) or scrypt, with their parameter and base64 sections.
    CONSTRAINT users_password_hash_phc CHECK (
        length(password_hash) <= 512 AND (
            password_hash ~ '^\$argon2(id|i|d)\$v=[0-9]{1,3}\$m=[0-9]{1,10},t=[0-9]{1,10},p=[0-9]{1,3}\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}$'
         OR password_hash ~ '^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$'
         OR password_hash ~ '^\$scrypt\$ln=[0-9]{1,2},r=[0-9]{1,3},p=[0-9]{1,3}\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}$')),
    CONSTRAINT users_updated_after_created CHECK (updated_at >= created_at),
    CONSTRAINT users_deleted_after_created CHECK (deleted_at >= created_at),
    CONSTRAINT users_deleted_is_inactive CHECK (deleted_at IS NULL OR NOT is_active)
);
CREATE UNIQUE INDEX users_email_key ON users.users (lower(email));
CREATE TRIGGER touch_updated_at BEFORE UPDATE ON users.users
    FOR EACH ROW EXECUTE FUNCTION pulse.touch_updated_at();
COMMENT ON TABLE users.users IS
    'Application users: identity and login credentials. Passwords are verified by the application; only their PHC hash is stored.';
COMMENT ON COLUMN users.users.user_id IS 'Database-generated integer identity (the seed''s SERIAL, as an identity column).';
COMMENT ON COLUMN users.users.email IS 'Login e-mail address; unique case-insensitively (index users_email_key on lower(email)).';
COMMENT ON COLUMN users.users.display_name IS 'Name shown to other users.';
COMMENT ON COLUMN users.users.password_hash IS 'PHC string (argon2id/i/d, bcrypt or scrypt) produced by the application; NULL for users who cannot sign in with a password.';
COMMENT ON COLUMN users.users.is_active IS 'False for a disabled user: no new sessions, existing ones revoked.';
COMMENT ON COLUMN users.users.is_system_admin IS 'System administrators manage reference data and users, and see every project.';
COMMENT ON COLUMN users.users.created_at IS 'When the user was created.';
COMMENT ON COLUMN users.users.updated_at IS 'When the row last changed (maintained by trigger).';
COMMENT ON COLUMN users.users.deleted_at IS 'Soft deletion time; a deleted user is also inactive. The row stays so that history keeps naming its author.';

CREATE TABLE users.sessions (
    session_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         integer NOT NULL REFERENCES users.users (user_id) ON DELETE CASCADE,
    token_hash      bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_reason  text,
    last_active_at  timestamptz NOT NULL DEFAULT now(),
    user_agent      text,
    ip_address      inet,
    metadata        jsonb NOT NULL DEFAULT '{}',
    CONSTRAINT sessions_token_hash_sha256 CHECK (octet_length(token_hash) = 32),
    CONSTRAINT sessions_expires_after_created CHECK (expires_at > created_at),
    CONSTRAINT sessions_revoked_after_created CHECK (revoked_at >= created_at),
    CONSTRAINT sessions_reason_needs_revocation CHECK (revoked_reason IS NULL OR revoked_at IS NOT NULL),
    CONSTRAINT sessions_reason_format CHECK (length(revoked_reason) BETWEEN 1 AND 200),
    CONSTRAINT sessions_active_after_created CHECK (last_active_at >= created_at),
    CONSTRAINT sessions_user_agent_format CHECK (length(user_agent) <= 1024 AND user_agent !~ '[[:cntrl:]]'),
    CONSTRAINT sessions_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX sessions_user_id_idx ON users.sessions (user_id);
COMMENT ON TABLE users.sessions IS
    'Authentication sessions: one row per issued token, with its lifetime and the context it was opened in. The token itself is never stored.';
COMMENT ON COLUMN users.sessions.session_id IS 'Session identifier, recorded in every history row the session writes.';
COMMENT ON COLUMN users.sessions.user_id IS 'The user the session authenticates.';
COMMENT ON COLUMN users.sessions.token_hash IS 'SHA-256 of the bearer token; the token is shown once to the caller and never stored.';
COMMENT ON COLUMN users.sessions.created_at IS 'When the session was opened.';
COMMENT ON COLUMN users.sessions.expires_at IS 'Absolute expiry; the session is refused after it.';
COMMENT ON COLUMN users.sessions.revoked_at IS 'When the session was revoked (sign-out, user disabled, password changed); NULL while valid.';
COMMENT ON COLUMN users.sessions.revoked_reason IS 'Why the session was revoked.';
COMMENT ON COLUMN users.sessions.last_active_at IS 'Last authentication with this session, written at most once per configured interval; drives the idle timeout.';
COMMENT ON COLUMN users.sessions.user_agent IS 'User agent the session was opened from, for anomaly detection.';
COMMENT ON COLUMN users.sessions.ip_address IS 'Client address the session was opened from, for anomaly detection.';
COMMENT ON COLUMN users.sessions.metadata IS 'Free-form context supplied by the application (a JSON object).';

SELECT pg_catalog.pg_extension_config_dump('users.users', '');
SELECT pg_catalog.pg_extension_config_dump('users.users_user_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('users.sessions', '');
