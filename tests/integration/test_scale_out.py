"""Scale-out on Citus, without Citus: the distribution plan and the rules that keep pulse
distributable (docs/scaling.md, decision log D5 and D42).

Citus cannot run here, so these tests check what Citus would be given and what it requires:

* pulse.citus_distribution_plan() places every table of the extension exactly once: tables
  without project_id as reference tables, tables with project_id distributed by project_id
  and co-located with projects.projects, which comes first;
* every foreign key goes from a table to one placed before it (Citus refuses the others);
* a foreign key between two distributed tables matches project_id with project_id;
* every primary key, unique constraint and unique index of a table with project_id contains
  project_id (Citus cannot enforce the others);
* no INSERT ... VALUES of pulse's holds a subquery (Citus refuses it on a distributed table),
  in sql/, in src/ and in the function bodies of the catalog;
* pulse.distribute() refuses clearly without Citus, and refuses callers who are neither
  superuser nor the extension's owner;
* with pulse.direct_access off, pulse reads its tables and appends history through SQL
  statements, as it does for the tables Citus manages (src/through_sql.rs), and with it on
  it runs none of them; only a superuser can turn it off. (scripts/test.sh runs the tests
  of identity, access, history, discovery and the document lifecycle a second time with it
  off.)

The checkers are plain functions over rows read from the catalog, and each is shown to find
a planted violation.
"""

import pathlib
import re
import uuid

import psycopg
import pytest

from conftest import SCHEMAS, create_app_database, create_database, drop_database
from populate import populate

ROOT = pathlib.Path(__file__).resolve().parents[2]
ANCHOR = "projects.projects"


@pytest.fixture(scope="module")
def db():
    database = create_database()
    yield database
    drop_database(database)


@pytest.fixture(scope="module")
def su(db):
    with db.connect(autocommit=True) as conn:
        yield conn


# ----------------------------------------------------------------------------------------
# What the catalog says.

def plan_of(conn):
    """(step, kind, table, statement) of pulse.citus_distribution_plan(), in step order."""
    return conn.execute("""SELECT step, kind, table_name::text, statement
                             FROM pulse.citus_distribution_plan() ORDER BY step""").fetchall()


def extension_tables(conn):
    """{table: has a project_id column} for every table that belongs to the extension."""
    return dict(conn.execute("""
        SELECT c.oid::regclass::text,
               EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'project_id'
                                                      AND NOT a.attisdropped)
          FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
           AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pulse') AND c.relkind IN ('r', 'p')
    """).fetchall())


def foreign_keys(conn):
    """(name, child, parent, child columns, parent columns) of every foreign key of a table
    in pulse's schemas, columns in key order."""
    return conn.execute("""
        SELECT k.conname::text, k.conrelid::regclass::text, k.confrelid::regclass::text,
               ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(attnum, i)
                       JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum ORDER BY u.i),
               ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(attnum, i)
                       JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.i)
          FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
         WHERE k.contype = 'f' AND n.nspname = ANY(%s)""", (list(SCHEMAS),)).fetchall()


def unique_keys(conn):
    """(index, table, key columns) of every unique index (primary keys and unique constraints
    included) of a table in pulse's schemas; an expression column is named '(expression)'."""
    return conn.execute("""
        SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text,
               ARRAY(SELECT coalesce(a.attname::text, '(expression)')
                       FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) u(attnum)
                       LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum)
          FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE i.indisunique AND n.nspname = ANY(%s)""", (list(SCHEMAS),)).fetchall()


def function_bodies(conn):
    """(function, body) of every SQL and PL/pgSQL function in pulse's schemas."""
    return conn.execute("""
        SELECT p.oid::regprocedure::text, p.prosrc FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
         WHERE n.nspname = ANY(%s) AND l.lanname IN ('sql', 'plpgsql')""", (list(SCHEMAS),)).fetchall()


# ----------------------------------------------------------------------------------------
# The rules, as checkers that return what breaks them (empty: the rule holds).

def coverage_problems(plan, tables):
    placed = [table for _, kind, table, _ in plan if kind != "setting"]
    problems = [f"{t} is placed {placed.count(t)} times" for t in sorted(set(placed)) if placed.count(t) > 1]
    problems += [f"{t} is not in the plan" for t in sorted(set(tables) - set(placed))]
    problems += [f"{t} is not a table of the extension" for t in sorted(set(placed) - set(tables))]
    return problems


