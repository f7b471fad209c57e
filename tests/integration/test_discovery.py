"""Discovery (issue 7): projects.search_projects, projects.project_facets,
documents.search_documents and documents.document_facets, called as the application role
with real sessions (and as an auditor role), against a brute-force computation in Python over
a generated data set: every page, every row, every code and label, every facet count. Also:
keyset pagination while another connection inserts, projects the caller cannot see, and the
SQLSTATE of every kind of bad filter."""

import datetime
import random
import re
import threading

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from conftest import create_app_database, drop_database

WORDS = ["report", "design", "budget", "roadmap", "contract", "invoice", "minutes", "review", "security", "release",
         "audit", "summary"]
FILETYPES = ["pdf", "docx", "xlsx", "pptx", "md", "csv", "png", "jpeg"]
PERSONAS = ["viewer", "editor", "outsider", "admin", "auditor"]
BASE = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)


def reference(su, table):
    key = table.replace("_reference", "_id")
    extra = ", category" if table == "filetype_reference" else ""
    return {r[1]: r for r in su.execute(f"SELECT {key}, code, label{extra} FROM pulse.{table}")}


@pytest.fixture(scope="module")
def world():
    """Users with different memberships, 24 projects (3 soft-deleted) with random attributes and
    links, and about 250 documents (some soft-deleted) with random attributes, words and
    properties; loaded by the maintenance path."""
    db = create_app_database(auditor=True)
    rng = random.Random(7)
    ids, tokens = {}, {}
    with db.connect(autocommit=True) as su:
        for name in ("viewer", "editor", "outsider", "admin", "owner1", "owner2"):
            ids[name] = su.execute("SELECT users.create_user(%s, %s, NULL, %s)",
                                   (f"{name}@example.com", name.title(), name == "admin")).fetchone()[0]
            tokens[name] = su.execute("SELECT token FROM users.open_session(%s)", (ids[name],)).fetchone()[0]
        for code in ("main", "cold"):
            su.execute("""INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint)
                          VALUES (%s, %s, 'minio', %s, 'http://127.0.0.1:9000')""", (code, code.title() + " store", f"b-{code}"))
        refs = {t: reference(su, t) for t in ("phase_reference", "priority_reference", "license_reference",
                                              "feature_reference", "tech_stack_reference", "tag_reference",
                                              "access_role_reference", "filetype_reference", "storage_reference")}
        code_ids = {t: {c: r[0] for c, r in rows.items()} for t, rows in refs.items()}
        projects = []
        for i in range(24):
            owner = rng.choice(["owner1", "owner2", "editor"])
            words = rng.sample(WORDS, 4)
            pid = su.execute("""INSERT INTO projects.projects (name, description, owner_id, license_id, phase_id, priority_id,
                                                               deleted_at)
                                VALUES (%s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END) RETURNING project_id""",
                             (f"{words[0].title()} {words[1]} {i}", None if i % 5 == 0 else f"The {words[2]} of {words[3]}",
                              ids[owner], code_ids["license_reference"].get(rng.choice(["MIT", "Apache-2.0", "GPL-3.0-only", None])),
                              rng.choice(list(code_ids["phase_reference"].values())),
                              rng.choice(list(code_ids["priority_reference"].values())), i in (3, 11, 19))).fetchone()[0]
            projects.append(pid)
            members = {owner: "owner"}
            if i < 8:
                members.setdefault("viewer", "viewer")
            if 4 <= i < 14:
                members.setdefault("editor", "editor")
            for user, role in members.items():
                su.execute("INSERT INTO projects.project_member (project_id, user_id, access_role_id) VALUES (%s, %s, %s)",
                           (pid, ids[user], code_ids["access_role_reference"][role]))
            for link, table in (("feature", "feature_reference"), ("tech_stack", "tech_stack_reference"),
                                ("tag", "tag_reference")):
                for code in rng.sample(sorted(code_ids[table]), rng.randint(0, 3)):
                    su.execute(f"INSERT INTO projects.project_{link} (project_id, {link}_id) VALUES (%s, %s)",
                               (pid, code_ids[table][code]))
            for k in range(rng.randint(0, 20)):
                w = rng.sample(WORDS, 3)
                ft = rng.choice(FILETYPES)
                created = BASE + datetime.timedelta(days=rng.randint(0, 300), hours=rng.randint(0, 23))
                props = {"lang": rng.choice(["en", "de", "fr"]), "confidential": rng.random() < 0.3}
                if rng.random() < 0.5:
                    props["team"] = rng.choice(["red", "blue"])
                su.execute("""INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key,
                                                               size_bytes, checksum_sha256, custom_properties, priority_id,
                                                               phase_id, uploaded_by, created_at, updated_at, deleted_at)
                              VALUES (%s, %s, %s, %s, %s, %s, %s, encode(sha256(%s::bytea), 'hex'), %s, %s, %s, %s, %s, %s,
                                      CASE WHEN %s THEN now() END)""",
                           (pid, f"{w[0].title()} {w[1]} {k}", f"{w[2]}_{w[0]}-{k}.{ft}", code_ids["filetype_reference"][ft],
                            code_ids["storage_reference"][rng.choice(["main", "cold"])], f"p{pid}/d{k}",
                            rng.randint(0, 5_000_000), f"{pid}/{k}".encode(), Jsonb(props),
                            rng.choice(list(code_ids["priority_reference"].values())),
                            rng.choice(list(code_ids["phase_reference"].values())),
                            ids[rng.choice(["owner1", "owner2", "editor", "viewer"])], created,
                            created + datetime.timedelta(days=rng.randint(0, 60)), rng.random() < 0.1))
        su.execute("ANALYZE")
    db.ids, db.tokens, db.projects, db.refs = ids, tokens, projects, refs
    yield db
    drop_database(db)


