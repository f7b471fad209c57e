"""Document lifecycle rules that need no object store: checksums, phase transitions, content
versions, soft delete and restore, purge after retention, and credentials that never leak.
(Uploads and downloads through presigned URLs are in test_documents_s3.py.)"""

import hashlib
import os

import psycopg
import pytest

from conftest import create_app_database, drop_database

SECRET = "wJalrXUtnFEMI-lifecycle-secret-K7MDENG"


@pytest.fixture
def db():
    database = create_app_database()
    with database.connect(autocommit=True) as su:
        def one(sql, *args):
            return su.execute(sql, args).fetchone()[0]

        database.users = {name: one("SELECT users.create_user(%s, %s)", f"{name}@example.com", name.title())
                          for name in ("owner", "maintainer", "editor")}
        database.tokens = {name: one("SELECT token FROM users.open_session(%s)", uid)
                           for name, uid in database.users.items()}
        database.storage = one("""INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint, addressing_style)
                                  VALUES ('local', 'Local', 'minio', 'bucket-l', 'http://127.0.0.1:9000', 'path')
                                  RETURNING storage_id""")
        su.execute("""INSERT INTO pulse.storage_credential (storage_id, access_key_id, secret_access_key)
                      VALUES (%s, 'LIFECYCLEKEY', %s)""", (database.storage, SECRET))
    yield database
    drop_database(database)


def connect_as(db, name):
    conn = psycopg.connect(db.app_dsn)
    conn.execute("SELECT pulse.authenticate(%s)", (db.tokens[name],))
    return conn


def phase(conn, code):
    return conn.execute("SELECT phase_id FROM pulse.phase_reference WHERE code = %s", (code,)).fetchone()[0]


@pytest.fixture
def project(db):
    """A project of the owner's in phase 'idea', with a maintainer and an editor, and one
    document registered by the editor."""
    with connect_as(db, "owner") as conn:
        pid = conn.execute("""INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                              VALUES ('Apollo', %s, %s, (SELECT priority_id FROM pulse.priority_reference
                                                          WHERE code = 'medium')) RETURNING project_id""",
                           (db.users["owner"], phase(conn, "idea"))).fetchone()[0]
        for name in ("maintainer", "editor"):
            conn.execute("""INSERT INTO projects.project_member (project_id, user_id, access_role_id)
                            SELECT %s, %s, access_role_id FROM pulse.access_role_reference WHERE code = %s""",
                         (pid, db.users[name], name))
    with connect_as(db, "editor") as conn:
        doc = conn.execute("""SELECT document_id FROM documents.register_document(%s, 'Plan', 'plan.txt', 'text/plain',
                                                                               'local', 4, encode(sha256('plan'), 'hex'))""",
                           (pid,)).fetchone()[0]
    return pid, doc


def test_sha256_functions_equal_the_built_in_on_every_length(db):
    with db.connect() as conn:
        lengths = list(range(0, 300)) + [1000, 8192, 65_537, 1 << 20]
        mismatches = conn.execute("""
            SELECT n FROM (SELECT n, substring(decode(repeat(md5(n::text), (n / 16) + 1), 'hex')
                                               || decode(repeat(md5(n::text), (n / 16) + 1), 'hex') FROM 1 FOR n) AS data
                             FROM unnest(%s::int[]) n) t
             WHERE octet_length(data) <> n OR pulse.sha256_hex(data) <> encode(sha256(data), 'hex')
                OR pulse.sha256_bytes(data) <> sha256(data)""", (lengths,)).fetchall()
        assert mismatches == []
        random = os.urandom(4096)
        assert conn.execute("SELECT pulse.sha256_hex(%s) = encode(sha256(%s), 'hex')", (random, random)).fetchone()[0]
        assert conn.execute("""SELECT array_agg(pulse.is_sha256_hex(v) ORDER BY o) FROM unnest(%s::text[]) WITH ORDINALITY u(v, o)""",
                            ([os.urandom(32).hex(), "A" * 64, "a" * 63, "a" * 65, "g" * 64, ""],)).fetchone()[0] == [
            True, False, False, False, False, False]


