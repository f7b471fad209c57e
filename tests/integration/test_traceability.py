"""Traceability: the ER diagram, the catalog inventories, catalog_problems, the access audit
(role_privileges, role_flags, project_access) and audit.statement_statistics.

Every view is compared with catalog queries written here by hand, mostly through
information_schema and the has_*_privilege() functions, so that the views are not checked
against themselves. The ER diagram is parsed back and compared with the catalog, and the
committed docs/er-diagram.dot and docs/er-diagram.svg must be what pulse.er_diagram('dot')
makes on a fresh install.
"""

import pathlib
import re
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET

import psycopg
import pytest

from conftest import SCHEMAS, create_app_database, create_database, drop_database
from populate import populate

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOT_FILE = ROOT / "docs" / "er-diagram.dot"
SVG_FILE = ROOT / "docs" / "er-diagram.svg"


@pytest.fixture(scope="module")
def world():
    """A populated database with an application and an auditor role."""
    db = create_app_database(auditor=True)
    with db.connect() as conn:
        db.ids = populate(conn)
    yield db
    drop_database(db)


@pytest.fixture(scope="module")
def su(world):
    with world.connect(autocommit=True) as conn:
        yield conn


def rows(conn, sql, params=()):
    return conn.execute(sql, params).fetchall()


# ---------------------------------------------------------------------------------------
# The ER diagram.


def catalog_model(conn):
    """Tables, their key columns and their foreign keys, from information_schema.

    Returns (tables, foreign_keys): tables maps "schema.table" to [(column, type, keys)] in
    column order, keys "PK", "FK" or "PK FK"; foreign_keys maps (child, constraint) to a dict
    with the parent, the first columns on both sides and the cardinality."""
    s = list(SCHEMAS)
    tables = {r[0]: [] for r in rows(conn, """
        SELECT table_schema || '.' || table_name FROM information_schema.tables
         WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE'""", (s,))}
    constraint_columns = {}  # (schema, constraint) -> (table, type, [columns in key order])
    for schema, name, table, kind, column in rows(conn, """
            SELECT tc.constraint_schema, tc.constraint_name, tc.table_schema || '.' || tc.table_name,
                   tc.constraint_type, k.column_name
              FROM information_schema.table_constraints tc
              JOIN information_schema.key_column_usage k
                ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name
             WHERE tc.table_schema = ANY(%s) AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')
             ORDER BY tc.constraint_schema, tc.constraint_name, k.ordinal_position""", (s,)):
        constraint_columns.setdefault((schema, name), (table, kind, []))[2].append(column)
    columns = {(r[0], r[1]): (r[2], r[3]) for r in rows(conn, """
        SELECT table_schema || '.' || table_name, column_name,
               CASE data_type WHEN 'ARRAY' THEN substr(udt_name, 2) || '[]' ELSE data_type END, is_nullable = 'YES'
          FROM information_schema.columns WHERE table_schema = ANY(%s)""", (s,))}
    ordinal = {(r[0], r[1]): r[2] for r in rows(conn, """
        SELECT table_schema || '.' || table_name, column_name, ordinal_position
          FROM information_schema.columns WHERE table_schema = ANY(%s)""", (s,))}

    keys = {}
    for table, kind, cols in constraint_columns.values():
        if kind in ("PRIMARY KEY", "FOREIGN KEY"):
            for col in cols:
                keys.setdefault((table, col), set()).add("PK" if kind == "PRIMARY KEY" else "FK")
    for (table, col), marks in sorted(keys.items(), key=lambda kv: (kv[0][0], ordinal[kv[0]])):
        tables[table].append((col, columns[(table, col)][0], " ".join(m for m in ("PK", "FK") if m in marks)))

    primary = {t: set(c) for t, k, c in constraint_columns.values() if k == "PRIMARY KEY"}
    unique_sets = {}
    for t, k, c in constraint_columns.values():
        if k in ("PRIMARY KEY", "UNIQUE"):
            unique_sets.setdefault(t, []).append(set(c))
    foreign_keys = {}
    for schema, name, unique_schema, unique_name in rows(conn, """
            SELECT constraint_schema, constraint_name, unique_constraint_schema, unique_constraint_name
              FROM information_schema.referential_constraints WHERE constraint_schema = ANY(%s)""", (s,)):
        child, _, cols = constraint_columns[(schema, name)]
        parent, _, parent_cols = constraint_columns[(unique_schema, unique_name)]
        foreign_keys[(child, name)] = {
            "parent": parent, "child_port": cols[0], "parent_port": parent_cols[0],
            "child_unique": any(u <= set(cols) for u in unique_sets.get(child, [])),
            "mandatory": not any(columns[(child, c)][1] for c in cols),
            "identifying": set(cols) <= primary.get(child, set()),
        }
    return tables, foreign_keys


MERMAID_ENTITY = re.compile(r'    "([^"]+)"(?: \{\n((?:        [^\n]*\n)+)    \})?\n')
MERMAID_ATTRIBUTE = re.compile(r"        (\S+) (\S+) (PK|FK|PK, FK)\n")
MERMAID_RELATIONSHIP = re.compile(r'    "([^"]+)" (\}o|\|o)(--|\.\.)(\|\||o\|) "([^"]+)" : "([^"]+)"\n')