def placement_problems(plan, tables):
    """Reference tables before distributed ones; placement by project_id; everything
    distributed by project_id and co-located with projects.projects, which comes first."""
    problems, seen_distributed, anchor_seen = [], False, False
    for step, kind, table, statement in plan:
        if kind == "setting":
            if seen_distributed or table is not None or not statement.startswith("SET LOCAL citus."):
                problems.append(f"step {step}: {statement} is not a leading Citus setting")
            continue
        per_project = tables.get(table)
        if kind == "reference":
            if per_project:
                problems.append(f"{table} has project_id but is a reference table")
            if seen_distributed:
                problems.append(f"{table} is a reference table placed after a distributed table")
            if statement != f"SELECT pg_catalog.create_reference_table('{table}')":
                problems.append(f"step {step}: unexpected statement {statement}")
        elif kind == "distributed":
            seen_distributed = True
            if not per_project:
                problems.append(f"{table} has no project_id but is distributed")
            colocate = "none" if table == ANCHOR else ANCHOR
            if table != ANCHOR and not anchor_seen:
                problems.append(f"{table} is distributed before {ANCHOR}")
            anchor_seen = anchor_seen or table == ANCHOR
            expected = (f"SELECT pg_catalog.create_distributed_table('{table}', 'project_id', "
                        f"colocate_with => '{colocate}')")
            if statement != expected:
                problems.append(f"step {step}: {statement} is not {expected}")
        else:
            problems.append(f"step {step}: unknown kind {kind}")
    return problems


def order_problems(plan, fks):
    """Every foreign key goes from a table to one placed earlier (in the order of the rows)."""
    position = {table: i for i, (_, kind, table, _) in enumerate(plan) if kind != "setting"}
    return [f"{name}: {child} (row {position.get(child)}) references {parent} (row {position.get(parent)})"
            for name, child, parent, _, _ in fks
            if child != parent and not (child in position and parent in position and position[parent] < position[child])]


def colocation_problems(fks, tables):
    """A foreign key between two tables with project_id matches project_id with project_id
    (so it never crosses projects, and Citus can check it inside one shard group); none goes
    from a table without project_id to one with it."""
    problems = []
    for name, child, parent, child_columns, parent_columns in fks:
        if tables.get(child) and tables.get(parent):
            pairs = list(zip(child_columns, parent_columns))
            if ("project_id", "project_id") not in pairs:
                problems.append(f"{name}: {child} ({', '.join(child_columns)}) -> {parent} "
                                f"({', '.join(parent_columns)}) does not match project_id")
        elif tables.get(parent) and not tables.get(child):
            problems.append(f"{name}: {child} has no project_id but references per-project {parent}")
    return problems


def unique_key_problems(uniques, tables):
    """Every primary key, unique constraint and unique index of a per-project table holds
    project_id as a key column."""
    return [f"{index} on {table} ({', '.join(columns)}) lacks project_id"
            for index, table, columns in uniques if tables.get(table) and "project_id" not in columns]


INSERT_VALUES_SUBQUERY = re.compile(r"\bINSERT\s+INTO\b[^;]*?\bVALUES\b[^;]*?\(\s*SELECT\b", re.IGNORECASE | re.DOTALL)


def subquery_in_values(text):
    """The INSERT ... VALUES statements of a text that hold a subquery. A statement ends at a
    semicolon; in Rust sources, also at a string's quote, so that one literal is one
    statement."""
    return [m.group(0) for chunk in re.split(r'"', text) for m in INSERT_VALUES_SUBQUERY.finditer(chunk)]


def source_files():
    return sorted(ROOT.glob("sql/*.sql")) + sorted(ROOT.glob("src/**/*.rs"))


# ----------------------------------------------------------------------------------------
# The current schema follows the rules.

def test_the_plan_places_every_table_of_the_extension_once(su):
    tables = extension_tables(su)
    assert len(tables) >= 35
    assert coverage_problems(plan_of(su), tables) == []


def test_the_plan_places_tables_by_project_id_and_colocates_them_with_projects(su):
    plan, tables = plan_of(su), extension_tables(su)
    assert placement_problems(plan, tables) == []
    kinds = {table: kind for _, kind, table, _ in plan if table}
    # The placements docs/scaling.md describes.
    for table in ("users.users", "users.sessions", "pulse.phase_reference", "pulse.identity_key",
                  "pulse.storage_credential", "pulse.auditor_role", "audit.column_policy", "pulse.redaction_salt"):
        assert kinds[table] == "reference", table
    for table in ("projects.projects", "projects.project_member", "documents.documents", "documents.url_grant",
                  "audit.project_history", "audit.document_history", "audit.project_chain", "audit.document_chain",
                  "audit.history_tombstone", "audit.legal_hold", "audit.ddl_log"):
        assert kinds[table] == "distributed", table
    assert [statement for _, kind, _, statement in plan if kind == "setting"] == [
        "SET LOCAL citus.enable_local_reference_table_foreign_keys = off",
        "SET LOCAL citus.enable_unsafe_triggers = on",
        "SET LOCAL citus.multi_shard_modify_mode = 'sequential'",
    ]


