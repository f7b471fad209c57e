"""Upgrading in place (issue 10): the previous release, populated, then ALTER EXTENSION pulse
UPDATE, must equal a fresh install of this build, and its history must still verify and roll
back.

scripts/test.sh installs the previous release's install script, frozen in sql/released/
(install_released_install_script in scripts/common.sh), beside this build's, so `CREATE
EXTENSION pulse VERSION '<previous>'` runs exactly what that release shipped, against this
build's library (which keeps every symbol earlier install scripts name).
"""

import hashlib
import os
import re
import subprocess

import psycopg
import pytest

from conftest import create_database, drop_database
from populate import populate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREVIOUS = "0.1.0"
SCHEMAS = ("pulse", "users", "projects", "documents", "audit")


def current_version() -> str:
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        return re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)


def sharedir() -> str:
    pg_config = os.path.join(os.environ.get("PULSE_PG_BIN", "/usr/lib/postgresql/15/bin"), "pg_config")
    return subprocess.run([pg_config, "--sharedir"], check=True, capture_output=True, text=True).stdout.strip()


def released_files() -> dict[str, str]:
    """sql/released/SHA256SUMS: what each release froze (path from the root: SHA-256)."""
    with open(os.path.join(ROOT, "sql", "released", "SHA256SUMS")) as f:
        return {path: digest for digest, path in (line.split() for line in f if line.strip())}


def released_versions() -> set[str]:
    names = os.listdir(os.path.join(ROOT, "sql", "released"))
    return {m.group(1) for m in (re.fullmatch(r"pulse--([^-]+)\.sql", n) for n in names) if m}


