"""CREATE EXTENSION, DROP EXTENSION and the refusal to install over foreign schemas."""

import psycopg
import pytest

from conftest import SCHEMAS


def schemas_present(conn):
    return sorted(r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (list(SCHEMAS),)))


def objects_left(conn):
    """Anything pulse-like left in the catalog: relations, functions, types, triggers, policies."""
    return conn.execute("""
        SELECT 'class ' || relname FROM pg_class WHERE relname ~ '(reference|history|sessions|project|document)'
                                                  AND relnamespace NOT IN ('pg_catalog'::regnamespace,
                                                                           'information_schema'::regnamespace)
        UNION ALL SELECT 'proc ' || proname FROM pg_proc WHERE prosrc ~ 'pulse' OR probin ~ 'pulse'
        UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL SELECT 'event trigger ' || evtname FROM pg_event_trigger
        UNION ALL SELECT 'policy ' || polname FROM pg_policy""").fetchall()


def test_drop_extension_cascade_leaves_nothing_and_create_works_again(populated_db):
    with populated_db.connect(autocommit=True) as conn:
        assert schemas_present(conn) == sorted(SCHEMAS)
        conn.execute("DROP EXTENSION pulse CASCADE")
        assert schemas_present(conn) == []
        assert objects_left(conn) == []
        conn.execute("CREATE EXTENSION pulse")
        assert schemas_present(conn) == sorted(SCHEMAS)
        # Starter data is back, user data is gone with the drop.
        assert conn.execute("SELECT count(*) FROM pulse.access_role_reference").fetchone() == (4,)
        assert conn.execute("SELECT count(*) FROM projects.projects").fetchone() == (0,)
        conn.execute("DROP EXTENSION pulse")
        assert schemas_present(conn) == []
        conn.execute("CREATE EXTENSION pulse")


@pytest.mark.parametrize("schema", SCHEMAS)
def test_existing_schema_is_refused_by_name(empty_db, schema):
    with empty_db.connect(autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.logged_actions (id int)")  # what supa_audit would have left
        with pytest.raises(psycopg.errors.DuplicateSchema) as raised:
            conn.execute("CREATE EXTENSION pulse")
        assert raised.value.diag.message_primary == f'pulse cannot be installed: schema "{schema}" already exists'
        assert "ALTER SCHEMA" in raised.value.diag.message_hint
        # Nothing half-written: only the planted schema exists, and the extension does not.
        assert schemas_present(conn) == [schema]
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pulse'").fetchone() == (0,)


def test_objects_planted_in_public_do_not_affect_install(empty_db):
    """Hostile look-alikes of the functions the install script uses are ignored."""
    with empty_db.connect(autocommit=True) as conn:
        for fn in ("now() RETURNS timestamptz AS $$ SELECT 'epoch'::timestamptz $$",
                   "btrim(text) RETURNS text AS $$ SELECT 'x' $$",
                   "length(text) RETURNS int AS $$ SELECT 0 $$",
                   "gen_random_uuid() RETURNS uuid AS $$ SELECT '00000000-0000-0000-0000-000000000000'::uuid $$"):
            conn.execute(f"CREATE FUNCTION public.{fn} LANGUAGE sql")
        conn.execute("SET search_path = public, pg_catalog")
        conn.execute("CREATE EXTENSION pulse")
        uid = conn.execute("""INSERT INTO users.users (email, display_name) VALUES ('a@example.com', 'A')
                              RETURNING created_at > 'epoch'::timestamptz AND created_at = pg_catalog.now()""").fetchone()
        assert uid == (True,)
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO users.users (email, display_name) VALUES ('b@example.com', ' padded ')")
        sid = conn.execute("""INSERT INTO users.sessions (user_id, token_hash, expires_at)
                              SELECT user_id, sha256('t'), pg_catalog.now() + interval '1 hour' FROM users.users
                              RETURNING session_id::text""").fetchone()[0]
        assert sid != "00000000-0000-0000-0000-000000000000"


def test_create_extension_leaves_session_settings_alone(empty_db):
    with empty_db.connect(autocommit=True) as conn:
        settings = "SELECT current_setting('client_min_messages'), current_setting('search_path')"
        before = conn.execute(settings).fetchone()
        conn.execute("CREATE EXTENSION pulse")
        assert conn.execute(settings).fetchone() == before