def test_the_plan_respects_foreign_key_order(su):
    assert order_problems(plan_of(su), foreign_keys(su)) == []


def test_foreign_keys_between_per_project_tables_match_project_id(su):
    assert colocation_problems(foreign_keys(su), extension_tables(su)) == []


def test_every_unique_key_of_a_per_project_table_holds_project_id(su):
    uniques = unique_keys(su)
    assert any(index == "audit.legal_hold_active_idx" for index, _, _ in uniques)  # unique indexes are seen too
    assert unique_key_problems(uniques, extension_tables(su)) == []


def test_no_insert_values_holds_a_subquery(su):
    files = source_files()
    assert any(f.name == "capture.rs" for f in files) and any(f.name == "history.sql" for f in files)
    offenders = [(str(f.relative_to(ROOT)), hit) for f in files for hit in subquery_in_values(f.read_text())]
    offenders += [(name, hit) for name, body in function_bodies(su) for hit in subquery_in_values(body)]
    assert offenders == []


def test_the_plan_is_stable_and_each_step_says_why(su):
    rows = su.execute("SELECT step, why FROM pulse.citus_distribution_plan() ORDER BY step").fetchall()
    assert [step for step, _ in rows] == list(range(1, len(rows) + 1))
    assert all(why for _, why in rows)
    assert plan_of(su) == plan_of(su)


# ----------------------------------------------------------------------------------------
# pulse.distribute() without Citus, and who may call it.

def test_distribute_refuses_clearly_without_citus(su):
    assert su.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'").fetchone() == (0,)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as refused:
        su.execute("SELECT pulse.distribute()")
    assert refused.value.diag.message_primary == (
        "pulse.distribute() needs the Citus extension, which is not installed in this database")
    assert "CREATE EXTENSION citus" in refused.value.diag.message_hint
    # Nothing was placed, nothing was changed.
    assert coverage_problems(plan_of(su), extension_tables(su)) == []


def test_distribute_and_the_plan_are_for_superusers_and_the_extension_owner(db, su):
    role = "pulse_scale_" + uuid.uuid4().hex[:8]
    su.execute(f"CREATE ROLE {role} LOGIN")
    try:
        dsn = db.dsn.replace("user=postgres", f"user={role}")
        with psycopg.connect(dsn, autocommit=True) as conn:
            for call in ("SELECT pulse.distribute()", "SELECT count(*) FROM pulse.citus_distribution_plan()"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(call)
        # Even with EXECUTE granted, distribute() itself refuses anyone else.
        su.execute(f"GRANT USAGE ON SCHEMA pulse TO {role}")
        su.execute(f"GRANT EXECUTE ON FUNCTION pulse.distribute(), pulse.citus_distribution_plan() TO {role}")
        with psycopg.connect(dsn, autocommit=True) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="superuser or the owner"):
                conn.execute("SELECT pulse.distribute()")
    finally:
        su.execute(f"REVOKE ALL ON FUNCTION pulse.distribute(), pulse.citus_distribution_plan() FROM {role}")
        su.execute(f"REVOKE ALL ON SCHEMA pulse FROM {role}")
        su.execute(f"DROP ROLE {role}")


def test_function_declarations(su):
    rows = dict((name, rest) for name, *rest in su.execute("""
        SELECT p.proname::text, p.provolatile, p.proparallel, p.prosecdef, p.proconfig
          FROM pg_proc p WHERE p.pronamespace = 'pulse'::regnamespace
           AND p.proname IN ('citus_distribution_plan', 'distribute')""").fetchall())
    assert rows == {"citus_distribution_plan": ["s", "s", False, ["search_path=pg_catalog, pg_temp"]],
                    "distribute": ["v", "u", False, ["search_path=pg_catalog, pg_temp"]]}


# ----------------------------------------------------------------------------------------
# The SQL path that tables Citus manages take (pulse.direct_access off).

# The statements src/through_sql.rs runs for one table: reads, and history appends.
THROUGH_SQL = re.compile(r"^(SELECT t FROM \w+\.\w+ AS t"
                         r"|INSERT INTO audit\.(project|document)_(history|chain) |UPDATE audit\.\w+ SET)")


