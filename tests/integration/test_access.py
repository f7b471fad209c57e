"""Role-based access enforced by row-level security, seen from an application role: which
projects' rows each persona sees, and the rules policies alone cannot express. The full
persona x table x operation matrix is in test_persona_matrix.py."""


import psycopg
import pytest

from conftest import create_app_database, drop_database

PERSONAS = ["owner", "maintainer", "editor", "viewer", "other", "admin"]


@pytest.fixture(scope="module")
def env():
    db = create_app_database(auditor=True)
    ids, tokens = {}, {}
    with db.connect(autocommit=True) as su:
        for name in PERSONAS:
            ids[name] = su.execute("SELECT users.create_user(%s, %s, NULL, %s)",
                                   (f"{name}@example.com", name.title(), name == "admin")).fetchone()[0]
            tokens[name] = su.execute("SELECT token FROM users.open_session(%s)", (ids[name],)).fetchone()[0]
        phase, prio = su.execute("""SELECT (SELECT phase_id FROM pulse.phase_reference WHERE code = 'idea'),
                                           (SELECT priority_id FROM pulse.priority_reference WHERE code = 'low')""").fetchone()
        for project, owner in (("P", "owner"), ("Q", "other")):
            ids[project] = su.execute("""INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                                         VALUES (%s, %s, %s, %s) RETURNING project_id""",
                                      (project, ids[owner], phase, prio)).fetchone()[0]
            su.execute("""INSERT INTO projects.project_member (project_id, user_id, access_role_id)
                          SELECT %s, %s, access_role_id FROM pulse.access_role_reference WHERE code = 'owner'""",
                       (ids[project], ids[owner]))
            su.execute("""INSERT INTO projects.project_tag (project_id, tag_id)
                          SELECT %s, tag_id FROM pulse.tag_reference WHERE code = 'legacy'""", (ids[project],))
        for name, role in (("maintainer", "maintainer"), ("editor", "editor"), ("viewer", "viewer")):
            su.execute("""INSERT INTO projects.project_member (project_id, user_id, access_role_id)
                          SELECT %s, %s, access_role_id FROM pulse.access_role_reference WHERE code = %s""",
                       (ids["P"], ids[name], role))
    db.ids, db.tokens = ids, tokens
    yield db
    drop_database(db)


def as_persona(env, persona):
    conn = psycopg.connect(env.app_dsn)
    if persona != "nobody":
        conn.execute("SELECT pulse.authenticate(%s)", (env.tokens[persona],))
    return conn


def visible_projects(env, persona, table):
    with as_persona(env, persona) as conn:
        rows = conn.execute(f"SELECT DISTINCT project_id FROM {table}").fetchall()
    names = {env.ids["P"]: "P", env.ids["Q"]: "Q"}
    return "".join(sorted(names[r[0]] for r in rows))


# Which projects' rows each persona sees, per table (written out, not computed).
VISIBILITY = {
    "projects.projects":      {"nobody": "", "viewer": "P", "editor": "P", "maintainer": "P", "owner": "P", "other": "Q", "admin": "PQ"},
    "projects.project_member": {"nobody": "", "viewer": "P", "editor": "P", "maintainer": "P", "owner": "P", "other": "Q", "admin": "PQ"},
    "projects.project_tag":   {"nobody": "", "viewer": "P", "editor": "P", "maintainer": "P", "owner": "P", "other": "Q", "admin": "PQ"},
    "audit.project_history":  {"nobody": "", "viewer": "P", "editor": "P", "maintainer": "P", "owner": "P", "other": "Q", "admin": "PQ"},
}


@pytest.mark.parametrize("table", sorted(VISIBILITY))
@pytest.mark.parametrize("persona", ["nobody", *PERSONAS])
def test_rows_are_visible_exactly_to_members(env, table, persona):
    assert visible_projects(env, persona, table) == VISIBILITY[table][persona]