def test_phases_move_one_step_forward_back_or_to_a_terminal_phase(db, project):
    pid, doc = project
    with db.connect() as su:
        base = su.execute("SELECT max(version) FROM audit.project_history WHERE project_id = %s", (pid,)).fetchone()[0]
    with connect_as(db, "owner") as conn:
        def move(table, key, value, code):
            conn.execute(f"UPDATE {table} SET phase_id = %s WHERE {key} = %s", (phase(conn, code), value))

        move("projects.projects", "project_id", pid, "planning")  # one step forward
        with pytest.raises(psycopg.errors.CheckViolation, match="cannot move from Planning to Build") as refused:
            move("projects.projects", "project_id", pid, "build")  # design skipped
        assert "one step forward" in refused.value.diag.message_hint
        conn.rollback()
        conn.execute("SELECT pulse.authenticate(%s)", (db.tokens["owner"],))
        move("projects.projects", "project_id", pid, "idea")  # back to any earlier phase
        move("projects.projects", "project_id", pid, "archived")  # terminal from anywhere
        move("documents.documents", "document_id", doc, "planning")
        with pytest.raises(psycopg.errors.CheckViolation, match=f"document {doc}: the phase cannot move from Planning to Release"):
            move("documents.documents", "document_id", doc, "release")
        conn.rollback()
        conn.execute("SELECT pulse.authenticate(%s)", (db.tokens["owner"],))
        for code in ("planning", "design", "build"):
            move("projects.projects", "project_id", pid, code)
        conn.commit()
        # A rollback restores whatever phase it restores (here: back from build to idea, and
        # then forward again over three phases).
        conn.execute("SELECT pulse.authenticate(%s)", (db.tokens["owner"],))
        head = base + 3
        conn.execute("SELECT audit.rollback_project(%s, %s, %s)", (pid, base, head))
        assert conn.execute("SELECT phase_id FROM projects.projects WHERE project_id = %s",
                            (pid,)).fetchone()[0] == phase(conn, "idea")
        conn.execute("SELECT audit.rollback_project(%s, %s, %s)", (pid, head, head + 1))
        assert conn.execute("SELECT phase_id FROM projects.projects WHERE project_id = %s",
                            (pid,)).fetchone()[0] == phase(conn, "build")


def test_new_content_is_always_the_next_version(db, project):
    _, doc = project
    with db.connect() as su:
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="must be version 2, not 1"):
            su.execute("UPDATE documents.documents SET checksum_sha256 = repeat('f', 64) WHERE document_id = %s", (doc,))
        su.rollback()
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="changes only with new content"):
            su.execute("UPDATE documents.documents SET version = 2 WHERE document_id = %s", (doc,))
    with connect_as(db, "editor") as conn:
        revised = conn.execute("""SELECT version, object_key, upload_url IS NOT NULL
                                    FROM documents.new_revision(%s, 'plan-2.txt', 'text/plain', 6,
                                                                encode(sha256('plan 2'), 'hex'))""", (doc,)).fetchone()
        assert revised[0] == 2 and revised[1].endswith(hashlib.sha256(b"plan 2").hexdigest())
        assert revised[2]
        assert conn.execute("""SELECT array_agg(version ORDER BY version), count(DISTINCT object_key)
                                 FROM documents.document_revision WHERE document_id = %s""", (doc,)).fetchone() == ([1, 2], 2)