def statements_through_sql(conn):
    """{statement prefix: calls} of pulse's own reads and appends through SQL."""
    found = {}
    for query, calls in conn.execute("SELECT query, calls FROM pg_stat_statements").fetchall():
        match = THROUGH_SQL.match(query)
        if match:
            found[match.group(1)] = found.get(match.group(1), 0) + calls
    return found


@pytest.mark.parametrize("direct_access", ["on", "off"])
def test_direct_access_off_reads_and_appends_through_sql(direct_access):
    database = create_database()
    try:
        with database.connect(autocommit=True) as su:
            su.execute("CREATE EXTENSION pg_stat_statements")
            su.execute(f"ALTER DATABASE \"{database.name}\" SET pulse.direct_access = {direct_access}")
            su.execute(f"ALTER DATABASE \"{database.name}\" SET pg_stat_statements.track = 'all'")
        with database.connect() as conn:
            conn.execute("SELECT pg_stat_statements_reset()")
            populate(conn)  # authenticates, writes projects, links and documents, purges
            conn.commit()
            assert conn.execute("SELECT count(*) FROM audit.verify()").fetchone() == (0,)
            found = statements_through_sql(conn)
        if direct_access == "on":
            assert found == {}
            return
        for statement in ("SELECT t FROM users.sessions AS t", "SELECT t FROM pulse.identity_key AS t",
                          "SELECT t FROM projects.project_member AS t", "SELECT t FROM audit.project_chain AS t",
                          "SELECT t FROM pulse.phase_reference AS t", "INSERT INTO audit.project_history ",
                          "INSERT INTO audit.document_history ", "INSERT INTO audit.project_chain ",
                          "UPDATE audit.project_chain SET"):
            assert found.get(statement, 0) > 0, statement
    finally:
        drop_database(database)


def test_the_sql_path_reads_rows_with_dropped_columns_as_the_index_read_does():
    """pulse's own tables with a column dropped and another added after it still work down
    both paths: authentication finds the right user, and a project's snapshot lists the same
    tags. (That whole-row values keep a table's layout, order and values, dropped columns
    included, is the #[pg_test] in src/through_sql.rs.)"""
    database = create_database()
    try:
        with database.connect(autocommit=True) as su:
            for table in ("users.sessions", "projects.project_tag"):
                su.execute(f"ALTER TABLE {table} ADD COLUMN scratch integer")
                su.execute(f"ALTER TABLE {table} DROP COLUMN scratch")
                su.execute(f"ALTER TABLE {table} ADD COLUMN note text DEFAULT 'after a dropped column'")
            user = su.execute("SELECT users.create_user('dropped@example.com', 'Dropped')").fetchone()[0]
            phase, priority, tag = (su.execute(f"SELECT min({c}) FROM pulse.{t}").fetchone()[0]
                                    for c, t in (("phase_id", "phase_reference"), ("priority_id", "priority_reference"),
                                                 ("tag_id", "tag_reference")))
        tags = {}
        for access in ("on", "off"):
            with database.connect() as conn:
                conn.execute(f"SET pulse.direct_access = {access}")
                token = conn.execute("SELECT token FROM users.open_session(%s)", (user,)).fetchone()[0]
                conn.commit()
                assert conn.execute("SELECT pulse.authenticate(%s)", (token,)).fetchone() == (user,)
                assert conn.execute("SELECT pulse.current_user_id()").fetchone() == (user,)
                project = conn.execute("""INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                                          VALUES (%s, %s, %s, %s) RETURNING project_id""",
                                       (f"P {access}", user, phase, priority)).fetchone()[0]
                conn.execute("INSERT INTO projects.project_tag (project_id, tag_id) VALUES (%s, %s)", (project, tag))
                conn.commit()
                tags[access] = conn.execute("""SELECT snapshot->'tags' FROM audit.project_history
                                                WHERE project_id = %s ORDER BY version DESC LIMIT 1""",
                                            (project,)).fetchone()[0]
            with database.connect() as conn:
                assert conn.execute("SELECT count(*) FROM audit.verify()").fetchone() == (0,)
        assert len(tags["on"]) == 1 and tags["on"][0]["id"] == tag and tags["on"][0]["label"]
        assert tags["off"] == tags["on"]
    finally:
        drop_database(database)


def test_only_a_superuser_turns_direct_access_off():
    database = create_app_database()
    try:
        with psycopg.connect(database.app_dsn, autocommit=True) as app:
            assert app.execute("""SELECT context, boot_val FROM pg_settings
                                   WHERE name = 'pulse.direct_access'""").fetchone() == ("superuser", "on")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute("SET pulse.direct_access = off")
    finally:
        drop_database(database)


