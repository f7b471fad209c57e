"""Sessions, authentication and the identity that cannot be forged."""

import uuid

import psycopg
import pytest

from conftest import admin_dsn, create_app_database, drop_database
from populate import ARGON2ID, BCRYPT


@pytest.fixture(scope="module")
def env():
    """A database with an application role and a few users with sessions."""
    db = create_app_database()
    with db.connect(autocommit=True) as su:
        ids = {}
        ids["alice"] = su.execute("SELECT users.create_user('alice@example.com', 'Alice', %s, true)", (ARGON2ID,)).fetchone()[0]
        ids["bob"] = su.execute("SELECT users.create_user('bob@example.com', 'Bob', %s)", (BCRYPT,)).fetchone()[0]
        tokens = {}
        for name in ("alice", "bob"):
            sid, token, _ = su.execute("SELECT * FROM users.open_session(%s, user_agent => 'pytest')", (ids[name],)).fetchone()
            tokens[name] = token
            ids[name + "_session"] = sid
    db.ids, db.tokens = ids, tokens
    yield db
    drop_database(db)


def app(env) -> psycopg.Connection:
    return psycopg.connect(env.app_dsn)


def test_open_session_returns_a_256_bit_token_and_stores_only_its_hash(env):
    token = env.tokens["alice"]
    assert token.startswith("pulse_") and len(token) == 49
    with psycopg.connect(admin_dsn(env.name)) as su:
        stored = su.execute("SELECT token_hash FROM users.sessions WHERE session_id = %s",
                            (env.ids["alice_session"],)).fetchone()[0]
        assert bytes(stored) == su.execute("SELECT sha256(convert_to(%s, 'UTF8'))", (token,)).fetchone()[0]
        dump = su.execute("SELECT string_agg(s::text, ' ') FROM users.sessions s").fetchone()[0]
        assert token not in dump and token[6:] not in dump


def test_authenticate_sets_the_caller_for_this_transaction_only(env):
    with app(env) as conn:
        assert conn.execute("SELECT pulse.current_user_id()").fetchone() == (None,)
        assert conn.execute("SELECT pulse.authenticate(%s)", (env.tokens["bob"],)).fetchone() == (env.ids["bob"],)
        assert conn.execute("SELECT pulse.current_user_id(), pulse.current_session_id()").fetchone() == (
            env.ids["bob"], env.ids["bob_session"])
        conn.commit()
        # Same connection, next transaction: nobody.
        assert conn.execute("SELECT pulse.current_user_id(), pulse.current_session_id()").fetchone() == (None, None)
        conn.rollback()
        conn.execute("SELECT pulse.authenticate(%s)", (env.tokens["alice"],))
        conn.rollback()
        assert conn.execute("SELECT pulse.current_user_id()").fetchone() == (None,)


def test_identity_established_in_an_aborted_savepoint_is_gone(env):
    with app(env) as conn:
        with conn.transaction():
            with pytest.raises(psycopg.errors.DivisionByZero):
                with conn.transaction():
                    conn.execute("SELECT pulse.authenticate(%s)", (env.tokens["bob"],))
                    conn.execute("SELECT 1 / 0")
            assert conn.execute("SELECT pulse.current_user_id()").fetchone() == (None,)


@pytest.mark.parametrize("token,message", [
    (None, "invalid session token"),
    ("", "invalid session token"),
    ("not-a-token", "invalid session token"),
    ("pulse_" + "A" * 43, "unknown session token"),
])
def test_bad_tokens_are_refused_with_class_28(env, token, message):
    with app(env) as conn:
        with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification) as raised:
            conn.execute("SELECT pulse.authenticate(%s)", (token,))
        assert raised.value.diag.message_primary == message
        if token:
            assert token not in str(raised.value)


def session_for(env, user, **changes):
    """A fresh session for user, with columns then changed as the maintenance path."""
    with psycopg.connect(admin_dsn(env.name), autocommit=True) as su:
        sid, token, _ = su.execute("SELECT * FROM users.open_session(%s)", (env.ids[user],)).fetchone()
        for column, expression in changes.items():
            su.execute(f"UPDATE users.sessions SET {column} = {expression} WHERE session_id = %s", (sid,))
    return sid, token


@pytest.mark.parametrize("changes,message", [
    ({"revoked_at": "now()"}, "session has been revoked"),
    ({"created_at": "now() - interval '2 days'", "last_active_at": "now() - interval '2 days'",
      "expires_at": "now() - interval '1 day'"}, "session has expired"),
    ({"created_at": "now() - interval '2 hours'", "last_active_at": "now() - interval '2 hours'"},
     "session has been idle for too long"),
])
def test_session_states_are_refused_each_with_its_own_error(env, changes, message):
    _, token = session_for(env, "bob", **changes)
    with app(env) as conn:
        with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification) as raised:
            conn.execute("SELECT pulse.authenticate(%s)", (token,))
        assert raised.value.diag.message_primary == message