def parse_mermaid(text):
    assert text.startswith("erDiagram\n")
    position, tables, foreign_keys = len("erDiagram\n"), {}, {}
    while match := MERMAID_ENTITY.match(text, position):
        body = match.group(2) or ""  # a table without key columns is named alone
        attributes = MERMAID_ATTRIBUTE.findall(body)
        assert "".join(f"        {t} {c} {k}\n" for t, c, k in attributes) == body, body
        tables[match.group(1)] = [(c, t, k.replace(", ", " ")) for t, c, k in attributes]
        position = match.end()
    while match := MERMAID_RELATIONSHIP.match(text, position):
        child, many, line, one, parent, name = match.groups()
        foreign_keys[(child, name)] = {"parent": parent, "child_unique": many == "|o",
                                       "mandatory": one == "||", "identifying": line == "--"}
        position = match.end()
    assert position == len(text), f"unparsed Mermaid from: {text[position:position + 200]!r}"
    return tables, foreign_keys


DOT_NODE = re.compile(r'        "([^"]+)" \[id="([^"]+)", label=<<TABLE [^>]*><TR><TD COLSPAN="3" [^>]*><B>([^<]+)</B></TD></TR>'
                      r'((?:<TR>.*?</TR>)*)</TABLE>>\];')
DOT_ROW = re.compile(r'<TR><TD PORT="([^"]+)" ALIGN="LEFT">([^<]+)</TD><TD ALIGN="LEFT">([^<]+)</TD>'
                     r'<TD PORT="key-([^"]+)">([^<]*)</TD></TR>')
DOT_EDGE = re.compile(r'    "([^"]+)":"key-([^"]+)":e -> "([^"]+)":"([^"]+)":w \[id="([^"]+)", arrowtail=(\w+), '
                      r'arrowhead=(\w+)(, style=dashed)?\];')


def parse_dot(text):
    """Nodes (with the cluster they are drawn in) and edges of pulse.er_diagram('dot')."""
    lines = text.splitlines()
    assert lines[0] == "digraph pulse {" and lines[-1] == "}" and text.endswith("}\n")
    tables, foreign_keys, clusters, cluster = {}, {}, {}, None
    for line in lines[1:-1]:
        if m := re.fullmatch(r'    subgraph "cluster_([a-z_]+)" \{', line):
            cluster = m.group(1)
        elif line == "    }":
            cluster = None
        elif m := DOT_NODE.fullmatch(line):
            name, node_id, title, body = m.groups()
            assert node_id == title == name
            found = DOT_ROW.findall(body)
            assert "".join(f'<TR><TD PORT="{p}" ALIGN="LEFT">{c}</TD><TD ALIGN="LEFT">{t}</TD>'
                           f'<TD PORT="key-{k}">{mark}</TD></TR>' for p, c, t, k, mark in found) == body
            assert all(p == c == k for p, c, _, k, _ in found)
            tables[name] = [(c, t, mark) for _, c, t, _, mark in found]
            clusters[name] = cluster
        elif m := DOT_EDGE.fullmatch(line):
            child, child_port, parent, parent_port, edge_id, tail, head, dashed = m.groups()
            assert edge_id.startswith(child + ".")
            assert tail in ("crowodot", "teeodot") and head in ("teetee", "teeodot")
            foreign_keys[(child, edge_id[len(child) + 1:])] = {
                "parent": parent, "child_port": child_port, "parent_port": parent_port,
                "child_unique": tail == "teeodot", "mandatory": head == "teetee", "identifying": not dashed}
        else:
            assert line.startswith(("    graph [", "           label=", "    node [", "    edge [",
                                    '        label="')), line
    return tables, foreign_keys, clusters


def test_er_diagram_formats_and_refusals(su):
    assert su.execute("SELECT pulse.er_diagram()").fetchone()[0].startswith("erDiagram\n")
    assert su.execute("SELECT pulse.er_diagram('mermaid')").fetchone() == su.execute("SELECT pulse.er_diagram()").fetchone()
    assert su.execute("SELECT pulse.er_diagram(format => 'dot')").fetchone()[0].startswith("digraph pulse {\n")
    for bad in ("svg", "DOT", "", None):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown diagram format"):
            su.execute("SELECT pulse.er_diagram(%s)", (bad,))
    meta = su.execute("""SELECT provolatile, proisstrict, proparallel, prosecdef FROM pg_proc
                          WHERE oid = 'pulse.er_diagram(text)'::regprocedure""").fetchone()
    assert meta == ("s", False, "s", False)