class Snapshot:
    """Every row the brute force needs, read as the superuser."""

    def __init__(self, db):
        with db.connect() as su:
            su.row_factory = dict_row
            self.projects = {r["project_id"]: r for r in su.execute("SELECT * FROM projects.projects")}
            self.links = {link: {} for link in ("feature", "tech_stack", "tag")}
            for link in self.links:
                for r in su.execute(f"""SELECT l.project_id, r.code FROM projects.project_{link} l
                                        JOIN pulse.{link}_reference r USING ({link}_id)"""):
                    self.links[link].setdefault(r["project_id"], set()).add(r["code"])
            self.members = {(r["project_id"], r["user_id"]): r["code"] for r in su.execute(
                """SELECT m.project_id, m.user_id, r.code FROM projects.project_member m
                   JOIN pulse.access_role_reference r USING (access_role_id)""")}
            self.documents = {r["document_id"]: r for r in su.execute("SELECT * FROM documents.documents")}
            self.labels = {}
            for table in ("phase", "priority", "license", "feature", "tech_stack", "tag", "access_role", "filetype",
                          "storage"):
                for r in su.execute(f"SELECT {table}_id AS id, code, label FROM pulse.{table}_reference"):
                    self.labels[(table, r["id"])] = (r["code"], r["label"])
                    self.labels[(table, r["code"])] = r["label"]
            self.filetype = {r["filetype_id"]: r for r in su.execute("SELECT * FROM pulse.filetype_reference")}

    def code(self, table, id_):
        return self.labels[(table, id_)][0] if id_ is not None else None


def caller(db, persona):
    """(user id or None, sees everything)."""
    if persona == "auditor":
        return None, True
    return db.ids[persona], persona == "admin"


def visible_projects(db, snap, persona, table="projects"):
    uid, everything = caller(db, persona)
    return {p for p, row in snap.projects.items()
            if everything or (p, uid) in snap.members or (table == "projects" and row["owner_id"] == uid)}


def words_match(q, text):
    tokens = set(re.findall(r"[a-z0-9]+", text.lower()))
    return any(all(w in tokens for w in group.split()) for group in q.lower().split(" or "))


def deleted_ok(f, row):
    wanted = f.get("deleted", False)
    return wanted == "any" or (row["deleted_at"] is not None) == wanted


def as_list(value):
    return value if isinstance(value, list) else [value]


def given(f):
    """The filter as the functions read it: an empty list is no condition."""
    return {k: v for k, v in f.items() if v != []}