def test_soft_delete_and_restore_need_delete_restore_and_are_recorded(db, project):
    pid, doc = project
    with connect_as(db, "editor") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="needs the delete_restore permission"):
            conn.execute("SELECT documents.soft_delete_document(%s)", (doc,))
    with connect_as(db, "maintainer") as conn:
        conn.execute("SELECT documents.soft_delete_document(%s)", (doc,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"no live document {doc}"):
            conn.execute("SELECT documents.soft_delete_document(%s)", (doc,))
        conn.rollback()
        conn.execute("SELECT pulse.authenticate(%s)", (db.tokens["maintainer"],))
        conn.execute("SELECT documents.soft_delete_document(%s)", (doc,))
        conn.execute("SELECT projects.soft_delete_project(%s)", (pid,))
        # The document deleted on its own is not hidden by the project's delete...
        assert conn.execute("SELECT deleted_with_project FROM documents.documents WHERE document_id = %s",
                            (doc,)).fetchone() == (False,)
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="Restore the project first"):
            conn.execute("SELECT documents.restore_document(%s)", (doc,))
        conn.rollback()
        conn.execute("SELECT pulse.authenticate(%s)", (db.tokens["maintainer"],))
        conn.execute("SELECT documents.soft_delete_document(%s)", (doc,))
        conn.execute("SELECT projects.soft_delete_project(%s)", (pid,))
        conn.execute("SELECT projects.restore_project(%s)", (pid,))
        # ...so the project's restore leaves it deleted; restoring it is its own step.
        assert conn.execute("SELECT deleted_at IS NOT NULL FROM documents.documents WHERE document_id = %s",
                            (doc,)).fetchone() == (True,)
        conn.execute("SELECT documents.restore_document(%s)", (doc,))
        conn.commit()
        conn.execute("SELECT pulse.authenticate(%s)", (db.tokens["maintainer"],))
        assert conn.execute("SELECT array_agg(operation ORDER BY version) FROM audit.document_history WHERE document_id = %s",
                            (doc,)).fetchone()[0] == ["INSERT", "SOFT_DELETE", "RESTORE"]


def test_purge_after_retention_except_under_legal_hold(db, project):
    pid, doc = project
    with db.connect(autocommit=True) as su:
        su.execute("UPDATE pulse.storage_reference SET retention_policy = interval '1 day' WHERE storage_id = %s",
                   (db.storage,))
        su.execute("UPDATE documents.documents SET deleted_at = now() WHERE document_id = %s", (doc,))
        assert su.execute("SELECT documents.purge_deleted_documents()").fetchone() == (0,)  # retention not over
        su.execute("SELECT audit.place_legal_hold(%s, 'litigation')", (pid,))
        assert su.execute("SELECT documents.purge_deleted_documents('0 seconds')").fetchone() == (0,)  # on hold
        su.execute("SELECT audit.release_legal_hold(%s)", (pid,))
        assert su.execute("SELECT documents.purge_deleted_documents('0 seconds')").fetchone() == (1,)
        assert su.execute("SELECT count(*) FROM documents.documents WHERE document_id = %s", (doc,)).fetchone() == (0,)
        assert su.execute("""SELECT operation FROM audit.document_history WHERE document_id = %s
                              ORDER BY version DESC LIMIT 1""", (doc,)).fetchone() == ("DELETE",)
    with connect_as(db, "owner") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only a system administrator"):
            conn.execute("SELECT documents.purge_deleted_documents()")


def test_credentials_never_leave_the_database(db, project):
    _, doc = project
    with db.connect(autocommit=True) as su:
        url = su.execute("SELECT pulse.s3_presign('local', 'GET', 'k', 60)").fetchone()[0]
        assert "LIFECYCLEKEY" in url and SECRET not in url
        # A configuration the signer refuses (a bucket named like an IP address) is reported
        # without the secret.
        su.execute("UPDATE pulse.storage_reference SET bucket = '192.168.1.1' WHERE code = 'local'")
        with pytest.raises(psycopg.Error) as failure:
            su.execute("SELECT pulse.s3_presign('local', 'GET', 'k', 60)")
        diag = failure.value.diag
        assert failure.value.sqlstate == "55000"
        assert SECRET not in " ".join(filter(None, (diag.message_primary, diag.message_detail, diag.message_hint)))
        su.execute("UPDATE pulse.storage_reference SET bucket = 'bucket-l' WHERE code = 'local'")
        su.execute("UPDATE pulse.storage_credential SET access_key_id = 'ROTATED' WHERE storage_id = %s", (db.storage,))
        # Rotated credentials reach signing at once (the per-backend signer is rebuilt).
        assert "ROTATED" in su.execute("SELECT pulse.s3_presign('local', 'GET', 'k', 60)").fetchone()[0]
        histories = su.execute("""SELECT count(*) FROM audit.document_history WHERE snapshot::text LIKE %s""",
                               (f"%{SECRET}%",)).fetchone()[0]
        assert histories == 0
    with connect_as(db, "owner") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT secret_access_key FROM pulse.storage_credential")