# What must be equal between an upgraded and a fresh install: every part of the catalog an
# extension's scripts can set, each as a set of rows.
CATALOG = {
    "members": """
        SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
          FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
         WHERE e.extname = 'pulse' AND d.deptype = 'e'""",
    "columns": """
        SELECT c.oid::regclass::text, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated, a.attcollation::regcollation::text,
               col_description(c.oid, a.attnum), a.attacl::text
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
         WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'v', 'p', 'm')""",
    "relations": """
        SELECT c.oid::regclass::text, c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.reloptions::text,
               obj_description(c.oid, 'pg_class'), pg_get_userbyid(c.relowner),
               (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(c.relacl) x)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(schemas)s)""",
    "views": """
        SELECT c.oid::regclass::text, pg_get_viewdef(c.oid)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('v', 'm')""",
    "constraints": """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.condeferrable
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = ANY(%(schemas)s)""",
    "indexes": "SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = ANY(%(schemas)s)",
    "policies": """
        SELECT schemaname, tablename, policyname, permissive, roles::text, cmd, qual, with_check
          FROM pg_policies WHERE schemaname = ANY(%(schemas)s)""",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(schemas)s) AND NOT t.tgisinternal""",
    "event triggers": "SELECT evtname, evtevent, evtfoid::regproc::text, evtenabled, evttags::text FROM pg_event_trigger",
    "functions": """
        SELECT p.oid::regprocedure::text, md5(p.prosrc), p.probin, p.provolatile, p.proisstrict, p.proparallel,
               p.prosecdef, p.proleakproof, p.proconfig::text, pg_get_function_result(p.oid),
               pg_get_function_arguments(p.oid), obj_description(p.oid, 'pg_proc'),
               (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(p.proacl) x)
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = ANY(%(schemas)s)""",
    "schemas": """
        SELECT n.nspname, pg_get_userbyid(n.nspowner), obj_description(n.oid, 'pg_namespace'),
               (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(n.nspacl) x)
          FROM pg_namespace n WHERE n.nspname = ANY(%(schemas)s)""",
    "sequences": """
        SELECT s.seqrelid::regclass::text, s.seqtypid::regtype::text, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle
          FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(schemas)s)""",
    "dumped tables": """
        SELECT c::regclass::text, coalesce(cond, '')
          FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(c, cond)
         WHERE e.extname = 'pulse'""",
}


def describe(conn) -> dict:
    def hashable(row):
        return tuple(repr(v) if isinstance(v, (list, dict)) else v for v in row)
    return {part: {hashable(row) for row in conn.execute(sql, {"schemas": list(SCHEMAS)})}
            for part, sql in CATALOG.items()}


def history_work(conn) -> dict:
    """Changes that write history, through the maintenance path and as a user."""
    ids = populate(conn)
    project = ids["project"]
    for name in ("Renamed once", "Renamed twice"):
        conn.execute("UPDATE projects.projects SET name = %s WHERE project_id = %s", (name, project))
        conn.commit()
    conn.execute("""INSERT INTO projects.project_tag (project_id, tag_id)
                    SELECT %s, tag_id FROM pulse.tag_reference WHERE code = 'security'
                    ON CONFLICT DO NOTHING""", (project,))
    conn.commit()
    return ids


@pytest.fixture(scope="module")
def previous_installed():
    script = os.path.join(sharedir(), "extension", f"pulse--{PREVIOUS}.sql")
    if not os.path.exists(script):
        pytest.fail(f"{script} is missing: scripts/test.sh installs it (install_released_install_script {PREVIOUS})")
    assert current_version() != PREVIOUS


@pytest.fixture(scope="module")
def upgraded(previous_installed):
    """A database created at the previous release, populated and granted, then upgraded."""
    db = create_database(with_extension=False)
    db.roles = ["pulse_upgrade_app"]
    try:
        with db.connect(autocommit=True) as su:
            su.execute("DROP ROLE IF EXISTS pulse_upgrade_app")
            su.execute("CREATE ROLE pulse_upgrade_app LOGIN")
            su.execute(f"CREATE EXTENSION pulse VERSION '{PREVIOUS}'")
            su.execute("SELECT pulse.grant_application_role('pulse_upgrade_app')")
        with db.connect() as conn:
            db.ids = history_work(conn)
            db.heads_before = conn.execute(
                "SELECT project_id, version, row_hash FROM audit.project_chain ORDER BY project_id").fetchall()
        with db.connect(autocommit=True) as su:
            su.execute("ALTER EXTENSION pulse UPDATE")
        yield db
    finally:
        drop_database(db)


@pytest.fixture(scope="module")
def fresh(previous_installed):
    db = create_database()
    try:
        with db.connect(autocommit=True) as su:
            su.execute("SELECT pulse.grant_application_role('pulse_upgrade_app')")
        yield db
    finally:
        drop_database(db)


def test_the_update_reaches_this_version(upgraded):
    with upgraded.connect() as conn:
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pulse'").fetchone() == \
            (current_version(),)


@pytest.mark.parametrize("part", sorted(CATALOG))
def test_upgraded_catalog_equals_a_fresh_install(upgraded, fresh, part):
    with upgraded.connect() as a, fresh.connect() as b:
        before, after = describe(a)[part], describe(b)[part]
    assert before, f"nothing found for {part}: the query is wrong"
    assert sorted(before - after, key=str) == [] and sorted(after - before, key=str) == [], \
        f"{part}: only after the upgrade / only in a fresh install"


def test_the_comparison_sees_a_difference(fresh):
    """describe() is not blind: a dropped trigger and a changed function body show."""
    with fresh.connect() as conn:
        before = describe(conn)
        conn.execute("DROP TRIGGER append_only ON audit.project_chain")
        conn.execute("ALTER FUNCTION audit.verify() STABLE PARALLEL UNSAFE")
        after = describe(conn)
        conn.rollback()
    assert before["triggers"] - after["triggers"]
    assert before["functions"] - after["functions"]


def test_history_written_before_the_upgrade_still_verifies_and_rolls_back(upgraded):
    project = upgraded.ids["project"]
    with upgraded.connect() as conn:
        assert conn.execute("SELECT * FROM audit.verify()").fetchall() == []
        heads = conn.execute("SELECT project_id, version, row_hash FROM audit.project_chain ORDER BY project_id")
        assert heads.fetchall() == upgraded.heads_before
        version = conn.execute("SELECT version FROM audit.project_chain WHERE project_id = %s",
                               (project,)).fetchone()[0]
        # The oldest version populate() left (it purged a prefix, leaving a tombstone).
        first, first_name = conn.execute(
            "SELECT version, snapshot->>'name' FROM audit.project_history WHERE project_id = %s"
            " ORDER BY version LIMIT 1", (project,)).fetchone()
        # New history chains onto the old; a rollback to that version restores its state.
        conn.execute("UPDATE projects.projects SET name = 'After the upgrade' WHERE project_id = %s", (project,))
        rolled = conn.execute("SELECT audit.rollback_project(%s, %s, %s)",
                              (project, first, version + 1)).fetchone()[0]
        assert rolled == version + 2
        assert conn.execute("SELECT name FROM projects.projects WHERE project_id = %s",
                            (project,)).fetchone() == (first_name,)
        conn.commit()
        assert conn.execute("SELECT * FROM audit.verify()").fetchall() == []


def test_the_application_role_works_after_the_upgrade(upgraded):
    """Grants made at the previous release cover what this release added."""
    app_dsn = upgraded.dsn.replace("user=postgres", "user=pulse_upgrade_app")
    with upgraded.connect() as su:
        token = su.execute("SELECT token FROM users.open_session(%s)", (upgraded.ids["alice"],)).fetchone()[0]
        su.commit()
    with psycopg.connect(app_dsn) as app:
        app.execute("SELECT pulse.authenticate(%s)", (token,))
        assert app.execute("SELECT count(*) FROM projects.projects").fetchone()[0] >= 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("INSERT INTO audit.project_history (project_id, version, operation, snapshot,"
                        " change_summary, row_hash) VALUES (1, 99, 'UPDATE', '{}', 'forged', sha256('x'))")


def test_released_scripts_are_never_edited():
    """Every script a release froze is byte-identical to what it released."""
    frozen = released_files()
    assert f"sql/released/pulse--{PREVIOUS}.sql" in frozen
    for path, digest in frozen.items():
        with open(os.path.join(ROOT, path), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest, f"{path} changed after its release"


def test_every_released_script_is_frozen():
    """Each released install script, and each upgrade script to a released version, is listed."""
    frozen = released_files()
    released = released_versions()
    assert PREVIOUS in released and current_version() not in released
    for version in released:
        assert f"sql/released/pulse--{version}.sql" in frozen
    for name in os.listdir(os.path.join(ROOT, "sql")):
        m = re.fullmatch(r"pulse--(.+)--(.+)\.sql", name)
        if m and m.group(2) in released:
            assert f"sql/{name}" in frozen, f"sql/{name} upgrades to a release but is not in SHA256SUMS"


def test_every_version_bump_ships_its_upgrade_script():
    """An upgrade path exists from the previous release to this version."""
    path = os.path.join(ROOT, "sql", f"pulse--{PREVIOUS}--{current_version()}.sql")
    with open(path) as f:
        text = f.read()
    assert '\\echo Use "ALTER EXTENSION pulse UPDATE' in text and "\\quit" in text.split("\n\n")[0]
