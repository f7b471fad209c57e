"""The session monitor: which backend authenticated which session, and anomalies.
scripts/test.sh starts the cluster with pulse in shared_preload_libraries."""

import psycopg
import pytest

from conftest import create_app_database, drop_database


@pytest.fixture
def db():
    database = create_app_database(auditor=True)
    with database.connect(autocommit=True) as su:
        database.user = su.execute("SELECT users.create_user('watched@example.com', 'Watched')").fetchone()[0]
        database.session, database.token = su.execute(
            """SELECT session_id, token FROM users.open_session(%s, ip_address => '198.51.100.7',
                                                                user_agent => 'Firefox/140')""",
            (database.user,)).fetchone()
    yield database
    drop_database(database)


def monitor(su, session):
    return su.execute("""SELECT pid, reported_client_address, reported_user_agent, application_name
                           FROM users.session_monitor WHERE session_id = %s""", (session,)).fetchall()


def anomalies(su, kind):
    return su.execute("SELECT user_id, session_id, client_address, detail FROM users.session_anomalies WHERE kind = %s",
                      (kind,)).fetchall()


def test_the_monitor_shows_the_backend_that_authenticated_until_the_session_is_revoked(db):
    with psycopg.connect(db.app_dsn, autocommit=True, application_name="pulse-web") as app, \
            db.connect(autocommit=True) as su:
        assert monitor(su, db.session) == []
        app.execute("SELECT pulse.authenticate(%s, '198.51.100.7', 'Firefox/140')", (db.token,))
        pid = app.info.backend_pid
        assert monitor(su, db.session) == [(pid, "198.51.100.7", "Firefox/140", "pulse-web")]
        # The auditor role reads the same view (with pg_read_all_stats to see other roles' backends).
        su.execute(f"GRANT pg_read_all_stats TO {db.auditor_role}")
        with psycopg.connect(db.auditor_dsn) as auditor:
            assert [r[0] for r in auditor.execute("SELECT pid FROM users.session_monitor WHERE session_id = %s",
                                                  (db.session,))] == [pid]
        su.execute("UPDATE users.sessions SET revoked_at = now() WHERE session_id = %s", (db.session,))
        assert monitor(su, db.session) == []
        # A terminated backend disappears too.
    with db.connect(autocommit=True) as su:
        second = su.execute("SELECT session_id, token FROM users.open_session(%s)", (db.user,)).fetchone()
        with psycopg.connect(db.app_dsn, autocommit=True) as app:
            app.execute("SELECT pulse.authenticate(%s)", (second[1],))
            pid = app.info.backend_pid
        su.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))  # already closed: returns at once
        assert monitor(su, second[0]) == []


def test_use_from_another_address_or_user_agent_is_flagged(db):
    with psycopg.connect(db.app_dsn, autocommit=True) as app, db.connect(autocommit=True) as su:
        app.execute("SELECT pulse.authenticate(%s, '198.51.100.7', 'Firefox/140')", (db.token,))
        assert anomalies(su, "address changed") == [] and anomalies(su, "user agent changed") == []
        app.execute("SELECT pulse.authenticate(%s, '203.0.113.9', 'curl/8.5')", (db.token,))
        assert anomalies(su, "address changed") == [
            (db.user, db.session, "203.0.113.9", "opened from 198.51.100.7, used from 203.0.113.9")]
        assert anomalies(su, "user agent changed") == [
            (db.user, db.session, "203.0.113.9", "opened with Firefox/140, used with curl/8.5")]


def test_many_active_sessions_are_flagged(db):
    with db.connect(autocommit=True) as su:
        for _ in range(10):
            su.execute("SELECT users.open_session(%s)", (db.user,))
        assert [r[0] for r in anomalies(su, "many active sessions")] == [db.user]  # 11 sessions
        su.execute("""UPDATE users.sessions SET revoked_at = now()
                       WHERE session_id = (SELECT min(session_id::text)::uuid FROM users.sessions WHERE user_id = %s)""",
                   (db.user,))
        assert anomalies(su, "many active sessions") == []


def test_failed_authentications_are_counted_although_their_transaction_aborts(db):
    address = "192.0.2.44"  # unique to this test: the ring is shared by the whole server
    with db.connect(autocommit=True) as su:
        su.execute("UPDATE users.sessions SET revoked_at = now() WHERE session_id = %s", (db.session,))
        before = su.execute("SELECT count(*) FROM users.failed_authentications() WHERE client_address = %s",
                            (address,)).fetchone()[0]
        with psycopg.connect(db.app_dsn) as app:
            for attempt in range(5):
                with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification):
                    app.execute("SELECT pulse.authenticate(%s, %s)",
                                (db.token if attempt % 2 else "pulse_" + "B" * 43, address))
                app.rollback()
        failures = su.execute("""SELECT user_id, reason FROM users.failed_authentications()
                                  WHERE client_address = %s ORDER BY failed_at""", (address,)).fetchall()
        assert len(failures) - before == 5
        assert failures[-5:] == [(None, "invalid session token"), (db.user, "session has been revoked")] * 2 + [
            (None, "invalid session token")]
        assert [r[2] for r in anomalies(su, "failed authentications from an address")] == [address]
        assert su.execute("""SELECT count(*) FROM users.session_anomalies
                              WHERE kind = 'failed authentications of a user' AND user_id = %s""",
                          (db.user,)).fetchone()[0] == 0  # two of the five named the user


def test_the_application_cannot_read_the_monitor(db):
    with psycopg.connect(db.app_dsn) as app:
        app.execute("SELECT pulse.authenticate(%s)", (db.token,))
        for sql in ("SELECT * FROM users.session_monitor", "SELECT * FROM users.failed_authentications()"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(sql)
            app.rollback()
            app.execute("SELECT pulse.authenticate(%s)", (db.token,))
