"""Crash safety: the server is killed with SIGKILL in the middle of an audited load and
restarted; crash recovery must leave history exactly in step with the data.

The module runs a cluster of its own (PULSE_PG_BIN, loopback, a free port). Four application
connections, each authenticated as a user who owns three projects with two documents each,
change their own entities as fast as they can: descriptions, priorities, tags added and
removed, document titles, soft deletes and restores. Each client remembers the state it saw
committed and the change it had in flight. The postmaster and every backend are then killed
at once with SIGKILL, and the cluster restarts (crash recovery). Afterwards:

* every change a client saw committed is there, and the change in flight is either
  entirely there (with its history row) or entirely absent;
* the last history snapshot of every project and document equals the live row and its links;
* every chain is gapless, its head is its last row, and audit.verify() is empty;
* each entity has exactly one history row per committed change.
"""

import datetime
import os
import random
import shutil
import signal
import tempfile
import threading
import time

import psycopg
import pytest

from conftest import pg_bin
from test_replica import as_postgres, free_port

WORKERS = 4
PROJECTS_EACH = 3
DOCUMENTS_EACH = 2
TAGS = ("security", "legacy", "internal", "customer-facing")


@pytest.fixture(scope="module")
def cluster():
    """A cluster of its own, stopped and removed afterwards: (data directory, base DSN)."""
    workdir = tempfile.mkdtemp(prefix="pulse-crash-")
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    data, port = os.path.join(workdir, "data"), free_port()
    as_postgres(pg_bin("initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8")
    with open(os.path.join(data, "postgresql.auto.conf"), "a") as conf:
        # Durability as in production: fsync and synchronous commit on (the defaults, stated).
        conf.write(f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{workdir}'\n"
                   "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n")
    env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
    log = os.path.join(workdir, "log")

    def start():
        try:
            as_postgres(pg_bin("pg_ctl"), "-D", data, "-l", log, "-w", "-t", "120", "start", env=env)
        except Exception:
            with open(log) as server_log:
                print(server_log.read())
            raise

    start()
    try:
        yield data, f"host=127.0.0.1 port={port} user=postgres", start, log
    finally:
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            try:
                as_postgres(pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
            except Exception:  # noqa: BLE001 - not running (a failed restart)
                pass
        shutil.rmtree(workdir, ignore_errors=True)


def kill_server(data):
    """SIGKILL to the postmaster and all its children at once: a power cut, as the processes
    see it (no shutdown checkpoint, no flush, and no backend that notices the postmaster
    going first). Everything is stopped before anything is killed, so none runs in between.
    Returns how many backends and auxiliary processes died with the postmaster."""
    with open(os.path.join(data, "postmaster.pid")) as pidfile:
        postmaster = int(pidfile.readline())
    os.kill(postmaster, signal.SIGSTOP)  # it forks nothing more
    children = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if parent_of(pid) == postmaster]
    for pid in children:
        signal_quietly(pid, signal.SIGSTOP)
    for pid in [postmaster, *children]:
        signal_quietly(pid, signal.SIGKILL)
    # Gone, not just dead: a zombie postmaster still holds its data directory's lock.
    deadline = time.monotonic() + 30
    while any(os.path.exists(f"/proc/{pid}") for pid in [postmaster, *children]):
        assert time.monotonic() < deadline, "the killed server's processes were not reaped"
        time.sleep(0.05)
    return len(children)


def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def signal_quietly(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def setup_world(dsn):
    """A database with pulse, an application role, and per worker a user, a token, projects,
    documents; returns what the workers need."""
    with psycopg.connect(dsn + " dbname=postgres", autocommit=True) as su:
        su.execute("CREATE DATABASE crash")
        su.execute("CREATE ROLE crash_app LOGIN")
    db_dsn = dsn + " dbname=crash"
    world = {"app_dsn": db_dsn.replace("user=postgres", "user=crash_app"), "workers": []}
    with psycopg.connect(db_dsn, autocommit=True) as su:
        su.execute("CREATE EXTENSION pulse")
        su.execute("SELECT pulse.grant_application_role('crash_app')")
        su.execute("""INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint)
                      VALUES ('s', 'S', 'minio', 'bucket-s', 'http://127.0.0.1:9000')""")
        world["tags"] = [r[0] for r in su.execute("SELECT tag_id FROM pulse.tag_reference WHERE code = ANY(%s)",
                                                   (list(TAGS),))]
        world["priorities"] = [r[0] for r in su.execute("SELECT priority_id FROM pulse.priority_reference")]
        assert len(world["tags"]) == len(TAGS) and len(world["priorities"]) >= 2
        for w in range(WORKERS):
            user = su.execute("SELECT users.create_user(%s, %s)", (f"w{w}@example.com", f"Worker {w}")).fetchone()[0]
            token = su.execute("SELECT token FROM users.open_session(%s, ttl => interval '1 hour')",
                               (user,)).fetchone()[0]
            projects, documents = [], []
            for p in range(PROJECTS_EACH):
                project = su.execute("""
                    INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                    SELECT %s, %s, ph.phase_id, pr.priority_id FROM pulse.phase_reference ph, pulse.priority_reference pr
                     WHERE ph.code = 'idea' AND pr.code = 'medium' RETURNING project_id""",
                                     (f"W{w}P{p}", user)).fetchone()[0]
                su.execute("""INSERT INTO projects.project_member (project_id, user_id, access_role_id)
                              SELECT %s, %s, access_role_id FROM pulse.access_role_reference WHERE code = 'owner'""",
                           (project, user))
                projects.append(project)
                for d in range(DOCUMENTS_EACH):
                    documents.append(su.execute("""
                        INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key,
                                                         size_bytes, checksum_sha256, priority_id, phase_id, uploaded_by)
                        SELECT %s, %s, 'd.pdf', f.filetype_id, s.storage_id, %s, 1, repeat('a', 64), p.priority_id,
                               p.phase_id, %s
                          FROM pulse.filetype_reference f, pulse.storage_reference s, projects.projects p
                         WHERE f.code = 'pdf' AND s.code = 's' AND p.project_id = %s
                        RETURNING document_id""", (project, f"W{w}P{p}D{d}", f"k/{w}/{p}/{d}", user, project)).fetchone()[0])
            initial = {("project", p): live_state(su, ("project", p)) for p in projects}
            initial.update({("document", d): live_state(su, ("document", d)) for d in documents})
            world["workers"].append({"token": token, "projects": projects, "documents": documents, "initial": initial})
        world["history_counts"] = history_counts(su)
    return db_dsn, world


def history_counts(conn):
    """{(kind, id): number of history rows} of every project and document."""
    return {(kind, entity): n for kind, entity, n in conn.execute("""
        SELECT 'project', project_id, count(*) FROM audit.project_history GROUP BY 1, 2
        UNION ALL SELECT 'document', document_id, count(*) FROM audit.document_history GROUP BY 1, 2""")}


class Worker(threading.Thread):
    """Changes its own projects and documents until the server dies. `committed` holds the
    state of each entity as the client last saw it committed, `changes` how many committed
    changes each entity had, `in_flight` the change whose COMMIT got no answer."""

    def __init__(self, seed, app_dsn, spec, tags, priorities, started):
        super().__init__(daemon=True)
        self.rng = random.Random(seed)
        self.seed, self.app_dsn, self.spec, self.tags, self.priorities = seed, app_dsn, spec, tags, priorities
        self.started = started
        self.committed = dict(spec["initial"])
        self.changes = {key: 0 for key in self.committed}
        self.in_flight = None  # (entity, state after the change)
        self.commits, self.error = 0, None

    def next_change(self, i):
        """(entity, SQL, parameters, state after)."""
        marker = f"w{self.seed}-{i}"
        if self.rng.random() < 0.5:
            project = self.rng.choice(self.spec["projects"])
            key = ("project", project)
            state = dict(self.committed[key])
            action = self.rng.choice(["describe", "priority", "tag"])
            if action == "describe":
                state["description"] = marker
                return key, "UPDATE projects.projects SET description = %s WHERE project_id = %s", (marker, project), state
            if action == "priority":
                current = state["priority"]
                state["priority"] = self.rng.choice([p for p in self.priorities if p != current])
                return (key, "UPDATE projects.projects SET priority_id = %s WHERE project_id = %s",
                        (state["priority"], project), state)
            tag = self.rng.choice(self.tags)
            if tag in state["tags"]:
                state["tags"] = state["tags"] - {tag}
                return key, "DELETE FROM projects.project_tag WHERE project_id = %s AND tag_id = %s", (project, tag), state
            state["tags"] = state["tags"] | {tag}
            return key, "INSERT INTO projects.project_tag (project_id, tag_id) VALUES (%s, %s)", (project, tag), state
        document = self.rng.choice(self.spec["documents"])
        key = ("document", document)
        state = dict(self.committed[key])
        if self.rng.random() < 0.6:
            state["title"] = marker
            return key, "UPDATE documents.documents SET title = %s WHERE document_id = %s", (marker, document), state
        state["deleted"] = not state["deleted"]
        function = "documents.restore_document" if not state["deleted"] else "documents.soft_delete_document"
        return key, f"SELECT {function}(%s)", (document,), state

    def run(self):
        try:
            with psycopg.connect(self.app_dsn) as conn:
                self.started.wait()
                for i in range(1_000_000):
                    key, sql, params, after = self.next_change(i)
                    conn.execute("SELECT pulse.authenticate(%s)", (self.spec["token"],))
                    conn.execute(sql, params)
                    self.in_flight = (key, after)
                    conn.commit()
                    self.committed[key], self.in_flight = after, None
                    self.changes[key] += 1
                    self.commits += 1
        except psycopg.OperationalError:
            pass  # the server died under us: expected
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.error = repr(error)


def live_state(conn, key):
    kind, entity = key
    if kind == "project":
        description, priority = conn.execute("SELECT description, priority_id FROM projects.projects WHERE project_id = %s",
                                             (entity,)).fetchone()
        tags = frozenset(r[0] for r in conn.execute("SELECT tag_id FROM projects.project_tag WHERE project_id = %s",
                                                    (entity,)))
        return {"description": description, "priority": priority, "tags": tags}
    title, deleted = conn.execute("SELECT title, deleted_at IS NOT NULL FROM documents.documents WHERE document_id = %s",
                                  (entity,)).fetchone()
    return {"title": title, "deleted": deleted}


def snapshot_differences(conn, table, key_column, entity, links=()):
    """Columns of the live row whose value differs from the entity's last history snapshot.
    A reference column `x_id` is compared with the snapshot's `x.id`; timestamps as instants."""
    row = conn.execute(f"SELECT to_jsonb(t) FROM {table} t WHERE {key_column} = %s", (entity,)).fetchone()[0]
    history = "audit.project_history" if table == "projects.projects" else "audit.document_history"
    snapshot = conn.execute(f"""SELECT snapshot FROM {history} WHERE {key_column} = %s ORDER BY version DESC LIMIT 1""",
                            (entity,)).fetchone()[0]
    differences, compared = [], 0
    for column, value in row.items():
        recorded = snapshot.get(column, snapshot.get(column.removesuffix("_id")))
        if column not in snapshot and isinstance(recorded, dict):
            recorded = recorded.get("id")
        elif column not in snapshot:
            continue
        if isinstance(value, str) and isinstance(recorded, str) and column.endswith("_at"):
            value, recorded = (datetime.datetime.fromisoformat(v) for v in (value, recorded))
        compared += 1
        if value != recorded:
            differences.append((column, value, recorded))
    for link_table, link_column, name in links:
        live = sorted(r[0] for r in conn.execute(f"SELECT {link_column} FROM {link_table} WHERE {key_column} = %s",
                                                 (entity,)))
        if live != sorted(e["id"] for e in snapshot.get(name, [])):
            differences.append((name, live, snapshot.get(name)))
    assert compared >= 10, f"too few columns compared for {table} {entity}"
    return differences


def test_history_matches_the_data_after_a_crash_in_the_middle_of_an_audited_load(cluster):
    data, dsn, start, log = cluster
    db_dsn, world = setup_world(dsn)
    started = threading.Event()
    workers = [Worker(seed, world["app_dsn"], spec, world["tags"], world["priorities"], started)
               for seed, spec in enumerate(world["workers"])]
    for w in workers:
        w.start()
    started.set()
    # Mid-load: every worker has committed a good number of changes and is still going.
    deadline = time.monotonic() + 120
    while min(w.commits for w in workers) < 100:
        assert time.monotonic() < deadline, "the load made too little progress"
        assert all(w.is_alive() for w in workers), [w.error for w in workers]
        time.sleep(0.05)
    killed = kill_server(data)
    for w in workers:
        w.join(timeout=60)
    assert not any(w.is_alive() for w in workers)
    assert [w.error for w in workers] == [None] * WORKERS
    assert killed >= WORKERS  # the backends died with the postmaster

    start()
    with open(log) as server_log:
        assert "automatic recovery in progress" in server_log.read()  # a crash recovery, not a clean start
    with psycopg.connect(db_dsn) as su:
        assert su.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        in_flight_committed = 0
        for w in workers:
            for key, expected in w.committed.items():
                live = live_state(su, key)
                if w.in_flight and w.in_flight[0] == key and expected != live:
                    # The change whose COMMIT got no answer: all there, or not at all.
                    assert live == w.in_flight[1], (key, expected, w.in_flight[1], live)
                    w.changes[key] += 1
                    in_flight_committed += 1
                else:
                    assert live == expected, (key, expected, live)
        # One history row per committed change (after those of set-up), no more, no less.
        counts = history_counts(su)
        for w in workers:
            for key, n in w.changes.items():
                assert counts[key] == world["history_counts"][key] + n, (key, counts[key], n)
        # Gapless chains whose heads are their last rows.
        assert su.execute("""
            SELECT count(*) FROM (SELECT project_id, count(*) n, max(version) v FROM audit.project_history GROUP BY 1) h
              FULL JOIN audit.project_chain c USING (project_id)
             WHERE h.n IS DISTINCT FROM h.v OR c.version IS DISTINCT FROM h.v""").fetchone() == (0,)
        assert su.execute("""
            SELECT count(*) FROM (SELECT project_id, document_id, count(*) n, max(version) v
                                    FROM audit.document_history GROUP BY 1, 2) h
              FULL JOIN audit.document_chain c USING (project_id, document_id)
             WHERE h.n IS DISTINCT FROM h.v OR c.version IS DISTINCT FROM h.v""").fetchone() == (0,)
        # The last snapshot is the live row.
        links = (("projects.project_tag", "tag_id", "tags"), ("projects.project_feature", "feature_id", "features"),
                 ("projects.project_tech_stack", "tech_stack_id", "tech_stack"))
        for (project,) in su.execute("SELECT project_id FROM projects.projects").fetchall():
            assert snapshot_differences(su, "projects.projects", "project_id", project, links) == [], project
        for (document,) in su.execute("SELECT document_id FROM documents.documents").fetchall():
            assert snapshot_differences(su, "documents.documents", "document_id", document) == [], document
        assert su.execute("SELECT * FROM audit.verify()").fetchall() == []
        total = sum(w.commits for w in workers)
        assert total >= WORKERS * 100
    print(f"crash after {total} committed changes; {in_flight_committed} of the in-flight commits survived")