# ----------------------------------------------------------------------------------------
# The checkers find planted violations.

def test_checkers_find_a_reordered_or_incomplete_plan(su):
    plan, tables, fks = plan_of(su), extension_tables(su), foreign_keys(su)
    settings = [row for row in plan if row[1] == "setting"]
    placed = [row for row in plan if row[1] != "setting"]
    reversed_plan = settings + placed[::-1]
    assert order_problems(reversed_plan, fks) != []
    assert placement_problems(reversed_plan, tables) != []
    assert "projects.decision_document is placed 2 times" in coverage_problems(
        plan + [r for r in plan if r[2] == "projects.decision_document"], tables)
    assert "users.sessions is not in the plan" in coverage_problems([r for r in plan if r[2] != "users.sessions"], tables)
    wrong_colocation = [(s, k, t, st.replace("'projects.projects'", "'default'")) for s, k, t, st in plan]
    assert any("documents.documents" in p for p in placement_problems(wrong_colocation, tables))


def test_checkers_find_keys_and_foreign_keys_planted_in_the_catalog(fresh_db):
    with fresh_db.connect(autocommit=True) as conn:
        # A unique key without project_id, and a foreign key across projects that uses it.
        conn.execute("CREATE UNIQUE INDEX planted_key ON projects.project_decision_log (decision_id)")
        conn.execute("""ALTER TABLE projects.decision_document ADD CONSTRAINT planted_fk
                        FOREIGN KEY (decision_id) REFERENCES projects.project_decision_log (decision_id)""")
        # A reference table that references a distributed one: no order can satisfy it.
        conn.execute("""ALTER TABLE pulse.tag_reference ADD COLUMN planted_project bigint
                        CONSTRAINT planted_back_fk REFERENCES projects.projects (project_id)""")
        tables, fks = extension_tables(conn), foreign_keys(conn)
        assert unique_key_problems(unique_keys(conn), tables) == [
            "projects.planted_key on projects.project_decision_log (decision_id) lacks project_id"]
        assert colocation_problems(fks, tables) == [
            "planted_fk: projects.decision_document (decision_id) -> projects.project_decision_log (decision_id)"
            " does not match project_id",
            "planted_back_fk: pulse.tag_reference has no project_id but references per-project projects.projects"]
        assert [p for p in order_problems(plan_of(conn), fks) if p.startswith("planted_back_fk:")] != []


def test_the_plan_follows_the_catalog(fresh_db):
    """A table added to the extension is placed by what it has, not by a list."""
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE audit.planted_notes (project_id bigint, note text, PRIMARY KEY (project_id, note))")
        conn.execute("CREATE TABLE pulse.planted_codes (code text PRIMARY KEY)")
        conn.execute("ALTER EXTENSION pulse ADD TABLE audit.planted_notes")
        conn.execute("ALTER EXTENSION pulse ADD TABLE pulse.planted_codes")
        plan, tables = plan_of(conn), extension_tables(conn)
        kinds = {table: kind for _, kind, table, _ in plan if table}
        assert kinds["audit.planted_notes"] == "distributed" and kinds["pulse.planted_codes"] == "reference"
        assert coverage_problems(plan, tables) == [] and placement_problems(plan, tables) == []
        conn.execute("ALTER EXTENSION pulse DROP TABLE audit.planted_notes")
        conn.execute("ALTER EXTENSION pulse DROP TABLE pulse.planted_codes")


def test_subquery_checker_finds_planted_statements(fresh_db):
    planted_sql = """INSERT INTO audit.ddl_log (event, command_tag)
                     VALUES ('sql_drop', (SELECT 'DROP TABLE'));"""
    planted_rust = 'client.update("INSERT INTO x (a, b) VALUES ($1, ( select max(b) FROM y))", None, &[])'
    assert len(subquery_in_values(planted_sql)) == 1
    assert len(subquery_in_values(planted_rust)) == 1
    # Not a subquery in VALUES: the checker stays quiet.
    assert subquery_in_values("INSERT INTO x (a) SELECT b FROM y; INSERT INTO z VALUES (1); SELECT (SELECT 1)") == []
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute("""CREATE FUNCTION audit.planted_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN
                            INSERT INTO audit.ddl_log (event, command_tag) VALUES ('sql_drop', (SELECT 'x'));
                            RETURN NULL;
                        END $$""")
        assert [name for name, body in function_bodies(conn) if subquery_in_values(body)] == ["audit.planted_trigger()"]