def expected_projects(db, snap, persona, f):
    f = given(f)
    uid, _ = caller(db, persona)
    rows = []
    for pid in visible_projects(db, snap, persona):
        p = snap.projects[pid]
        code = {k: snap.code(k, p[f"{k}_id"]) for k in ("phase", "priority", "license")}
        checks = [deleted_ok(f, p),
                  "phase" not in f or code["phase"] in as_list(f["phase"]),
                  "priority" not in f or code["priority"] in as_list(f["priority"]),
                  "license" not in f or (code["license"] or "").lower() in [c.lower() for c in as_list(f["license"])],
                  "owner" not in f or p["owner_id"] in as_list(f["owner"]),
                  "role" not in f or snap.members.get((pid, uid)) in as_list(f["role"]),
                  "q" not in f or words_match(f["q"], f"{p['name']} {p['description'] or ''}")]
        for key, link in (("features", "feature"), ("tech_stack", "tech_stack"), ("tags", "tag")):
            checks.append(key not in f or bool(snap.links[link].get(pid, set()) & set(as_list(f[key]))))
        if all(checks):
            rows.append(pid)
    return rows


def expected_documents(db, snap, persona, f):
    f = given(f)
    projects = visible_projects(db, snap, persona, "documents")
    rows = []
    for did, d in snap.documents.items():
        if d["project_id"] not in projects:
            continue
        ft = snap.filetype[d["filetype_id"]]
        checks = [deleted_ok(f, d),
                  "project" not in f or d["project_id"] in as_list(f["project"]),
                  "filetype" not in f or ft["code"] in as_list(f["filetype"]),
                  "mime_category" not in f or ft["category"] in as_list(f["mime_category"]),
                  "storage" not in f or snap.code("storage", d["storage_id"]) in as_list(f["storage"]),
                  "phase" not in f or snap.code("phase", d["phase_id"]) in as_list(f["phase"]),
                  "priority" not in f or snap.code("priority", d["priority_id"]) in as_list(f["priority"]),
                  "uploaded_by" not in f or d["uploaded_by"] in as_list(f["uploaded_by"]),
                  "created_from" not in f or d["created_at"] >= datetime.datetime.fromisoformat(f["created_from"]),
                  "created_to" not in f or d["created_at"] <= datetime.datetime.fromisoformat(f["created_to"]),
                  "updated_from" not in f or d["updated_at"] >= datetime.datetime.fromisoformat(f["updated_from"]),
                  "updated_to" not in f or d["updated_at"] <= datetime.datetime.fromisoformat(f["updated_to"]),
                  "size_min" not in f or d["size_bytes"] >= f["size_min"],
                  "size_max" not in f or d["size_bytes"] <= f["size_max"],
                  "properties" not in f or all(d["custom_properties"].get(k) == v for k, v in f["properties"].items()),
                  "q" not in f or words_match(f["q"], d["title"] + " " + re.sub(r"[._-]", " ", d["file_name"]))]
        if all(checks):
            rows.append(did)
    return rows


FACET_ORDER = {"projects": ["total", "feature", "tech_stack", "tag", "phase", "priority", "license", "role"],
               "documents": ["total", "filetype", "mime_category", "storage", "phase", "priority"]}


def expected_facets(db, snap, persona, kind, ids):
    counts = {}

    def add(facet, code, label):
        counts[(facet, code, label)] = counts.get((facet, code, label), 0) + 1

    uid, _ = caller(db, persona)
    for i in ids:
        if kind == "projects":
            p = snap.projects[i]
            for link in ("feature", "tech_stack", "tag"):
                for code in snap.links[link].get(i, ()):
                    add(link, code, snap.labels[(link, code)])
            for facet in ("phase", "priority", "license"):
                if p[f"{facet}_id"] is not None:
                    add(facet, *snap.labels[(facet, p[f"{facet}_id"])])
            if (i, uid) in snap.members:
                role = snap.members[(i, uid)]
                add("role", role, snap.labels[("access_role", role)])
        else:
            d = snap.documents[i]
            ft = snap.filetype[d["filetype_id"]]
            add("filetype", ft["code"], ft["label"])
            add("mime_category", ft["category"], ft["category"].capitalize())
            for facet in ("storage", "phase", "priority"):
                add(facet, *snap.labels[(facet, d[f"{facet}_id"])])
    rows = [("total", None, None, len(ids))] + [(f, c, lab, n) for (f, c, lab), n in counts.items()]
    return sorted(rows, key=lambda r: (FACET_ORDER[kind].index(r[0]), -r[3], r[1] or ""))


def connect(db, persona):
    conn = psycopg.connect(db.auditor_dsn if persona == "auditor" else db.app_dsn)
    conn.row_factory = dict_row
    return conn


