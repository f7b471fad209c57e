"""A populated database survives pg_dump / pg_restore into a new database: identical rows,
no duplicated built-in reference rows, sequences that continue without collisions, history
that verifies and row-level security that still denies. Every test runs twice: restored by a
superuser, and by a role that owns the new database and is not a superuser (README, "Backup
and restore")."""

import os
import subprocess
import uuid

import psycopg
import pytest

from conftest import SCHEMAS, Database, admin_dsn, create_app_database, create_database, drop_database, pg_bin


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


# What a restoring role that is not a superuser is given for the restore, and what is taken
# back afterwards (README, "Backup and restore"). pulse is not a trusted extension, so a
# superuser runs CREATE EXTENSION in the restoring role's database; the role then loads the
# data only. Both steps run with triggers off, like the whole superuser restore: neither the
# restore's grants nor its rows become history or DDL log entries.
SCHEMA_LIST = ", ".join(SCHEMAS)
OWNER_RESTORE_GRANTS = [
    "CREATE EXTENSION pulse",
    "GRANT SET ON PARAMETER session_replication_role TO {role}",
    "ALTER ROLE {role} BYPASSRLS",
    f"GRANT USAGE ON SCHEMA {SCHEMA_LIST} TO {{role}}",
    f"GRANT INSERT ON ALL TABLES IN SCHEMA {SCHEMA_LIST} TO {{role}}",
    f"GRANT UPDATE ON ALL SEQUENCES IN SCHEMA {SCHEMA_LIST} TO {{role}}",
]
OWNER_RESTORE_REVOKES = [
    f"REVOKE UPDATE ON ALL SEQUENCES IN SCHEMA {SCHEMA_LIST} FROM {{role}}",
    f"REVOKE INSERT ON ALL TABLES IN SCHEMA {SCHEMA_LIST} FROM {{role}}",
    f"REVOKE USAGE ON SCHEMA {SCHEMA_LIST} FROM {{role}}",
    "ALTER ROLE {role} NOBYPASSRLS",
    "REVOKE SET ON PARAMETER session_replication_role FROM {role}",
]


def dump_of(db, tmp_path):
    info = db.conninfo()
    dump = tmp_path / "pulse.dump"
    dumped = run("pg_dump", "-h", info["host"], "-p", info["port"], "-U", info["user"], "-Fc", "-f", str(dump), db.name)
    assert dumped.stderr == "", "pg_dump warned: " + dumped.stderr
    return dump


def restore_as_superuser(dump):
    target = create_database(with_extension=False)
    info = target.conninfo()
    run("pg_restore", "-h", info["host"], "-p", info["port"], "-U", info["user"], "--exit-on-error",
        "-d", target.name, str(dump), env=REPLICA)
    return target


def restore_as_owner(dump):
    """A role with CREATEDB, not a superuser, creates the database it restores into and
    loads the data; a superuser installs pulse there and grants the load, then takes it back."""
    role = "pulse_restorer_" + uuid.uuid4().hex[:8]
    with psycopg.connect(admin_dsn(), autocommit=True) as su:
        su.execute(f"CREATE ROLE {role} LOGIN CREATEDB NOSUPERUSER")
    name = "pulse_t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_dsn().replace("user=postgres", f"user={role}"), autocommit=True) as owner:
        owner.execute(f'CREATE DATABASE "{name}"')
    target = Database(name)
    target.roles = [role]
    try:
        with target.connect(autocommit=True) as su:
            su.execute("SET session_replication_role = replica")
            for statement in OWNER_RESTORE_GRANTS:
                su.execute(statement.format(role=role))
        info = target.conninfo()
        run("pg_restore", "-h", info["host"], "-p", info["port"], "-U", role, "--data-only", "--exit-on-error",
            "-d", name, str(dump), env=REPLICA)
        with target.connect(autocommit=True) as su:
            su.execute("SET session_replication_role = replica")
            for statement in OWNER_RESTORE_REVOKES:
                su.execute(statement.format(role=role))
    except BaseException:
        with psycopg.connect(admin_dsn(), autocommit=True) as su:  # a grant on a parameter outlives the database
            su.execute(f"REVOKE SET ON PARAMETER session_replication_role FROM {role}")
        drop_database(target)
        raise
    target.restorer = role
    return target