def test_auditor_sees_everything_without_a_session(env):
    with psycopg.connect(env.auditor_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM projects.projects").fetchone() == (2,)
        with psycopg.connect(env.dsn) as su:
            history = su.execute("SELECT count(*) FROM audit.project_history").fetchone()
        assert history[0] > 2 and conn.execute("SELECT count(*) FROM audit.project_history").fetchone() == history
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE projects.projects SET description = 'x'")


def test_creating_a_project_makes_the_caller_its_owner(env):
    with as_persona(env, "viewer") as conn:
        pid = conn.execute("""INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                              SELECT 'Mine', pulse.current_user_id(), phase_id, priority_id FROM projects.projects
                              WHERE project_id = %s RETURNING project_id""", (env.ids["P"],)).fetchone()[0]
        role = conn.execute("""SELECT r.code FROM projects.project_member m JOIN pulse.access_role_reference r USING (access_role_id)
                               WHERE m.project_id = %s AND m.user_id = pulse.current_user_id()""", (pid,)).fetchone()
        assert role == ("owner",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("""INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                            SELECT 'Theirs', %s, phase_id, priority_id FROM projects.projects WHERE project_id = %s""",
                         (env.ids["owner"], env.ids["P"]))
        conn.rollback()


def role_id(conn, code):
    return conn.execute("SELECT access_role_id FROM pulse.access_role_reference WHERE code = %s", (code,)).fetchone()[0]


def test_membership_rules(env):
    p = env.ids["P"]
    with as_persona(env, "maintainer") as conn:
        # A maintainer adds a viewer, but cannot grant owner nor raise themself.
        conn.execute("INSERT INTO projects.project_member (project_id, user_id, access_role_id) VALUES (%s, %s, %s)",
                     (p, env.ids["other"], role_id(conn, "viewer")))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="above your own"):
            conn.execute("UPDATE projects.project_member SET access_role_id = %s WHERE project_id = %s AND user_id = %s",
                         (role_id(conn, "owner"), p, env.ids["other"]))
        conn.rollback()
    with as_persona(env, "editor") as conn:
        cur = conn.execute("UPDATE projects.project_member SET access_role_id = %s WHERE project_id = %s AND user_id = %s",
                           (role_id(conn, "maintainer"), p, env.ids["editor"]))
        assert cur.rowcount == 0  # editors do not manage members: the row is out of reach
        conn.rollback()
    with as_persona(env, "owner") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="at least one owner"):
            conn.execute("DELETE FROM projects.project_member WHERE project_id = %s AND user_id = %s", (p, env.ids["owner"]))
        conn.rollback()


def test_soft_delete_needs_delete_restore(env):
    p = env.ids["P"]
    with as_persona(env, "editor") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="delete_restore"):
            conn.execute("UPDATE projects.projects SET deleted_at = now() WHERE project_id = %s", (p,))
        conn.rollback()
    with as_persona(env, "maintainer") as conn:
        assert conn.execute("UPDATE projects.projects SET deleted_at = now() WHERE project_id = %s", (p,)).rowcount == 1
        conn.rollback()


def test_reference_data_is_read_by_callers_and_written_by_admins(env):
    with as_persona(env, "nobody") as conn:
        assert conn.execute("SELECT count(*) FROM pulse.tag_reference").fetchone() == (0,)
    with as_persona(env, "viewer") as conn:
        assert conn.execute("SELECT count(*) FROM pulse.tag_reference").fetchone()[0] >= 8
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO pulse.tag_reference (code, label, category) VALUES ('x', 'X', 'c')")
    with as_persona(env, "admin") as conn:
        conn.execute("INSERT INTO pulse.tag_reference (code, label, category) VALUES ('x', 'X', 'c')")
        conn.rollback()


def test_users_see_only_their_own_sessions(env):
    with as_persona(env, "viewer") as conn:
        owners = conn.execute("SELECT DISTINCT user_id FROM users.sessions").fetchall()
        assert owners == [(env.ids["viewer"],)]
    with as_persona(env, "admin") as conn:
        assert conn.execute("SELECT count(DISTINCT user_id) FROM users.sessions").fetchone()[0] == len(PERSONAS)


def test_prepared_statement_follows_the_current_caller(env):
    with psycopg.connect(env.app_dsn) as conn:
        query = "SELECT count(*) FROM projects.projects"
        for persona, expected in (("owner", 1), ("admin", 2), ("other", 1), ("nobody", 0)):
            if persona != "nobody":
                conn.execute("SELECT pulse.authenticate(%s)", (env.tokens[persona],))
            assert conn.execute(query, prepare=True).fetchone() == (expected,), persona
            conn.commit()