def call(db, conn, persona, sql, params):
    """One request: a transaction that authenticates the persona (auditors and nobody do not)."""
    with conn.transaction():
        if persona not in ("auditor", "nobody"):
            conn.execute("SELECT pulse.authenticate(%s)", (db.tokens[persona],))
        return conn.execute(sql, params).fetchall()


def all_pages(db, conn, persona, kind, f, page_size=7):
    """Every row of a search, page by page; checks the page size and the cursors."""
    function = "projects.search_projects" if kind == "projects" else "documents.search_documents"
    rows, after = [], None
    for _ in range(1000):
        page = call(db, conn, persona, f"SELECT * FROM {function}(%s, %s, %s)", (Jsonb(f), page_size, after))
        assert len(page) <= page_size
        cursors = {r["next_cursor"] for r in page}
        assert len(cursors) <= 1, "every row of a page carries the same next_cursor"
        rows += page
        after = cursors.pop() if cursors else None
        if after is None:
            return rows
        assert len(page) == page_size, "a page with a next page is full"
    raise AssertionError("pagination did not end")


def check_order(rows, id_key, words):
    keys = [(round(r["rank"] * 1e6) if words else 0, r[id_key]) for r in rows]
    assert keys == sorted(keys, reverse=True), "rank, then id, descending"
    assert all((r["rank"] is None) != bool(words) for r in rows)


PROJECT_FILTERS = [
    {}, {"deleted": "any"}, {"deleted": True}, {"phase": ["idea", "design", "build"]}, {"features": ["search", "billing"]},
    {"tags": "security"}, {"tech_stack": ["rust", "python"], "priority": ["high", "critical"]}, {"license": ["mit"]},
    {"license": "GPL-3.0-only", "deleted": "any"}, {"role": ["viewer"]}, {"role": ["owner", "editor"]},
    {"q": "report"}, {"q": "design or budget"}, {"q": "report review", "deleted": "any"},
    {"features": [], "tags": ["legacy", "internal", "performance"], "phase": ["review", "release", "maintenance", "archived"]},
]
DOCUMENT_FILTERS = [
    {}, {"deleted": "any"}, {"deleted": True}, {"filetype": ["pdf", "png"]}, {"mime_category": "image"},
    {"mime_category": ["document"], "filetype": ["pdf", "png"]}, {"storage": "cold"}, {"phase": ["idea", "planning"]},
    {"priority": ["low"], "storage": ["main"]}, {"created_from": "2025-03-01T00:00:00+00:00", "created_to": "2025-06-30T00:00:00+00:00"},
    {"updated_from": "2025-05-01T00:00:00+00:00"}, {"size_min": 1000000, "size_max": 3000000}, {"size_max": 500000},
    {"properties": {"lang": "en"}}, {"properties": {"confidential": True, "team": "red"}}, {"q": "report"},
    {"q": "invoice or audit", "priority": ["medium", "high", "critical"]}, {"q": "summary minutes", "deleted": "any"},
    {"mime_category": ["spreadsheet", "data"], "phase": ["design", "build", "review"], "properties": {"confidential": False}},
]


@pytest.mark.parametrize("f", PROJECT_FILTERS, ids=[str(f) for f in PROJECT_FILTERS])
def test_project_search_and_facets_equal_brute_force(world, f):
    snap = Snapshot(world)
    for persona in PERSONAS:
        if "role" in f and persona == "auditor":
            continue
        with connect(world, persona) as conn:
            rows = all_pages(world, conn, persona, "projects", f)
            expected = expected_projects(world, snap, persona, f)
            assert sorted(r["project_id"] for r in rows) == sorted(expected), persona
            assert len(rows) == len(set(r["project_id"] for r in rows))
            check_order(rows, "project_id", "q" in f)
            uid, _ = caller(world, persona)
            for r in rows:
                p = snap.projects[r["project_id"]]
                assert (r["name"], r["owner_id"]) == (p["name"], p["owner_id"])
                for k in ("phase", "priority", "license"):
                    code = snap.code(k, p[f"{k}_id"])
                    assert (r[k], r[f"{k}_label"]) == (code, snap.labels.get((k, code))), k
                for key, link in (("features", "feature"), ("tech_stack", "tech_stack"), ("tags", "tag")):
                    assert r[key] == [{"code": c, "label": snap.labels[(link, c)]}
                                      for c in sorted(snap.links[link].get(r["project_id"], ()))]
                role = snap.members.get((r["project_id"], uid))
                assert (r["my_role"], r["my_role_label"]) == (role, snap.labels.get(("access_role", role)))
            facets = call(world, conn, persona, "SELECT * FROM projects.project_facets(%s)", (Jsonb(f),))
            assert [tuple(r.values()) for r in facets] == expected_facets(world, snap, persona, "projects", expected), persona