def test_disabling_a_user_revokes_sessions_and_refuses_them(env):
    with psycopg.connect(admin_dsn(env.name), autocommit=True) as su:
        uid = su.execute("SELECT users.create_user('carol@example.com', 'Carol')").fetchone()[0]
        sid, token, _ = su.execute("SELECT * FROM users.open_session(%s)", (uid,)).fetchone()
        su.execute("UPDATE users.users SET is_active = false WHERE user_id = %s", (uid,))
        assert su.execute("SELECT revoked_reason FROM users.sessions WHERE session_id = %s", (sid,)).fetchone() == (
            "user disabled",)
        with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification, match="user is disabled"):
            su.execute("SELECT * FROM users.open_session(%s)", (uid,))
    with app(env) as conn:
        with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification, match="user is disabled"):
            conn.execute("SELECT pulse.authenticate(%s)", (token,))


def test_changing_the_password_hash_revokes_sessions(env):
    sid, token = session_for(env, "bob")
    with app(env) as conn:
        conn.execute("SELECT pulse.authenticate(%s)", (token,))
        conn.execute("SELECT users.set_password_hash(%s, %s)", (env.ids["bob"], ARGON2ID))
        conn.commit()
        with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification, match="revoked"):
            conn.execute("SELECT pulse.authenticate(%s)", (token,))


@pytest.mark.parametrize("value", ["hunter2", "correct horse battery staple", "$md5$abc", "$2b$03$" + "a" * 53])
def test_plaintext_or_unknown_password_hashes_are_refused(env, value):
    with app(env) as conn:
        with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
            conn.execute("SELECT users.create_user('eve@example.com', 'Eve', %s)", (value,))
        assert value not in str(raised.value) and value not in (raised.value.diag.message_detail or "")


def test_setting_the_identity_by_hand_yields_nobody(env):
    _, token = session_for(env, "bob")
    with app(env) as conn:
        conn.execute("SELECT pulse.authenticate(%s)", (token,))
        genuine = conn.execute("SELECT current_setting('pulse.identity')").fetchone()[0]
        conn.rollback()
        user, session, expiry, mac = genuine.split(".")[1:]
        forged = f"v1.{env.ids['alice']}.{session}.{expiry}.{mac}"
        for attempt in (forged, "v1.1.00000000-0000-0000-0000-000000000001.9999999999.AAAA", "anything"):
            conn.execute("SELECT set_config('pulse.identity', %s, true)", (attempt,))
            assert conn.execute("SELECT pulse.current_user_id()").fetchone() == (None,)
            conn.rollback()
            conn.execute(f"SET LOCAL pulse.identity = '{attempt}'")
            assert conn.execute("SELECT pulse.current_user_id()").fetchone() == (None,)
            conn.rollback()
        # The genuine assertion, replayed by a backend that never authenticated, is trusted
        # only while its session is valid.
        conn.execute("SELECT set_config('pulse.identity', %s, true)", (genuine,))
        assert conn.execute("SELECT pulse.current_user_id()").fetchone() == (env.ids["bob"],)
        conn.rollback()


def test_replayed_assertion_dies_with_its_session(env):
    sid, token = session_for(env, "bob")
    with app(env) as conn:
        conn.execute("SELECT pulse.authenticate(%s)", (token,))
        genuine = conn.execute("SELECT current_setting('pulse.identity')").fetchone()[0]
        conn.execute("SELECT users.revoke_session(%s)", (sid,))
        conn.commit()
        conn.execute("SELECT set_config('pulse.identity', %s, true)", (genuine,))
        assert conn.execute("SELECT pulse.current_user_id()").fetchone() == (None,)


def test_last_active_at_is_written_at_most_once_per_interval(env):
    sid, token = session_for(env, "bob", last_active_at="created_at")
    with app(env) as conn:
        def last_active():
            with psycopg.connect(admin_dsn(env.name)) as su:
                return su.execute("SELECT last_active_at FROM users.sessions WHERE session_id = %s", (sid,)).fetchone()[0]
        before = last_active()
        conn.execute("SELECT pulse.authenticate(%s)", (token,))
        conn.commit()
        first = last_active()
        conn.execute("SELECT pulse.authenticate(%s)", (token,))
        conn.commit()
        assert last_active() == first  # within pulse.session_touch_interval: no second write
        assert first >= before