@pytest.fixture(params=["superuser", "owner"])
def restored(request, populated_db, tmp_path):
    """The populated database dumped and restored into a new database, by a superuser or by
    a role that owns the new database and is not a superuser."""
    dump = dump_of(populated_db, tmp_path)
    target = (restore_as_superuser if request.param == "superuser" else restore_as_owner)(dump)
    try:
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


def test_row_level_security_still_denies_after_restore(populated_db, restored):
    """Policies come back with the extension: an application role sees nothing without a
    session and only its user's projects with one; the role that restored keeps nothing."""
    rls = """SELECT c.oid::regclass::text, c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = ANY(%s) AND c.relkind = 'r' ORDER BY 1"""
    with populated_db.connect() as before, restored.connect() as after:
        assert after.execute(rls, (list(SCHEMAS),)).fetchall() == before.execute(rls, (list(SCHEMAS),)).fetchall()
    app = "pulse_app_" + uuid.uuid4().hex[:8]
    restored.roles = getattr(restored, "roles", []) + [app]
    ids = populated_db.ids
    with restored.connect(autocommit=True) as su:
        su.execute(f"CREATE ROLE {app} LOGIN")
        su.execute("SELECT pulse.grant_application_role(%s)", (app,))
        bob = su.execute("SELECT token FROM users.open_session(%s)", (ids["bob"],)).fetchone()[0]
        dave = su.execute("SELECT token FROM users.open_session(users.create_user('dave@example.com', 'Dave'))").fetchone()[0]
        assert su.execute("SELECT count(*) FROM projects.projects").fetchone() == (2,)
    with psycopg.connect(restored.dsn.replace("user=postgres", f"user={app}")) as conn:
        for table in ("projects.projects", "documents.documents", "audit.project_history", "users.sessions"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
        with conn.transaction():
            conn.execute("SELECT pulse.authenticate(%s)", (dave,))  # a user of no project
            assert conn.execute("SELECT count(*) FROM projects.projects").fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM documents.documents").fetchone() == (0,)
            assert conn.execute("UPDATE projects.projects SET name = 'Taken' WHERE project_id = %s",
                                (ids["project"],)).rowcount == 0
        with conn.transaction():
            conn.execute("SELECT pulse.authenticate(%s)", (bob,))  # Apollo's editor, Gemini's owner
            assert conn.execute("SELECT project_id FROM projects.projects ORDER BY 1").fetchall() == [
                (ids["project"],), (ids["project_deleted"],)]
    if hasattr(restored, "restorer"):
        with psycopg.connect(restored.dsn.replace("user=postgres", f"user={restored.restorer}")) as conn:
            owner, bypass = conn.execute("""SELECT pg_get_userbyid(d.datdba) = current_user, r.rolbypassrls
                                              FROM pg_database d, pg_roles r
                                             WHERE d.datname = current_database() AND r.rolname = current_user""").fetchone()
            assert owner and not bypass
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT count(*) FROM projects.projects")


def test_a_non_superuser_cannot_install_pulse_in_its_restore(populated_db, tmp_path):
    """Why the owner's restore needs a superuser first: pulse is not a trusted extension, so
    the CREATE EXTENSION of a full restore fails for anyone else."""
    dump = dump_of(populated_db, tmp_path)
    role = "pulse_restorer_" + uuid.uuid4().hex[:8]
    with psycopg.connect(admin_dsn(), autocommit=True) as su:
        su.execute(f"CREATE ROLE {role} LOGIN CREATEDB NOSUPERUSER")
    target = Database("pulse_t_" + uuid.uuid4().hex[:12])
    target.roles = [role]
    try:
        with psycopg.connect(admin_dsn().replace("user=postgres", f"user={role}"), autocommit=True) as owner:
            owner.execute(f'CREATE DATABASE "{target.name}"')
        info = target.conninfo()
        result = run("pg_restore", "-h", info["host"], "-p", info["port"], "-U", role, "--exit-on-error",
                     "-d", target.name, str(dump), check=False)
        assert result.returncode != 0
        assert 'permission denied to create extension "pulse"' in result.stderr, result.stderr
    finally:
        drop_database(target)


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