@pytest.mark.parametrize("f", DOCUMENT_FILTERS, ids=[str(f) for f in DOCUMENT_FILTERS])
def test_document_search_and_facets_equal_brute_force(world, f):
    snap = Snapshot(world)
    for persona in PERSONAS:
        with connect(world, persona) as conn:
            rows = all_pages(world, conn, persona, "documents", f, page_size=9)
            expected = expected_documents(world, snap, persona, f)
            assert sorted(r["document_id"] for r in rows) == sorted(expected), persona
            assert len(rows) == len(set(r["document_id"] for r in rows))
            check_order(rows, "document_id", "q" in f)
            for r in rows:
                d = snap.documents[r["document_id"]]
                ft = snap.filetype[d["filetype_id"]]
                assert (r["project_id"], r["title"], r["file_name"], r["size_bytes"], r["custom_properties"]) == \
                       (d["project_id"], d["title"], d["file_name"], d["size_bytes"], d["custom_properties"])
                assert (r["filetype"], r["filetype_label"], r["mime_type"], r["mime_category"]) == \
                       (ft["code"], ft["label"], ft["mime_type"], ft["category"])
                for k in ("storage", "phase", "priority"):
                    code = snap.code(k, d[f"{k}_id"])
                    assert (r[k], r[f"{k}_label"]) == (code, snap.labels[(k, code)])
                assert r["project_name"] == snap.projects[d["project_id"]]["name"]
            facets = call(world, conn, persona, "SELECT * FROM documents.document_facets(%s)", (Jsonb(f),))
            assert [tuple(r.values()) for r in facets] == expected_facets(world, snap, persona, "documents", expected), persona


def test_the_brute_force_sees_differences(world):
    """The personas see different sets, and filters select: the comparisons above can fail."""
    snap = Snapshot(world)
    seen = {p: frozenset(expected_documents(world, snap, p, {})) for p in PERSONAS}
    assert len(set(seen.values())) == 4 and seen["outsider"] == frozenset() and seen["admin"] == seen["auditor"]
    assert 0 < len(expected_documents(world, snap, "admin", {"q": "report"})) < len(seen["admin"])
    assert 0 < len(expected_projects(world, snap, "editor", {"role": ["owner"]})) < len(expected_projects(world, snap, "editor", {}))


def insert_documents(db, project, count, stop):
    with db.connect(autocommit=True) as su:
        for k in range(count):
            if stop.is_set():
                return
            su.execute("""INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key,
                                                           size_bytes, checksum_sha256, priority_id, phase_id)
                          SELECT %s, %s, 'late.pdf', f.filetype_id, s.storage_id, %s, 1, repeat('a', 64), r.priority_id, p.phase_id
                            FROM pulse.filetype_reference f, pulse.storage_reference s, pulse.priority_reference r,
                                 pulse.phase_reference p
                           WHERE f.code = 'pdf' AND s.code = 'main' AND r.code = 'low' AND p.code = 'idea'""",
                       (project, f"Report late {'report ' * (k % 4)}{k}", f"late/{k}"))


@pytest.mark.parametrize("f", [{}, {"q": "report"}], ids=["newest first", "ranked words"])
def test_pagination_returns_every_row_once_while_rows_are_inserted(world, f):
    """An editor pages through their documents five at a time while another connection keeps
    inserting matching documents into one of their projects (ranked anywhere in the order):
    no row twice, none of the rows that existed before missing."""
    project = world.projects[5]  # the editor's
    before = set(expected_documents(world, Snapshot(world), "editor", f))
    stop = threading.Event()
    writer = threading.Thread(target=insert_documents, args=(world, project, 60, stop))
    with connect(world, "editor") as conn:
        writer.start()
        try:
            rows, after = [], None
            while True:
                page = call(world, conn, "editor", "SELECT * FROM documents.search_documents(%s, 5, %s)", (Jsonb(f), after))
                rows += page
                after = page[0]["next_cursor"] if page else None
                if after is None:
                    break
        finally:
            stop.set()
            writer.join()
    ids = [r["document_id"] for r in rows]
    assert len(ids) == len(set(ids)), "a row came twice"
    assert before <= set(ids), "a row that existed before is missing"
    with world.connect(autocommit=True) as su:
        assert su.execute("SELECT count(*) FROM documents.documents WHERE file_name = 'late.pdf'").fetchone()[0] > 0
        su.execute("DELETE FROM documents.documents WHERE file_name = 'late.pdf'")