def test_open_session_validates_its_arguments(env):
    with psycopg.connect(admin_dsn(env.name)) as su:
        for call, state in [
            ("SELECT users.open_session(-5)", "22023"),
            ("SELECT users.open_session(%s, ttl => interval '0')" % env.ids["bob"], "22023"),
            ("SELECT users.open_session(%s, ttl => interval '400 days')" % env.ids["bob"], "22023"),
            ("SELECT users.open_session(%s, metadata => '[1]')" % env.ids["bob"], "22023"),
            ("SELECT users.open_session(%s, user_agent => E'x\\ny')" % env.ids["bob"], "22023"),
        ]:
            with pytest.raises(psycopg.Error) as raised:
                su.execute(call)
            assert raised.value.sqlstate == state, call
            su.rollback()


def test_privileged_functions_are_not_executable_by_the_application(env):
    with app(env) as conn:
        for call in ("SELECT pulse.new_session_token()", "SELECT pulse.strong_random_key()",
                     "SELECT pulse.rotate_identity_key()", "SELECT key FROM pulse.identity_key",
                     "SELECT password_hash FROM users.users", "SELECT token_hash FROM users.sessions"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(call)
            conn.rollback()


def test_application_role_must_not_bypass_rls(env):
    with psycopg.connect(admin_dsn(env.name), autocommit=True) as su:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="bypasses row-level security"):
            su.execute("SELECT pulse.grant_application_role('postgres')")


def test_hostile_search_path_and_planted_operators_change_nothing(env):
    """Operators and functions planted ahead of pg_catalog neither forge an identity nor run
    with pulse's rights: the replay check of an assertion, the session lookup and the
    policies all resolve names in pg_catalog only."""
    revoked_sid, revoked_token = session_for(env, "bob")
    _, token = session_for(env, "bob")
    with app(env) as conn:
        conn.execute("SELECT pulse.authenticate(%s)", (revoked_token,))
        replayed = conn.execute("SELECT current_setting('pulse.identity')").fetchone()[0]
        conn.execute("SELECT users.revoke_session(%s)", (revoked_sid,))
        conn.commit()
        conn.execute("SELECT pulse.authenticate(%s)", (token,))
        genuine = conn.execute("SELECT current_setting('pulse.identity')").fetchone()[0]
        conn.commit()

    schema = "evil_" + uuid.uuid4().hex[:8]
    with psycopg.connect(admin_dsn(env.name), autocommit=True) as su:
        su.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {env.app_role}")
    with app(env) as conn:
        conn.execute(f"""
            CREATE TABLE {schema}.calls (who name);
            GRANT INSERT ON {schema}.calls TO PUBLIC;
            CREATE FUNCTION {schema}.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;
            CREATE FUNCTION {schema}.sha256(bytea) RETURNS bytea LANGUAGE sql AS $$ SELECT $1 $$;
        """)
        for i, (op, typ) in enumerate((("=", "uuid"), ("=", "integer"), ("=", "bytea"), (">", "timestamptz"),
                                       ("<=", "timestamptz"), ("=", "name"), ("=", "bigint"))):
            conn.execute(f"""CREATE FUNCTION {schema}.yes{i}({typ}, {typ}) RETURNS boolean LANGUAGE plpgsql AS $$
                                 BEGIN INSERT INTO {schema}.calls VALUES (current_user); RETURN true; END $$""")
            conn.execute(f"CREATE OPERATOR {schema}.{op} (LEFTARG = {typ}, RIGHTARG = {typ}, FUNCTION = {schema}.yes{i})")
        conn.commit()
        conn.execute(f"SET search_path = {schema}, pg_catalog, pg_temp")

        # A replayed assertion of a revoked session: still nobody.
        conn.execute("SELECT set_config('pulse.identity', %s, true)", (replayed,))
        assert conn.execute("SELECT pulse.current_user_id()").fetchone() == (None,)
        conn.rollback()
        # A genuine assertion of a plain user: not promoted to system administrator.
        conn.execute("SELECT set_config('pulse.identity', %s, true)", (genuine,))
        assert conn.execute("SELECT pulse.current_user_id(), pulse.current_user_is_system_admin()").fetchone() == (
            env.ids["bob"], False)
        conn.rollback()
        # The session lookup is unmoved: unknown and revoked tokens are refused as before.
        for bad, message in (("pulse_" + "A" * 43, "unknown session token"), (revoked_token, "session has been revoked")):
            with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification, match=message):
                conn.execute("SELECT pulse.authenticate(%s)", (bad,))
            conn.rollback()
        assert conn.execute("SELECT pulse.authenticate(%s)", (token,)).fetchone() == (env.ids["bob"],)
        assert conn.execute("SELECT count(*) FROM users.sessions WHERE user_id <> %s", (env.ids["bob"],)).fetchone() == (0,)
        conn.rollback()

    with psycopg.connect(admin_dsn(env.name), autocommit=True) as su:
        # The planted operators may have run for the attacker's own queries, never as anyone else.
        callers = {r[0] for r in su.execute(f"SELECT DISTINCT who FROM {schema}.calls")}
        assert callers <= {env.app_role}
        su.execute(f"DROP SCHEMA {schema} CASCADE")


