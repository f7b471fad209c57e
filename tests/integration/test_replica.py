"""pulse on a hot standby: authentication and every read path work read-only; what needs a
write (an issued URL is logged) is refused with 25006. The standby is a streaming replica of
the test cluster, made with pg_basebackup and started on loopback for this module."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import psycopg
import pytest

from conftest import admin_dsn, create_app_database, drop_database, pg_bin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(*command, **kwargs):
    """The cluster's files belong to the OS user postgres; so must the standby's."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *command], check=True, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def primary():
    db = create_app_database()
    with db.connect(autocommit=True) as su:
        db.user = su.execute("SELECT users.create_user('reader@example.com', 'Reader')").fetchone()[0]
        db.token = su.execute("SELECT token FROM users.open_session(%s)", (db.user,)).fetchone()[0]
        project = su.execute("""INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                                SELECT 'Replicated', %s, phase_id, priority_id
                                  FROM pulse.phase_reference, pulse.priority_reference
                                 WHERE phase_reference.code = 'idea' AND priority_reference.code = 'low'
                                RETURNING project_id""", (db.user,)).fetchone()[0]
        su.execute("""INSERT INTO projects.project_member (project_id, user_id, access_role_id)
                      SELECT %s, %s, access_role_id FROM pulse.access_role_reference WHERE code = 'owner'""",
                   (project, db.user))
        storage = su.execute("""INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint)
                                VALUES ('r', 'R', 'minio', 'bucket-r', 'http://127.0.0.1:9000')
                                RETURNING storage_id""").fetchone()[0]
        su.execute("""INSERT INTO pulse.storage_credential (storage_id, access_key_id, secret_access_key)
                      VALUES (%s, 'REPLICAKEY', 'replica-secret')""", (storage,))
        db.document = su.execute("""
            INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key,
                                             size_bytes, checksum_sha256, priority_id, phase_id, available_at)
            SELECT %s, 'Spec', 'spec.txt', f.filetype_id, %s, 'p/spec', 1, repeat('a', 64), p.priority_id, p.phase_id, now()
              FROM pulse.filetype_reference f, projects.projects p WHERE f.code = 'txt' AND p.project_id = %s
            RETURNING document_id""", (project, storage, project)).fetchone()[0]
        db.project = project
    yield db
    drop_database(db)


@pytest.fixture(scope="module")
def standby(primary):
    """A streaming replica of the test cluster, caught up with the primary's last commit."""
    info = psycopg.conninfo.conninfo_to_dict(admin_dsn())
    workdir = tempfile.mkdtemp(prefix="pulse-standby-")
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    data, port = os.path.join(workdir, "data"), free_port()
    as_postgres(pg_bin("pg_basebackup"), "-h", info["host"], "-p", str(info["port"]), "-U", "postgres",
                "-D", data, "-R", "-X", "stream", "-c", "fast")
    with open(os.path.join(data, "postgresql.auto.conf"), "a") as conf:
        conf.write(f"port = {port}\nunix_socket_directories = '{workdir}'\nhot_standby = on\n")
    env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
    as_postgres(pg_bin("pg_ctl"), "-D", data, "-l", os.path.join(workdir, "log"), "-w", "start", env=env)
    try:
        with psycopg.connect(admin_dsn(), autocommit=True) as su:
            lsn = su.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        dsn = primary.dsn.replace(f"port={info['port']}", f"port={port}")
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    if conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
                        break
            except psycopg.OperationalError:
                pass
            assert time.monotonic() < deadline, "the standby did not catch up"
            time.sleep(0.2)
        yield dsn, primary.app_dsn.replace(f"port={info['port']}", f"port={port}")
    finally:
        as_postgres(pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(workdir, ignore_errors=True)


def test_authentication_and_reads_work_on_a_standby(primary, standby):
    _, app_dsn = standby
    with psycopg.connect(app_dsn) as app:
        assert app.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        assert app.execute("SELECT pulse.authenticate(%s)", (primary.token,)).fetchone() == (primary.user,)
        assert app.execute("SELECT name FROM projects.projects").fetchall() == [("Replicated",)]
        assert app.execute("SELECT title FROM documents.documents").fetchall() == [("Spec",)]
        assert app.execute("SELECT count(*) > 0 FROM audit.project_history").fetchone() == (True,)
        assert app.execute("SELECT audit.project_as_of(%s, now())->>'name'", (primary.project,)).fetchone() == (
            "Replicated",)
        assert app.execute("SELECT count(*) FROM audit.project_diff(%s, 1, 2)", (primary.project,)).fetchone()[0] > 0
        assert app.execute("SELECT pulse.sha256_hex('x')").fetchone()[0] == (
            "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881")


def test_what_needs_a_write_is_refused_clearly_on_a_standby(primary, standby):
    _, app_dsn = standby
    with psycopg.connect(app_dsn) as app:
        app.execute("SELECT pulse.authenticate(%s)", (primary.token,))
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="issued only where they can be logged"):
            app.execute("SELECT documents.download_url(%s)", (primary.document,))
        app.rollback()
        app.execute("SELECT pulse.authenticate(%s)", (primary.token,))
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            app.execute("UPDATE projects.projects SET name = 'Changed'")
    # The same download works on the primary, where the URL is logged.
    with psycopg.connect(primary.app_dsn) as app:
        app.execute("SELECT pulse.authenticate(%s)", (primary.token,))
        assert app.execute("SELECT documents.download_url(%s)", (primary.document,)).fetchone()[0].startswith("http")


def test_a_session_revoked_on_the_primary_is_refused_on_the_standby(primary, standby):
    admin, app_dsn = standby
    with primary.connect(autocommit=True) as su:
        session, token = su.execute("SELECT session_id, token FROM users.open_session(%s)", (primary.user,)).fetchone()
        su.execute("UPDATE users.sessions SET revoked_at = now() WHERE session_id = %s", (session,))
        lsn = su.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    with psycopg.connect(admin, autocommit=True) as replica:
        deadline = time.monotonic() + 30
        while not replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    with psycopg.connect(app_dsn) as app:
        with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification, match="revoked"):
            app.execute("SELECT pulse.authenticate(%s)", (token,))


def test_read_paths_do_not_make_a_transaction_writable(primary):
    """The same reads on the primary take no transaction id (and so write no commit record)."""
    with psycopg.connect(primary.app_dsn) as app:
        app.execute("SELECT pulse.authenticate(%s)", (primary.token,))
        app.execute("SELECT count(*) FROM audit.project_diff(%s, 1, 2)", (primary.project,))
        app.execute("SELECT audit.project_as_of(%s, now())", (primary.project,))
        app.execute("SELECT count(*) FROM audit.document_diff(%s, 1, 1)", (primary.document,))
        app.execute("SELECT count(*) FROM projects.projects")
        assert app.execute("SELECT pg_current_xact_id_if_assigned()").fetchone() == (None,)