def test_a_hidden_project_reveals_nothing(world):
    snap = Snapshot(world)
    visible = sorted(visible_projects(world, snap, "viewer", "documents"))
    hidden = next(p for p in world.projects if p not in visible and
                  any(d["project_id"] == p and d["deleted_at"] is None for d in snap.documents.values()))
    missing = max(world.projects) + 1000
    with connect(world, "viewer") as conn:
        def both(f):
            return (call(world, conn, "viewer", "SELECT * FROM documents.search_documents(%s, 500)", (Jsonb(f),)),
                    call(world, conn, "viewer", "SELECT * FROM documents.document_facets(%s)", (Jsonb(f),)))
        rows, facets = both({"project": [hidden]})
        assert rows == [] and [tuple(r.values()) for r in facets] == [("total", None, None, 0)]
        # The same answer as for a project that does not exist, and nothing added to a visible one.
        assert both({"project": [hidden]}) == both({"project": [missing]})
        assert both({"project": [visible[0], hidden]}) == both({"project": [visible[0]]})
        # The hidden project's owner, tags and words count nothing either.
        owner = snap.projects[hidden]["owner_id"]
        projects = call(world, conn, "viewer", "SELECT project_id FROM projects.search_projects(%s, 500)",
                        (Jsonb({"owner": owner, "deleted": "any"}),))
        assert hidden not in {r["project_id"] for r in projects}
        facets = call(world, conn, "viewer", "SELECT * FROM projects.project_facets(%s)", (Jsonb({"deleted": "any"}),))
        assert [tuple(r.values()) for r in facets] == expected_facets(
            world, snap, "viewer", "projects", expected_projects(world, snap, "viewer", {"deleted": "any"}))
    # The admin sees it: the filter itself is right.
    with connect(world, "admin") as conn:
        assert call(world, conn, "admin", "SELECT count(*) AS n FROM documents.search_documents(%s, 500)",
                    (Jsonb({"project": [hidden]}),))[0]["n"] > 0


def test_without_a_session_nothing_is_found(world):
    with connect(world, "nobody") as conn:
        assert call(world, conn, "nobody", "SELECT * FROM documents.search_documents('{}')", ()) == []
        assert call(world, conn, "nobody", "SELECT * FROM projects.search_projects('{}')", ()) == []
        assert [tuple(r.values()) for r in call(world, conn, "nobody", "SELECT * FROM projects.project_facets('{}')", ())] \
            == [("total", None, None, 0)]
        # Reference data is not visible without a session either, so every code is unknown.
        with pytest.raises(psycopg.errors.InvalidParameterValue, match='unknown phase code "idea"'):
            call(world, conn, "nobody", "SELECT * FROM documents.document_facets('{\"phase\": \"idea\"}')", ())


def test_code_lookups_follow_the_reference_read_policy(world):
    """pulse.parse_discovery_filter reads reference codes without SQL and applies the `read`
    policy of the reference tables itself (access::reference_rows_visible): every reference
    table must still have exactly that policy."""
    with world.connect() as su:
        policies = su.execute("""SELECT c.oid::regclass::text, p.polname, p.polcmd, pg_get_expr(p.polqual, p.polrelid)
                                   FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                                  WHERE c.oid::regclass::text = ANY (string_to_array(pulse.reference_table_list(), ', '))
                                    AND p.polcmd = 'r'""").fetchall()
        tables = su.execute("SELECT string_to_array(pulse.reference_table_list(), ', ')").fetchone()[0]
    assert sorted(t for t, *_ in policies) == sorted(tables)
    for table, name, _, qual in policies:
        assert (name, qual) == ("read", "((( SELECT pulse.current_user_id() AS current_user_id) IS NOT NULL) OR "
                                        "( SELECT pulse.caller_is_auditor() AS caller_is_auditor))"), table
    # An auditor role without a session sees the codes, as the policy lets it.
    with connect(world, "auditor") as conn:
        assert call(world, conn, "auditor", "SELECT count(*) AS n FROM documents.document_facets('{\"phase\": \"idea\"}')",
                    ())[0]["n"] >= 1