def test_with_citus_loaded_the_assertion_is_set_by_a_set_local_statement(env):
    """Citus forwards to its workers only settings made by an executed SET LOCAL. Citus
    defines citus.propagate_set_commands; a placeholder of that name makes pulse take the
    same path, which pg_stat_statements (track = all) then sees as a statement of its own."""
    _, token = session_for(env, "bob")
    with psycopg.connect(admin_dsn(env.name)) as su:
        if su.execute("SELECT current_setting('shared_preload_libraries') ~ 'pg_stat_statements'").fetchone() != (True,):
            pytest.fail("the test cluster must preload pg_stat_statements (scripts/test.sh does)")
        su.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        su.commit()
        su.execute("SET pg_stat_statements.track = 'all'")
        su.commit()

        def set_local_statements(citus: bool) -> int:
            su.execute("SELECT pg_stat_statements_reset()")
            if citus:
                su.execute("SET LOCAL citus.propagate_set_commands = 'local'")
            assert su.execute("SELECT pulse.authenticate(%s)", (token,)).fetchone() == (env.ids["bob"],)
            assertion = su.execute("SELECT current_setting('pulse.identity')").fetchone()[0]
            count = su.execute("SELECT count(*) FROM pg_stat_statements WHERE query = %s",
                               (f"SET LOCAL pulse.identity = '{assertion}'",)).fetchone()[0]
            su.rollback()
            return count

        assert set_local_statements(citus=True) == 1
        assert set_local_statements(citus=False) == 0


def test_rotating_the_key_takes_effect_in_every_backend_at_once(env):
    """Backends cache the identity key; a rotation committed elsewhere must still reach them."""
    _, token = session_for(env, "bob")
    with app(env) as conn:
        def caller_with(assertion):
            conn.execute("SELECT set_config('pulse.identity', %s, true)", (assertion,))
            caller = conn.execute("SELECT pulse.current_user_id()").fetchone()[0]
            conn.rollback()
            return caller

        conn.execute("SELECT pulse.authenticate(%s)", (token,))
        old = conn.execute("SELECT current_setting('pulse.identity')").fetchone()[0]
        conn.commit()
        assert caller_with(old) == env.ids["bob"]
        with psycopg.connect(admin_dsn(env.name), autocommit=True) as su:
            su.execute("SELECT pulse.rotate_identity_key()")
        assert caller_with(old) is None
        conn.execute("SELECT pulse.authenticate(%s)", (token,))
        new = conn.execute("SELECT current_setting('pulse.identity')").fetchone()[0]
        conn.commit()
        assert new != old and caller_with(new) == env.ids["bob"]


def test_a_sign_in_role_reads_one_password_hash_and_nothing_else():
    db = create_app_database()
    try:
        with db.connect(autocommit=True) as su:
            su.execute(f"CREATE ROLE {db.app_role}_signin LOGIN")
            su.execute("SELECT pulse.grant_sign_in_role(%s)", (f"{db.app_role}_signin",))
            uid = su.execute("SELECT users.create_user('Signer@Example.com', 'Signer', %s)", (ARGON2ID,)).fetchone()[0]
            su.execute("SELECT users.create_user('gone@example.com', 'Gone', %s)", (ARGON2ID,))
            su.execute("UPDATE users.users SET is_active = false WHERE email = 'gone@example.com'")
        dsn = db.dsn.replace("user=postgres", f"user={db.app_role}_signin")
        with psycopg.connect(dsn, autocommit=True) as signin:
            assert signin.execute("SELECT * FROM users.sign_in_credentials('signer@example.COM')").fetchall() == [
                (uid, ARGON2ID)]
            assert signin.execute("SELECT * FROM users.sign_in_credentials('gone@example.com')").fetchall() == []
            for sql in ("SELECT count(*) FROM users.users", "SELECT users.open_session(%s)" % uid,
                        "SELECT count(*) FROM projects.projects"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    signin.execute(sql)
    finally:
        drop_database(db)  # its grants go with the database; then the role can go
        with psycopg.connect(admin_dsn(), autocommit=True) as su:
            su.execute(f"DROP ROLE IF EXISTS {db.app_role}_signin")
