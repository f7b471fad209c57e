"""A populated database survives pg_dump / pg_restore into a new database: identical rows,
no duplicated built-in reference rows, and sequences that continue without collisions."""

import os
import subprocess

import psycopg
import pytest

from conftest import SCHEMAS, admin_dsn, create_app_database, create_database, drop_database, pg_bin


def table_names(conn):
    return [r[0] for r in conn.execute("""
        SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%s) AND c.relkind = 'r' ORDER BY 1""", (list(SCHEMAS),))]


def contents(conn):
    """Every row of every pulse table, as text, in a stable order (the identity key is
    deliberately not dumped: a restored database makes its own)."""
    out = {}
    for table in table_names(conn):
        if table in ("pulse.identity_key", "pulse.redaction_salt"):
            continue
        out[table] = [r[0] for r in conn.execute(f"SELECT t::text FROM {table} t ORDER BY 1")]
    return out


def run(tool, *args, env=None, check=True):
    result = subprocess.run([pg_bin(tool), *args], capture_output=True, text=True,
                            env=None if env is None else {**os.environ, **env})
    if check:
        assert result.returncode == 0, result.stderr
    return result


# How pulse is restored (README, "Backup and restore"): with triggers off, so that restoring
# the audited tables records nothing new and history comes back exactly as it was.
REPLICA = {"PGOPTIONS": "-c session_replication_role=replica"}


@pytest.fixture
def restored(populated_db, tmp_path):
    info = populated_db.conninfo()
    common = ["-h", info["host"], "-p", info["port"], "-U", info["user"]]
    dump = tmp_path / "pulse.dump"
    dumped = run("pg_dump", *common, "-Fc", "-f", str(dump), populated_db.name)
    assert dumped.stderr == "", "pg_dump warned: " + dumped.stderr
    target = create_database(with_extension=False)
    try:
        run("pg_restore", *common, "--exit-on-error", "-d", target.name, str(dump), env=REPLICA)
        yield target
    finally:
        drop_database(target)


def test_rows_are_identical_after_restore(populated_db, restored):
    with populated_db.connect() as before, restored.connect() as after:
        original, copy = contents(before), contents(after)
    assert copy == original
    # The data set is not trivially empty: every table had rows to compare.
    assert [t for t, r in original.items() if not r] == []


def test_restored_database_has_an_identity_key_of_its_own(populated_db, restored):
    query = "SELECT key FROM pulse.identity_key"
    with populated_db.connect() as before, restored.connect() as after:
        old, new = before.execute(query).fetchall(), after.execute(query).fetchall()
    assert len(old) == len(new) == 1 and old != new


def test_sequences_continue_after_restore(populated_db, restored):
    ids = populated_db.ids
    with restored.connect() as conn:
        new_user = conn.execute("""INSERT INTO users.users (email, display_name) VALUES ('new@example.com', 'New')
                                   RETURNING user_id""").fetchone()[0]
        new_project = conn.execute("""INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                                      VALUES ('New', %s, 1, 1) RETURNING project_id""", (new_user,)).fetchone()[0]
        new_tag = conn.execute("""INSERT INTO pulse.tag_reference (code, label, category) VALUES ('new', 'New', 'c')
                                  RETURNING tag_id""").fetchone()[0]
        new_decision = conn.execute("""INSERT INTO projects.project_decision_log (project_id, decision_type_id, title, rationale)
                                       VALUES (%s, 1, 'T', 'R') RETURNING decision_id""", (new_project,)).fetchone()[0]
        new_document = conn.execute("""INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id,
                                              object_key, size_bytes, checksum_sha256, priority_id, phase_id)
                                       VALUES (%s, 'T', 'f', 1, %s, 'k', 0, repeat('0', 64), 1, 1)
                                       RETURNING document_id""", (new_project, ids["storage"])).fetchone()[0]
        conn.commit()
    assert new_user > max(ids["alice"], ids["bob"], ids["carol"])
    assert new_project > max(ids["project"], ids["project_deleted"])
    assert new_tag > ids["tag_custom"]
    assert new_decision > max(ids["decision"], ids["decision_proposed"])
    assert new_document > max(ids["document"], ids["document_deleted"])


def test_builtin_rows_are_not_duplicated(restored):
    with restored.connect() as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT code) FROM pulse.access_role_reference").fetchone() == (4, 4)
        assert conn.execute("SELECT count(*) FROM pulse.tag_reference WHERE NOT is_builtin").fetchone() == (1,)


def test_history_still_verifies_after_restore(restored):
    with restored.connect() as conn:
        assert conn.execute("SELECT count(*) FROM audit.project_history").fetchone()[0] > 0
        assert conn.execute("SELECT * FROM audit.verify()").fetchall() == []


def test_a_restore_with_triggers_on_fails_loudly(populated_db, tmp_path):
    """Without session_replication_role = replica the restore would write history and DDL
    log entries of its own; it fails instead of mixing them with the restored ones."""
    info = populated_db.conninfo()
    common = ["-h", info["host"], "-p", info["port"], "-U", info["user"]]
    dump = tmp_path / "pulse.dump"
    run("pg_dump", *common, "-Fc", "-f", str(dump), populated_db.name)
    target = create_database(with_extension=False)
    try:
        result = run("pg_restore", *common, "--exit-on-error", "-d", target.name, str(dump), check=False)
        # The first audited table to arrive stops it: history refuses rows pulse did not
        # capture, and the DDL log already holds the restore's own statements.
        assert result.returncode != 0 and "COPY failed" in result.stderr
        assert ("history rows are written only by pulse's capture triggers" in result.stderr
                or 'duplicate key value violates unique constraint "ddl_log_pkey"' in result.stderr)
    finally:
        drop_database(target)


def test_a_dump_by_a_role_under_row_level_security_fails_loudly(tmp_path):
    """A role that row-level security filters must not write a partial dump: pg_dump sets
    row_security = off, so reading a table whose policies would hide rows is an error. A
    reader of everything (pg_read_all_data, without BYPASSRLS) meets exactly that; the
    application role stops earlier, at what it may not read at all."""
    db = create_app_database()
    reader = db.app_role + "_reader"
    try:
        with db.connect(autocommit=True) as su:
            su.execute("SELECT users.create_user('someone@example.com', 'Someone')")
            su.execute(f"CREATE ROLE {reader} LOGIN IN ROLE pg_read_all_data")
        info = db.conninfo()
        expected = {reader: "query would be affected by row-level security policy",
                    db.app_role: "permission denied"}
        for role, error in expected.items():
            dumped = run("pg_dump", "-h", info["host"], "-p", info["port"], "-U", role, "-Fc",
                         "-f", str(tmp_path / f"{role}.dump"), db.name, check=False)
            assert dumped.returncode != 0, f"{role} wrote a dump"
            assert error in dumped.stderr, dumped.stderr
    finally:
        drop_database(db)
        with psycopg.connect(admin_dsn(), autocommit=True) as su:
            su.execute(f"DROP ROLE IF EXISTS {reader}")