def test_a_properties_filter_reaches_the_query_exactly(world):
    """Numbers in a properties filter keep every digit (the filter is never a double)."""
    exact = '{"n": 123456789012345678901234567890.000000000000000000001, "deep": {"list": [1e-30, "x"]}}'
    with world.connect() as su:
        kept = su.execute("SELECT (pulse.parse_discovery_filter('documents', jsonb_build_object('properties', %s::jsonb),"
                          " 5, NULL)).properties = %s::jsonb", (exact, exact)).fetchone()[0]
    assert kept


def test_the_maintenance_path_sees_everything(world):
    snap = Snapshot(world)
    with world.connect() as su:
        n = su.execute("SELECT total FROM (SELECT count AS total FROM documents.document_facets('{\"deleted\": \"any\"}')"
                       " WHERE facet = 'total') t").fetchone()[0]
    assert n == len(snap.documents)


def test_the_functions_run_with_the_callers_rights(world):
    with world.connect() as su:
        rows = su.execute("""SELECT p.oid::regprocedure::text, p.prosecdef, p.proleakproof, p.provolatile, p.proparallel,
                                    p.proconfig
                               FROM pg_proc p
                              WHERE p.oid IN ('projects.search_projects(jsonb,integer,text)'::regprocedure,
                                              'projects.project_facets(jsonb)'::regprocedure,
                                              'documents.search_documents(jsonb,integer,text)'::regprocedure,
                                              'documents.document_facets(jsonb)'::regprocedure,
                                              'pulse.parse_discovery_filter(text,jsonb,integer,text)'::regprocedure)""").fetchall()
    assert len(rows) == 5
    for name, definer, leakproof, volatility, parallel, config in rows:
        assert (definer, leakproof, volatility, parallel) == (False, False, "s", "r"), name
        assert "search_path=pg_catalog, pg_temp" in config, name


BAD = [
    ("documents.search_documents(%s)", {"colour": "red"}, "22023", 'unknown filter key "colour"'),
    ("projects.search_projects(%s)", {"filetype": "pdf"}, "22023", 'unknown filter key "filetype"'),
    ("documents.document_facets(%s)", {"phase": ["idea", "nope"]}, "22023", 'unknown phase code "nope"'),
    ("projects.project_facets(%s)", {"features": ["search", "teleport"]}, "22023", 'unknown features code "teleport"'),
    ("projects.search_projects(%s)", {"license": "WTFPL"}, "22023", 'unknown license code "wtfpl"'),
    ("documents.search_documents(%s)", {"mime_category": "hologram"}, "22023", 'unknown mime category code "hologram"'),
    ("documents.search_documents(%s)", {"storage": "nowhere"}, "22023", 'unknown storage code "nowhere"'),
    ("projects.search_projects(%s)", {"role": "boss"}, "22023", 'unknown role code "boss"'),
    ("documents.search_documents(%s)", {"phase": 3}, "22023", 'filter key "phase" takes a code or an array of codes'),
    ("documents.search_documents(%s)", {"phase": [None]}, "22023", 'filter key "phase" takes a code or an array of codes'),
    ("documents.search_documents(%s)", {"project": 10**40}, "22023", 'filter key "project" takes a positive integer id'),
    ("projects.search_projects(%s)", {"owner": 2**31}, "22023", 'filter key "owner" takes a positive integer id'),
    ("projects.search_projects(%s)", {"q": "x" * 1001}, "22023", 'filter key "q" takes a string of at most 1000 characters'),
    ("documents.search_documents(%s)", {"project": ["7"]}, "22023", 'filter key "project" takes a positive integer id'),
    ("documents.search_documents(%s)", {"uploaded_by": [0]}, "22023", 'filter key "uploaded_by" takes a positive integer id'),
    ("projects.search_projects(%s)", {"owner": 1.5}, "22023", 'filter key "owner" takes a positive integer id'),
    ("documents.search_documents(%s)", {"size_min": 2000, "size_max": 1000}, "22023", "inverted range: size_min is greater than size_max"),
    ("documents.document_facets(%s)", {"created_from": "2025-06-01", "created_to": "2025-01-01"}, "22023",
     "inverted range: created_from is after created_to"),
    ("documents.search_documents(%s)", {"updated_from": "2025-06-01T00:00:00Z", "updated_to": "2025-05-31T23:59:59Z"}, "22023",
     "inverted range: updated_from is after updated_to"),
    ("documents.search_documents(%s)", {"created_from": "2025-02-30"}, "22023", 'filter key "created_from" takes a timestamp'),
    ("documents.search_documents(%s)", {"created_to": 20250101}, "22023", 'filter key "created_to" takes a timestamp'),
    ("documents.search_documents(%s)", {"size_min": -1}, "22023", 'filter key "size_min" takes a whole number of bytes'),
    ("documents.search_documents(%s)", {"properties": ["lang", "en"]}, "22023", 'filter key "properties" takes a JSON object'),
    ("documents.search_documents(%s)", {"deleted": "maybe"}, "22023", 'filter key "deleted" takes true, false or "any"'),
    ("projects.search_projects(%s)", {"q": "  -- !! "}, "22023", 'filter key "q" has no words to search for'),
    ("projects.search_projects(%s)", {"q": ["report"]}, "22023", 'filter key "q" takes a string'),
    ("projects.search_projects(%s)", ["phase"], "22023", "a filter is a JSON object, not array"),
    ("documents.search_documents(%s, 0)", {}, "22023", "page_size must be between 1 and 500, not 0"),
    ("documents.search_documents(%s, 501)", {}, "22023", "page_size must be between 1 and 500, not 501"),
    ("projects.search_projects(%s, NULL)", {}, "22023", "page_size must be between 1 and 500, not NULL"),
    ("documents.search_documents(%s, 5, 'not a cursor')", {}, "22P02", "malformed cursor"),
    ("documents.search_documents(%s, 5, 'abcde')", {}, "22P02", "malformed cursor"),
    ("documents.search_documents(%s, 5, 'Zm9vYmFy')", {}, "22P02", "malformed cursor"),  # base64 of "foobar"
]