def test_mermaid_diagram_has_every_table_key_column_and_foreign_key(su):
    tables, foreign_keys = parse_mermaid(su.execute("SELECT pulse.er_diagram('mermaid')").fetchone()[0])
    expected_tables, expected_keys = catalog_model(su)
    # Mermaid types are single words.
    assert tables == {t: [(c, ty.replace(" ", "_"), k) for c, ty, k in cols] for t, cols in expected_tables.items()}
    assert foreign_keys == {k: {f: v[f] for f in ("parent", "child_unique", "mandatory", "identifying")}
                            for k, v in expected_keys.items()}
    # Spot checks of the cardinalities against what the schema says in words.
    assert foreign_keys[("projects.projects", "projects_owner_id_fkey")] == {
        "parent": "users.users", "child_unique": False, "mandatory": True, "identifying": False}
    assert foreign_keys[("projects.projects", "projects_license_id_fkey")]["mandatory"] is False
    assert foreign_keys[("projects.project_member", "project_member_project_id_fkey")]["identifying"] is True
    assert foreign_keys[("pulse.storage_credential", "storage_credential_storage_id_fkey")]["child_unique"] is True
    text = su.execute("SELECT pulse.er_diagram()").fetchone()[0]
    assert '"projects.projects" }o..|| "users.users" : "projects_owner_id_fkey"\n' in text
    assert '"projects.projects" }o..o| "pulse.license_reference" : "projects_license_id_fkey"\n' in text
    # History has no foreign keys (decision log D8) but its tables are in the picture.
    assert "audit.project_history" in tables
    assert not any(child.startswith("audit.") or v["parent"].startswith("audit.") for (child, _), v in foreign_keys.items())


def test_dot_diagram_has_every_table_key_column_and_foreign_key(su):
    tables, foreign_keys, clusters = parse_dot(su.execute("SELECT pulse.er_diagram('dot')").fetchone()[0])
    expected_tables, expected_keys = catalog_model(su)
    assert tables == expected_tables
    assert foreign_keys == expected_keys
    assert clusters == {t: t.split(".")[0] for t in expected_tables}


def test_er_diagram_is_deterministic(su):
    """The same text under another search_path, collation order and whatever the planner picks."""
    first = su.execute("SELECT pulse.er_diagram('dot'), pulse.er_diagram()").fetchone()
    with su.transaction(force_rollback=True):
        su.execute("SET LOCAL search_path = users, projects, pulse, public")
        su.execute("SET LOCAL enable_hashagg = off")
        su.execute("SET LOCAL enable_sort = off")
        assert su.execute("SELECT pulse.er_diagram('dot'), pulse.er_diagram()").fetchone() == first


def fresh_dot():
    db = create_database()
    try:
        with db.connect() as conn:
            return conn.execute("SELECT pulse.er_diagram('dot')").fetchone()[0]
    finally:
        drop_database(db)


def test_committed_dot_file_is_the_diagram_of_a_fresh_install():
    assert DOT_FILE.read_text() == fresh_dot(), (
        "docs/er-diagram.dot is stale: regenerate it with pulse.er_diagram('dot') on a fresh install, "
        "and docs/er-diagram.svg with dot -Tsvg")