@pytest.mark.parametrize("call_sql,f,sqlstate,message", BAD, ids=[f"{c.split('(')[0]} {f}" for c, f, _, _ in BAD])
def test_bad_filters_get_clear_errors(world, call_sql, f, sqlstate, message):
    with connect(world, "editor") as conn:
        with pytest.raises(psycopg.Error) as error:
            call(world, conn, "editor", f"SELECT * FROM {call_sql}", (Jsonb(f),))
    assert (error.value.sqlstate, error.value.diag.message_primary[:len(message)]) == (sqlstate, message)


def test_a_cursor_continues_only_its_own_search(world):
    with connect(world, "admin") as conn:
        cursor = call(world, conn, "admin", "SELECT next_cursor FROM documents.search_documents('{}', 2)", ())[0]["next_cursor"]
        project_cursor = call(world, conn, "admin", "SELECT next_cursor FROM projects.search_projects('{}', 2)", ())[0]["next_cursor"]
        for sql, args in (("SELECT * FROM documents.search_documents('{\"storage\": \"main\"}', 2, %s)", (cursor,)),
                          ("SELECT * FROM documents.search_documents('{}', 2, %s)", (project_cursor,))):
            with pytest.raises(psycopg.errors.InvalidParameterValue, match="the cursor belongs to another search or filter"):
                call(world, conn, "admin", sql, args)
        # Tampered: still base64url, no longer a cursor.
        with pytest.raises(psycopg.errors.InvalidTextRepresentation, match="malformed cursor"):
            call(world, conn, "admin", "SELECT * FROM documents.search_documents('{}', 2, %s)", (cursor[:-2] + "zz",))


def test_a_cursor_is_made_only_for_a_search_kind(world):
    with connect(world, "editor") as conn:
        made = call(world, conn, "editor", "SELECT pulse.discovery_cursor('documents', '0123456789abcdef', 5, 42) AS c", ())
        assert made[0]["c"] == "djF8ZG9jdW1lbnRzfDAxMjM0NTY3ODlhYmNkZWZ8NXw0Mg"
        with pytest.raises(psycopg.errors.InvalidParameterValue, match='unknown kind of search "folders"'):
            call(world, conn, "editor", "SELECT pulse.discovery_cursor('folders', '0123456789abcdef', 5, 42)", ())