def svg_content(svg_text):
    """What an SVG of Graphviz shows: node and edge ids with their titles, and every text."""
    ns = {"svg": "http://www.w3.org/2000/svg"}
    root = ET.fromstring(svg_text)
    nodes, edges = {}, {}
    for group in root.iter("{http://www.w3.org/2000/svg}g"):
        title = group.find("svg:title", ns)
        if group.get("class") == "node":
            nodes[group.get("id")] = title.text
        elif group.get("class") == "edge":
            edges[group.get("id")] = title.text
    texts = sorted(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    return nodes, edges, texts


def graphviz_version(svg_text):
    match = re.search(r"<!-- Generated by graphviz version (\S+ \S+)", svg_text)
    return match and match.group(1)


def test_committed_svg_shows_the_committed_diagram():
    """Every table and foreign key of the diagram is in the picture, and nothing else. With
    Graphviz installed, the picture is also rendered anew and compared: its content always,
    byte for byte when the same Graphviz version made the committed file."""
    dot_text = fresh_dot()
    tables, foreign_keys, _ = parse_dot(dot_text)
    committed = SVG_FILE.read_text()
    nodes, edges, texts = svg_content(committed)
    assert nodes == {t: t for t in tables}
    # An edge's title is "tail->head", with port and compass point as this Graphviz spells them.
    assert {edge: tuple(title.split(":")[0] for title in titles.split("->")) for edge, titles in edges.items()} == {
        f"{child}.{name}": (child, fk["parent"]) for (child, name), fk in foreign_keys.items()}
    for table, columns in tables.items():
        assert table in texts and all(column in texts for column, _, _ in columns)
    if shutil.which("dot") is None:
        return
    rendered = subprocess.run(["dot", "-Tsvg"], input=dot_text, capture_output=True, text=True, check=True).stdout
    assert svg_content(rendered) == (nodes, edges, texts)
    if graphviz_version(rendered) == graphviz_version(committed):
        assert rendered == committed, "docs/er-diagram.svg differs from dot -Tsvg docs/er-diagram.dot"


# ---------------------------------------------------------------------------------------
# Inventories.


def test_table_inventory(su):
    su.execute("ANALYZE users.users")
    actual = rows(su, "SELECT * FROM pulse.table_inventory")
    expected = rows(su, """
        SELECT t.schemaname, t.tablename,
               (SELECT CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END),
               pg_total_relation_size(c.oid), t.rowsecurity, c.relforcerowsecurity, d.description
          FROM pg_tables t
          JOIN pg_class c ON c.oid = (quote_ident(t.schemaname) || '.' || quote_ident(t.tablename))::regclass
          LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
         WHERE t.schemaname = ANY(%s)""", (list(SCHEMAS),))
    assert sorted(actual) == sorted(expected)
    by_name = {(r[0], r[1]): r for r in actual}
    assert by_name[("users", "users")][2] == 3  # analyzed: alice, bob and carol
    assert any(r[2] is None for r in actual)  # some table was never analyzed
    assert all(r[4] for r in actual if r[0] in ("users", "projects", "documents", "audit"))
    assert not any(r[5] for r in actual)


def test_column_inventory(su):
    actual = rows(su, "SELECT * FROM pulse.column_inventory")
    expected = rows(su, """
        SELECT c.table_schema, c.table_name, c.column_name, c.ordinal_position::integer,
               CASE c.data_type WHEN 'ARRAY' THEN substr(c.udt_name, 2) || '[]' ELSE c.data_type END,
               c.is_nullable = 'NO', coalesce(c.column_default, c.generation_expression),
               CASE c.identity_generation WHEN 'ALWAYS' THEN 'ALWAYS' WHEN 'BY DEFAULT' THEN 'BY DEFAULT' END,
               d.description
          FROM information_schema.columns c
          LEFT JOIN pg_description d
            ON d.objoid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass
           AND d.classoid = 'pg_class'::regclass AND d.objsubid = c.ordinal_position
         WHERE c.table_schema = ANY(%s)""", (list(SCHEMAS),))
    assert sorted(actual, key=str) == sorted(expected, key=str)
    by_name = {(r[0], r[1], r[2]): r for r in actual}
    assert by_name[("users", "users", "user_id")][7] == "ALWAYS"
    assert by_name[("users", "users", "is_active")][6] == "true"
    # Views are in it too, with their comments.
    assert by_name[("pulse", "project_access", "access_role")][8].startswith("Code of the member")


def test_constraint_inventory(su):
    actual = rows(su, "SELECT * FROM pulse.constraint_inventory")
    # information_schema names every constraint but NOT NULL ones (which PostgreSQL 15 lists
    # as CHECK constraints named <oids>_not_null) and exclusion constraints.
    expected = rows(su, """
        SELECT tc.table_schema, tc.table_name, tc.constraint_name,
               CASE tc.constraint_type WHEN 'FOREIGN KEY' THEN 'FOREIGN KEY' ELSE tc.constraint_type END,
               (SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k
                 WHERE k.conrelid = (quote_ident(tc.table_schema) || '.' || quote_ident(tc.table_name))::regclass
                   AND k.conname = tc.constraint_name)
          FROM information_schema.table_constraints tc
         WHERE tc.table_schema = ANY(%s) AND tc.constraint_name !~ '^[0-9]+_[0-9]+_[0-9]+_not_null$'""",
                    (list(SCHEMAS),))
    assert rows(su, "SELECT count(*) FROM pg_constraint WHERE contype IN ('x', 't') AND connamespace::regnamespace::text = ANY(%s)",
                (list(SCHEMAS),)) == [(0,)]
    assert sorted(actual) == sorted(expected)
    assert {r[3] for r in actual} == {"PRIMARY KEY", "UNIQUE", "FOREIGN KEY", "CHECK"}
    assert ("users", "users", "users_password_hash_phc", "CHECK") in {r[:4] for r in actual}


def test_index_inventory(su):
    actual = rows(su, "SELECT * FROM pulse.index_inventory")
    expected = rows(su, """
        SELECT i.schemaname, i.tablename, i.indexname, i.indexdef, i.indexdef LIKE 'CREATE UNIQUE INDEX %%',
               EXISTS (SELECT 1 FROM information_schema.table_constraints tc
                        WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = i.schemaname
                          AND tc.table_name = i.tablename AND tc.constraint_name = i.indexname)
          FROM pg_indexes i WHERE i.schemaname = ANY(%s)""", (list(SCHEMAS),))
    assert sorted(actual) == sorted(expected)
    by_name = {r[2]: r for r in actual}
    assert by_name["users_email_key"][4:] == (True, False)
    assert by_name["projects_pkey"][4:] == (True, True)


def test_catalog_problems_are_none_on_a_fresh_install(fresh_db):
    with fresh_db.connect() as conn:
        assert rows(conn, "SELECT * FROM pulse.catalog_problems") == []


def test_catalog_problems_are_none_on_a_populated_database(su):
    assert rows(su, "SELECT * FROM pulse.catalog_problems") == []


def test_catalog_problems_finds_every_kind(fresh_db):
    with fresh_db.connect() as conn:
        conn.execute("CREATE TABLE projects.planted_pair (x int, y int, PRIMARY KEY (x, y))")
        conn.execute("COMMENT ON TABLE projects.planted_pair IS 'Pairs.'")
        conn.execute("COMMENT ON COLUMN projects.planted_pair.x IS 'x.'")
        conn.execute("COMMENT ON COLUMN projects.planted_pair.y IS 'y.'")
        conn.execute("""CREATE TABLE projects.planted (
                            planted_id int PRIMARY KEY, owner_id int REFERENCES users.users, a int, b int,
                            c int CONSTRAINT planted_c_fkey REFERENCES users.users,
                            d int CONSTRAINT planted_d_fkey REFERENCES users.users, e int, f int,
                            CONSTRAINT planted_pair_fkey FOREIGN KEY (a, b) REFERENCES projects.planted_pair,
                            CONSTRAINT planted_ef_fkey FOREIGN KEY (e, f) REFERENCES projects.planted_pair)""")
        # (a, b) is served by an index that starts with b, a; owner_id by a partial index (D9);
        # c only by an index in which it comes second; d by nothing; (e, f) by no index that
        # starts with both (one starts with e, a).
        conn.execute("CREATE INDEX ON projects.planted (b, a, c)")
        conn.execute("CREATE INDEX ON projects.planted (owner_id) WHERE owner_id IS NOT NULL")
        conn.execute("CREATE INDEX ON projects.planted (a, c)")
        conn.execute("CREATE INDEX ON projects.planted (e, a)")
        for column in ("planted_id", "owner_id", "a", "b", "c", "e", "f"):
            conn.execute(f"COMMENT ON COLUMN projects.planted.{column} IS 'commented'")
        conn.execute("CREATE VIEW projects.planted_view AS SELECT planted_id FROM projects.planted")
        conn.execute("CREATE FUNCTION projects.planted_fn(integer, text[]) RETURNS int LANGUAGE sql AS 'SELECT 1'")
        conn.execute("COMMENT ON SCHEMA documents IS NULL")
        got = rows(conn, "SELECT kind, object FROM pulse.catalog_problems")
        assert sorted(got) == sorted([
            ("unindexed_foreign_key", "planted_c_fkey on projects.planted"),
            ("unindexed_foreign_key", "planted_d_fkey on projects.planted"),
            ("unindexed_foreign_key", "planted_ef_fkey on projects.planted"),
            ("uncommented_schema", "documents"),
            ("uncommented_table", "projects.planted"),
            ("uncommented_column", "projects.planted.d"),
            ("uncommented_view", "projects.planted_view"),
            ("uncommented_column", "projects.planted_view.planted_id"),
            ("uncommented_function", "projects.planted_fn(integer,text[])"),
        ])
        detail = rows(conn, "SELECT detail FROM pulse.catalog_problems WHERE object = 'planted_d_fkey on projects.planted'")
        assert detail == [("no valid index of projects.planted starts with the columns of "
                           "FOREIGN KEY (d) REFERENCES users.users(user_id)",)]


# ---------------------------------------------------------------------------------------
# Access audit.


@pytest.fixture(scope="module")
def roles(world, su):
    """Roles around the application role: inheriting members, a NOINHERIT member and roles
    below it, a direct grant, a column grant, a grant option and a grant to PUBLIC."""
    suffix = uuid.uuid4().hex[:8]
    names = {k: f"pulse_tr_{k}_{suffix}" for k in ("member", "chain", "noinherit", "below", "bypass", "owners")}
    world.roles += list(names.values())
    su.execute(f"CREATE ROLE {names['member']} LOGIN INHERIT")
    su.execute(f"CREATE ROLE {names['chain']} LOGIN INHERIT")
    su.execute(f"CREATE ROLE {names['noinherit']} NOINHERIT")
    su.execute(f"CREATE ROLE {names['below']} INHERIT")
    su.execute(f"CREATE ROLE {names['bypass']} BYPASSRLS")
    su.execute(f"CREATE ROLE {names['owners']} INHERIT")
    su.execute(f"GRANT {world.app_role} TO {names['member']}")
    su.execute(f"GRANT {names['member']} TO {names['chain']}")
    su.execute(f"GRANT {world.app_role} TO {names['noinherit']}")
    su.execute(f"GRANT {names['noinherit']} TO {names['below']}")
    su.execute(f"GRANT SELECT ON pulse.tag_reference TO {names['noinherit']}")
    su.execute(f"GRANT UPDATE (label) ON pulse.phase_reference TO {names['noinherit']}")
    su.execute(f"GRANT SELECT ON pulse.license_reference TO {names['member']} WITH GRANT OPTION")
    su.execute("GRANT SELECT ON pulse.feature_reference TO PUBLIC")
    # A member of the owner (a superuser here) inherits its ownership, not its SUPERUSER.
    owner = su.execute("SELECT relowner::regrole::text FROM pg_class WHERE oid = 'projects.projects'::regclass").fetchone()[0]
    su.execute(f"GRANT {owner} TO {names['owners']}")
    su.execute(f"GRANT {world.auditor_role} TO {names['chain']}")
    names["app"], names["auditor"], names["owner"] = world.app_role, world.auditor_role, owner
    return names


EXPECTED_PRIVILEGES = """
WITH objects AS (
    SELECT 'schema' AS object_type, n.nspname::text AS object_name, n.oid, n.nspowner AS owner
      FROM pg_namespace n WHERE n.nspname = ANY(%(s)s)
    UNION ALL
    SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                          ELSE 'table' END, n.nspname || '.' || c.relname, c.oid, c.relowner
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY(%(s)s) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text, p.oid, p.proowner
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%(s)s)
),
privileges (object_type, privilege) AS (
    VALUES ('schema', 'USAGE'), ('schema', 'CREATE'), ('sequence', 'USAGE'), ('sequence', 'SELECT'),
           ('sequence', 'UPDATE'), ('function', 'EXECUTE'),
           ('table', 'SELECT'), ('table', 'INSERT'), ('table', 'UPDATE'), ('table', 'DELETE'), ('table', 'TRUNCATE'),
           ('table', 'REFERENCES'), ('table', 'TRIGGER'),
           ('view', 'SELECT'), ('view', 'INSERT'), ('view', 'UPDATE'), ('view', 'DELETE'), ('view', 'TRUNCATE'),
           ('view', 'REFERENCES'), ('view', 'TRIGGER')
)
SELECT o.object_type, o.object_name, p.privilege,
       CASE o.object_type
            WHEN 'schema' THEN has_schema_privilege(%(r)s, o.oid, p.privilege || ' WITH GRANT OPTION')
            WHEN 'sequence' THEN has_sequence_privilege(%(r)s, o.oid, p.privilege || ' WITH GRANT OPTION')
            WHEN 'function' THEN has_function_privilege(%(r)s, o.oid, p.privilege || ' WITH GRANT OPTION')
            ELSE has_table_privilege(%(r)s, o.oid, p.privilege || ' WITH GRANT OPTION') END
  FROM objects o JOIN privileges p USING (object_type)
 WHERE CASE o.object_type
            WHEN 'schema' THEN has_schema_privilege(%(r)s, o.oid, p.privilege)
            WHEN 'sequence' THEN has_sequence_privilege(%(r)s, o.oid, p.privilege)
            WHEN 'function' THEN has_function_privilege(%(r)s, o.oid, p.privilege)
            ELSE has_table_privilege(%(r)s, o.oid, p.privilege) END
UNION ALL
SELECT o.object_type, o.object_name, 'OWNER', true FROM objects o WHERE pg_has_role(%(r)s, o.owner, 'USAGE')
"""

# Effective column privileges, by hand: every column the role may use with a privilege.
EXPECTED_COLUMNS = """
SELECT c.table_schema || '.' || c.table_name || '.' || c.column_name, p.privilege
  FROM information_schema.columns c, unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) p (privilege)
 WHERE c.table_schema = ANY(%(s)s)
   AND has_column_privilege(%(r)s, (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass,
                            c.column_name, p.privilege)
"""


def privileges_of(su, role):
    """(expected, actual) for a role: privileges on objects with the grant option, and
    effective column privileges; actual from pulse.role_privileges (the role's own rows and
    PUBLIC's, as PostgreSQL applies PUBLIC to every role)."""
    su.execute("SET search_path = pg_catalog")  # regprocedure spells every name qualified
    try:
        params = {"s": list(SCHEMAS), "r": role}
        expected = {(t, o, p): g for t, o, p, g in rows(su, EXPECTED_PRIVILEGES, params)}
        expected_columns = set(rows(su, EXPECTED_COLUMNS, params))
        view = rows(su, """SELECT object_type, object_name, privilege, is_grantable FROM pulse.role_privileges
                            WHERE role_name IN (%s, 'PUBLIC')""", (role,))
        columns = {r[0]: [c[0] for c in rows(su, """
            SELECT table_schema || '.' || table_name || '.' || column_name FROM information_schema.columns
             WHERE table_schema || '.' || table_name = %s""", (r[0],))] for r in rows(su, """
            SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema = ANY(%s)""",
                                                                                      (list(SCHEMAS),))}
    finally:
        su.execute("RESET search_path")
    actual, actual_columns = {}, set()
    for object_type, name, privilege, grantable in view:
        if object_type == "column":
            actual_columns.add((name, privilege))
        else:
            key = (object_type, name, privilege)
            actual[key] = actual.get(key, False) or grantable
            if object_type in ("table", "view") and privilege in ("SELECT", "INSERT", "UPDATE", "REFERENCES"):
                actual_columns |= {(c, privilege) for c in columns[name]}
    return (expected, expected_columns), (actual, actual_columns)


@pytest.mark.parametrize("who", ["app", "auditor", "member", "chain", "noinherit", "below", "bypass", "owners"])
def test_role_privileges_equal_what_postgresql_checks(su, roles, who):
    expected, actual = privileges_of(su, roles[who])
    assert actual == expected


def test_role_privileges_name_the_role_that_holds_the_grant(su, roles):
    def via(role):
        return {r[0] for r in rows(su, "SELECT DISTINCT via_role FROM pulse.role_privileges WHERE role_name = %s", (role,))}

    assert via(roles["app"]) == {roles["app"]}
    assert via(roles["member"]) == {roles["member"], roles["app"]}
    assert via(roles["chain"]) == {roles["member"], roles["app"], roles["auditor"]}
    # NOINHERIT: only its own grants; below it, the chain stops at it.
    assert via(roles["noinherit"]) == {roles["noinherit"]}
    assert via(roles["below"]) == {roles["noinherit"]}
    assert via(roles["owners"]) == {roles["owner"]}
    assert rows(su, """SELECT object_type, object_name, privilege FROM pulse.role_privileges
                        WHERE role_name = %s AND via_role = %s ORDER BY 1, 2, 3""", (roles["below"], roles["noinherit"])) == [
        ("column", "pulse.phase_reference.label", "UPDATE"), ("table", "pulse.tag_reference", "SELECT")]
    assert rows(su, "SELECT role_name, via_role, object_name, privilege FROM pulse.role_privileges WHERE role_name = 'PUBLIC'") == [
        ("PUBLIC", "PUBLIC", "pulse.feature_reference", "SELECT")]
    assert rows(su, """SELECT via_role, is_grantable FROM pulse.role_privileges WHERE role_name = %s
                        AND object_name = 'pulse.license_reference' AND privilege = 'SELECT' ORDER BY 1""",
                (roles["chain"],)) == sorted([(roles["member"], True), (roles["app"], False), (roles["auditor"], False)])
    # Credentials are withheld by column privileges: the application role may read no
    # password hash, and the identity key not at all.
    app = rows(su, "SELECT object_name, privilege FROM pulse.role_privileges WHERE role_name = %s", (roles["app"],))
    assert ("users.users.email", "SELECT") in app and ("users.users.password_hash", "SELECT") not in app
    assert not any(name.startswith(("users.users", "pulse.identity_key")) and p == "SELECT" and name.count(".") == 1
                   for name, p in app)


def test_role_flags(su, roles):
    actual = set(rows(su, "SELECT role_name, via_role, flag, bypasses_rls FROM pulse.role_flags"))
    # Written from the role attributes and pg_has_role(); pg_has_role() answers true for
    # superusers whatever the membership, so memberships are compared for other roles.
    expected = set(rows(su, """
        WITH pulse_owners AS (
            SELECT DISTINCT relowner AS owner FROM pg_class WHERE relnamespace::regnamespace::text = ANY(%(s)s)
            UNION SELECT proowner FROM pg_proc WHERE pronamespace::regnamespace::text = ANY(%(s)s)
            UNION SELECT nspowner FROM pg_namespace WHERE nspname = ANY(%(s)s))
        SELECT rolname, rolname, 'superuser', true FROM pg_roles WHERE rolsuper
        UNION ALL SELECT rolname, rolname, 'bypassrls', true FROM pg_roles WHERE rolbypassrls
        UNION ALL
        SELECT r.rolname, o.owner::regrole::text, 'owner', true
          FROM pg_roles r, pulse_owners o WHERE r.oid = o.owner OR (NOT r.rolsuper AND pg_has_role(r.oid, o.owner, 'USAGE'))
        UNION ALL
        SELECT r.rolname, d.rolname, CASE d.rolname WHEN 'pg_read_all_data' THEN 'reads_all_data' ELSE 'writes_all_data' END, false
          FROM pg_roles r, pg_roles d
         WHERE d.rolname IN ('pg_read_all_data', 'pg_write_all_data') AND r.oid <> d.oid AND NOT r.rolsuper
           AND pg_has_role(r.oid, d.oid, 'USAGE')
        UNION ALL
        SELECT r.rolname, a.role_name, 'auditor', false
          FROM pg_roles r, pulse.auditor_role a
         WHERE a.role_name IN (SELECT rolname FROM pg_roles)
           AND (r.rolname = a.role_name OR (NOT r.rolsuper AND pg_has_role(r.oid, a.role_name, 'MEMBER')))""",
                        {"s": list(SCHEMAS)}))
    # Superusers may also be plain members of such roles; compare everything else exactly.
    superusers = {r[0] for r in rows(su, "SELECT rolname FROM pg_roles WHERE rolsuper")}
    assert {r for r in actual if r[0] not in superusers} == {r for r in expected if r[0] not in superusers}
    assert {r for r in expected if r[0] in superusers} <= actual
    mine = {(r[2], r[1]) for r in actual if r[0] == roles["owners"]}
    assert mine == {("owner", roles["owner"])}
    assert (roles["bypass"], roles["bypass"], "bypassrls", True) in actual
    assert (roles["chain"], roles["auditor"], "auditor", False) in actual
    assert not any(r[0] in (roles["app"], roles["member"], roles["noinherit"], roles["below"]) for r in actual)
    reason = rows(su, "SELECT reason FROM pulse.role_flags WHERE role_name = %s", (roles["owners"],))[0][0]
    assert reason.startswith(f"inherits the rights of {roles['owner']}, who owns ")


def as_app(world, token=None):
    conn = psycopg.connect(world.app_dsn)
    if token:
        conn.execute("SELECT pulse.authenticate(%s)", (token,))
    return conn


EXPECTED_ACCESS = """
SELECT m.project_id, p.name, u.user_id, u.email, u.display_name, r.code, r.label, r.rank, r.can_read, r.can_write,
       r.can_manage_members, r.can_delete_restore, r.can_administer, m.added_at
  FROM projects.project_member m, projects.projects p, users.users u, pulse.access_role_reference r
 WHERE p.project_id = m.project_id AND u.user_id = m.user_id AND r.access_role_id = m.access_role_id
"""


def test_project_access_runs_with_the_callers_rights(su, world):
    assert rows(su, "SELECT reloptions FROM pg_class WHERE oid = 'pulse.project_access'::regclass") == [
        (["security_invoker=true"],)]
    # A second project only dave belongs to.
    dave = su.execute("SELECT users.create_user('dave@example.com', 'Dave')").fetchone()[0]
    other = su.execute("""INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                          SELECT 'Zeus', %s, phase_id, priority_id FROM pulse.phase_reference, pulse.priority_reference
                           WHERE phase_reference.code = 'idea' AND priority_reference.code = 'low'
                          RETURNING project_id""", (dave,)).fetchone()[0]
    su.execute("""INSERT INTO projects.project_member (project_id, user_id, access_role_id)
                  SELECT %s, %s, access_role_id FROM pulse.access_role_reference WHERE code = 'owner'""", (other, dave))
    everything = sorted(rows(su, EXPECTED_ACCESS))
    assert sorted(rows(su, "SELECT * FROM pulse.project_access")) == everything
    assert {r[0] for r in everything} == {world.ids["project"], other}

    def token(user):
        return su.execute("SELECT token FROM users.open_session(%s)", (user,)).fetchone()[0]

    with as_app(world) as conn:  # no session: nothing
        assert rows(conn, "SELECT * FROM pulse.project_access") == []
    with as_app(world, token(world.ids["bob"])) as conn:  # bob: Apollo only, as editor
        assert sorted(rows(conn, "SELECT * FROM pulse.project_access")) == [r for r in everything
                                                                          if r[0] == world.ids["project"]]
        assert rows(conn, "SELECT access_role, can_write, can_manage_members FROM pulse.project_access WHERE user_id = %s",
                    (world.ids["bob"],)) == [("editor", True, False)]
    with as_app(world, token(dave)) as conn:  # dave: Zeus only
        assert sorted(rows(conn, "SELECT * FROM pulse.project_access")) == [r for r in everything if r[0] == other]
    with as_app(world, token(world.ids["alice"])) as conn:  # a system administrator: all
        assert sorted(rows(conn, "SELECT * FROM pulse.project_access")) == everything
    with psycopg.connect(world.auditor_dsn) as conn:  # a registered auditor, without a session: all
        assert sorted(rows(conn, "SELECT * FROM pulse.project_access")) == everything


# ---------------------------------------------------------------------------------------
# Who may read what of it.

AUDITOR_VIEWS = ["pulse.table_inventory", "pulse.column_inventory", "pulse.constraint_inventory", "pulse.index_inventory",
                 "pulse.catalog_problems", "pulse.role_privileges", "pulse.role_flags", "audit.statement_statistics"]


def test_auditors_read_the_inventories_and_the_application_does_not(world):
    with psycopg.connect(world.auditor_dsn, autocommit=True) as conn:
        for view in AUDITOR_VIEWS:
            conn.execute(f"SELECT * FROM {view}").fetchall()
        assert conn.execute("SELECT pulse.er_diagram('dot')").fetchone()[0].startswith("digraph")
        assert conn.execute("SELECT audit.statement_stats_available()").fetchone() in [(True,), (False,)]
    with psycopg.connect(world.app_dsn, autocommit=True) as conn:
        for statement in [f"SELECT * FROM {view}" for view in AUDITOR_VIEWS] + [
                "SELECT pulse.er_diagram()", "SELECT audit.statement_stats_available()"]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


# ---------------------------------------------------------------------------------------
# Statement statistics.


def test_statement_statistics_without_pg_stat_statements_is_empty_not_an_error(fresh_db):
    with fresh_db.connect(autocommit=True) as su:
        assert su.execute("SELECT audit.statement_stats_available()").fetchone() == (False,)
        assert rows(su, "SELECT * FROM audit.statement_statistics") == []
        plan = "\n".join(r[0] for r in rows(su, "EXPLAIN SELECT * FROM audit.statement_statistics"))
        assert "One-Time Filter: audit.statement_stats_available()" in plan
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            su.execute("SELECT * FROM audit.statement_stats()")


def test_statement_statistics_with_pg_stat_statements(fresh_db):
    with fresh_db.connect(autocommit=True) as su:
        if su.execute("SELECT current_setting('shared_preload_libraries') ~ 'pg_stat_statements'").fetchone() != (True,):
            pytest.fail("the test cluster must preload pg_stat_statements (scripts/test.sh does)")
        su.execute("CREATE EXTENSION pg_stat_statements")
        assert su.execute("SELECT audit.statement_stats_available()").fetchone() == (True,)
        su.execute("SELECT count(*) FROM projects.projects")
        columns = "queryid, calls, total_exec_ms, mean_exec_ms, rows, query"
        view = {r[0]: r for r in rows(su, f"SELECT {columns} FROM audit.statement_statistics")}
        function = {r[0]: r for r in rows(su, f"SELECT {columns} FROM audit.statement_stats()")}
        # pg_stat_statements records a statement when it ends: the view's own statement is
        # there for the function, and nothing else changed in between.
        assert [function[q][5] for q in function.keys() - view.keys()] == [
            f"SELECT {columns} FROM audit.statement_statistics"]
        assert all(view[q] == function[q] for q in view)
        assert "SELECT count(*) FROM projects.projects" in [r[5] for r in view.values()]
