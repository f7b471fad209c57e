"""History capture, the hash chain, audit.verify() and the append-only rules."""

import random
import threading

import psycopg
import pytest

from conftest import create_app_database, drop_database


@pytest.fixture
def db():
    database = create_app_database()
    with database.connect(autocommit=True) as su:
        database.owner = su.execute("SELECT users.create_user('owner@example.com', 'Owner')").fetchone()[0]
        database.token = su.execute("SELECT token FROM users.open_session(%s)", (database.owner,)).fetchone()[0]
        database.session = su.execute("SELECT session_id FROM users.sessions WHERE user_id = %s",
                                      (database.owner,)).fetchone()[0]
    yield database
    drop_database(database)


def ref(conn, table, code):
    key = table.replace("_reference", "_id")
    return conn.execute(f"SELECT {key} FROM pulse.{table} WHERE code = %s", (code,)).fetchone()[0]


def new_project(conn, name="Apollo", owner=None):
    """As the maintenance path (superuser, no session) unless conn is authenticated."""
    owner = owner or conn.execute("SELECT min(user_id) FROM users.users").fetchone()[0]
    return conn.execute("""INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                           VALUES (%s, %s, %s, %s) RETURNING project_id""",
                        (name, owner, ref(conn, "phase_reference", "idea"),
                         ref(conn, "priority_reference", "medium"))).fetchone()[0]


def new_documents(conn, project_id, count):
    """Documents 'Doc 1' to 'Doc <count>' in a project, on a storage 's' made for them."""
    conn.execute("""INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint)
                    VALUES ('s', 'S', 'minio', 'bucket-s', 'http://127.0.0.1:9000')""")
    conn.execute("""INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key,
                                                     size_bytes, checksum_sha256, priority_id, phase_id)
                    SELECT %s, 'Doc ' || i, 'd.pdf', %s, (SELECT storage_id FROM pulse.storage_reference WHERE code = 's'),
                           'k/' || i, i, encode(sha256(i::text::bytea), 'hex'), %s, %s FROM generate_series(1, %s) i""",
                 (project_id, ref(conn, "filetype_reference", "pdf"), ref(conn, "priority_reference", "low"),
                  ref(conn, "phase_reference", "idea"), count))


def history(conn, project_id):
    return conn.execute("""SELECT version, operation, change_summary, changed_columns, changed_by, session_id, reason
                             FROM audit.project_history WHERE project_id = %s ORDER BY version""",
                        (project_id,)).fetchall()


def verify(conn):
    return conn.execute("SELECT history_table, project_id, document_id, version, problem FROM audit.verify()").fetchall()


def test_changes_are_recorded_with_who_and_what(db):
    with psycopg.connect(db.app_dsn) as app:
        app.execute("SELECT pulse.authenticate(%s)", (db.token,))
        app.execute("SELECT pulse.set_change_reason('kick-off')")
        project = new_project(app, owner=db.owner)
        app.commit()
        app.execute("SELECT pulse.authenticate(%s)", (db.token,))
        app.execute("UPDATE projects.projects SET phase_id = %s WHERE project_id = %s",
                    (ref(app, "phase_reference", "planning"), project))
        app.execute("INSERT INTO projects.project_tag (project_id, tag_id) SELECT %s, tag_id FROM pulse.tag_reference"
                    " WHERE code IN ('security', 'legacy')", (project,))
        app.commit()
        assert history(app, project) == []  # no session, no history
        app.execute("SELECT pulse.authenticate(%s)", (db.token,))
        rows = history(app, project)
    assert [r[:2] for r in rows] == [(1, "INSERT"), (2, "UPDATE"), (3, "UPDATE"), (4, "UPDATE")]
    assert rows[0][2] == "created" and rows[0][6] == "kick-off"
    assert rows[1][2].startswith("members +user") and rows[1][3] == ["members"]
    assert rows[2][2] == "phase: Idea → Planning" and rows[2][3] == ["phase"]
    assert rows[3][2] in ("tags +Legacy +Security", "tags +Security +Legacy") and rows[3][3] == ["tags"]
    assert {(r[4], r[5]) for r in rows} == {(db.owner, db.session)}
    assert rows[2][6] is None  # the reason belonged to the first transaction only
    with db.connect() as su:
        assert verify(su) == []


def test_snapshot_holds_the_project_with_labels_and_link_sets(db):
    with db.connect() as su:
        project = new_project(su)
        su.execute("INSERT INTO projects.project_tag (project_id, tag_id) SELECT %s, tag_id FROM pulse.tag_reference"
                   " WHERE code = 'security'", (project,))
        snapshot = su.execute("""SELECT snapshot FROM audit.project_history WHERE project_id = %s
                                  ORDER BY version DESC LIMIT 1""", (project,)).fetchone()[0]
        history_row = su.execute("""SELECT project_version, owner_id, phase_id, priority_id, changed_by, session_id
                                      FROM audit.project_history WHERE project_id = %s AND version = 1""",
                                 (project,)).fetchone()
    assert snapshot["name"] == "Apollo"
    assert snapshot["phase"]["code"] == "idea" and snapshot["phase"]["label"] == "Idea"
    assert [t["code"] for t in snapshot["tags"]] == ["security"]
    assert snapshot["features"] == [] and snapshot["members"] == []
    assert snapshot["created_at"].endswith("Z")
    assert history_row[0] == 1 and history_row[2] is not None and history_row[4:] == (None, None)


def test_an_update_that_changes_nothing_writes_nothing(db):
    with db.connect() as su:
        project = new_project(su)
        su.execute("UPDATE projects.projects SET name = name, updated_at = now() WHERE project_id = %s", (project,))
        su.execute("UPDATE projects.projects SET name = 'Artemis' WHERE project_id = %s", (project,))
        assert [r[2] for r in history(su, project)] == ["created", "name: Apollo → Artemis"]


def test_soft_delete_restore_and_delete(db):
    with db.connect() as su:
        project = new_project(su)
        su.execute("UPDATE projects.projects SET deleted_at = now() WHERE project_id = %s", (project,))
        su.execute("UPDATE projects.projects SET deleted_at = NULL WHERE project_id = %s", (project,))
        su.execute("INSERT INTO projects.project_tag (project_id, tag_id) SELECT %s, tag_id FROM pulse.tag_reference"
                   " WHERE code = 'security'", (project,))
        su.execute("DELETE FROM projects.projects WHERE project_id = %s", (project,))
        rows = history(su, project)
        assert [r[1] for r in rows] == ["INSERT", "SOFT_DELETE", "RESTORE", "UPDATE", "DELETE"]
        assert [r[2] for r in rows][1:3] == ["soft-deleted", "restored"]
        # The DELETE snapshot still shows the links the cascade removed.
        last = su.execute("SELECT snapshot FROM audit.project_history WHERE project_id = %s AND operation = 'DELETE'",
                          (project,)).fetchone()[0]
        assert [t["code"] for t in last["tags"]] == ["security"]
        assert verify(su) == []


def test_an_update_while_soft_deleted_is_an_update(db):
    """The row before an UPDATE is rendered only where its stored bytes changed (D55): a
    deletion left as it was still counts on both sides, and a change of bytes alone is none."""
    with db.connect() as su:
        project = new_project(su)
        su.execute("UPDATE projects.projects SET deleted_at = now() WHERE project_id = %s", (project,))
        su.execute("UPDATE projects.projects SET name = 'Artemis' WHERE project_id = %s", (project,))
        su.execute("UPDATE projects.projects SET deleted_at = NULL, name = 'Apollo' WHERE project_id = %s", (project,))
        rows = history(su, project)
        assert [r[1] for r in rows] == ["INSERT", "SOFT_DELETE", "UPDATE", "RESTORE"]
        assert [r[2] for r in rows][2:] == ["name: Apollo → Artemis", "restored; name: Artemis → Apollo"]
        new_documents(su, project, 1)
        document = su.execute("SELECT document_id FROM documents.documents WHERE project_id = %s", (project,)).fetchone()[0]
        su.execute("UPDATE documents.documents SET deleted_at = now() WHERE document_id = %s", (document,))
        su.execute("UPDATE documents.documents SET title = 'Renamed' WHERE document_id = %s", (document,))
        # Stored compressed, then plain: other bytes, the same value, so no change.
        su.execute("""UPDATE documents.documents SET custom_properties = jsonb_build_object('notes', repeat('n', 5000))
                       WHERE document_id = %s""", (document,))
        su.execute("""ALTER TABLE documents.documents ALTER COLUMN custom_properties SET STORAGE EXTERNAL""")
        su.execute("UPDATE documents.documents SET custom_properties = custom_properties || '{}' WHERE document_id = %s",
                   (document,))
        su.execute("ALTER TABLE documents.documents ALTER COLUMN custom_properties SET STORAGE EXTENDED")
        operations = su.execute("""SELECT operation, change_summary FROM audit.document_history
                                    WHERE document_id = %s ORDER BY version""", (document,)).fetchall()
        assert [o for o, _ in operations] == ["INSERT", "SOFT_DELETE", "UPDATE", "UPDATE"]
        assert operations[2][1] == "title: Doc 1 → Renamed"
        assert verify(su) == []


def test_every_way_of_writing_is_captured_and_rollback_leaves_nothing(db):
    with db.connect() as su:
        project = new_project(su)
        tags = [r[0] for r in su.execute("SELECT tag_id FROM pulse.tag_reference ORDER BY tag_id LIMIT 3")]
        su.execute("INSERT INTO projects.project_tag (project_id, tag_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                   (project, tags[0]))
        su.execute("""MERGE INTO projects.project_tag t USING (SELECT %s::bigint AS p, %s::int AS g) s
                      ON t.project_id = s.p AND t.tag_id = s.g
                      WHEN NOT MATCHED THEN INSERT (project_id, tag_id) VALUES (s.p, s.g)""", (project, tags[1]))
        with su.cursor().copy("COPY projects.project_tag (project_id, tag_id) FROM STDIN") as copy:
            copy.write_row((project, tags[2]))
        su.commit()
        assert len(history(su, project)) == 4
        su.execute("UPDATE projects.projects SET name = 'Discarded' WHERE project_id = %s", (project,))
        su.rollback()
        assert len(history(su, project)) == 4
        documents_before = su.execute("SELECT count(*) FROM audit.document_history").fetchone()[0]
        new_documents(su, project, 3)
        su.execute("UPDATE documents.documents SET title = title || '!' WHERE project_id = %s", (project,))
        su.commit()
        assert su.execute("SELECT count(*) FROM audit.document_history").fetchone()[0] == documents_before + 6
        assert su.execute("""SELECT array_agg(DISTINCT change_summary) FROM audit.document_history
                              WHERE operation = 'UPDATE'""").fetchone()[0] == [
            "title: Doc 1 → Doc 1!", "title: Doc 2 → Doc 2!", "title: Doc 3 → Doc 3!"]
        assert verify(su) == []


def test_bulk_changes_take_no_lock_per_row(db):
    """A bulk change must not take a lock per row: the shared lock table holds about
    max_locks_per_transaction x max_connections entries, and a COPY of 20,000 documents filled it.
    The row locks of the writes serialize history instead; a project created in the transaction is
    invisible to others, so neither needs pulse's entity lock."""
    rows = 2_000
    pulse_locks = """SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'"""
    with db.connect() as su:
        project = new_project(su)
        su.execute("""INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint)
                      VALUES ('bulk', 'Bulk', 'minio', 'bucket-bulk', 'http://127.0.0.1:9000')""")
        su.commit()
        su.execute("""INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key,
                                                       size_bytes, checksum_sha256, priority_id, phase_id)
                      SELECT %s, 'Doc ' || i, 'd.pdf', %s, (SELECT storage_id FROM pulse.storage_reference
                                                            WHERE code = 'bulk'),
                             'k/' || i, i, encode(sha256(i::text::bytea), 'hex'), %s, %s
                        FROM generate_series(1, %s) i""",
                   (project, ref(su, "filetype_reference", "pdf"), ref(su, "priority_reference", "low"),
                    ref(su, "phase_reference", "idea"), rows))
        su.execute("UPDATE documents.documents SET title = title || '!' WHERE project_id = %s", (project,))
        owner = su.execute("SELECT min(user_id) FROM users.users").fetchone()[0]
        su.execute("""INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                      SELECT 'Bulk ' || i, %s, %s, %s FROM generate_series(1, 200) i""",
                   (owner, ref(su, "phase_reference", "idea"), ref(su, "priority_reference", "medium")))
        su.execute("""INSERT INTO projects.project_tag (project_id, tag_id)
                      SELECT project_id, (SELECT min(tag_id) FROM pulse.tag_reference)
                        FROM projects.projects WHERE name LIKE 'Bulk %'""")
        assert su.execute(pulse_locks).fetchone()[0] == 0
        su.commit()
        su.execute("""UPDATE documents.documents SET custom_properties = '{"bulk": true}' WHERE project_id = %s""", (project,))
        assert su.execute(pulse_locks).fetchone()[0] == 0
        # Existing projects: one lock per project changed, held to the end of the transaction.
        su.execute("UPDATE projects.projects SET description = 'bulk' WHERE name LIKE 'Bulk %'")
        assert su.execute(pulse_locks).fetchone()[0] == 200
        su.commit()
        assert su.execute("""SELECT count(*), count(DISTINCT document_id), max(version)
                               FROM audit.document_history WHERE project_id = %s""",
                          (project,)).fetchone() == (3 * rows, rows, 3)
        assert su.execute("""SELECT count(*) FROM audit.project_history h JOIN projects.projects p USING (project_id)
                              WHERE p.name LIKE 'Bulk %'""").fetchone()[0] == 600
        assert verify(su) == []


def test_history_can_be_reindexed_and_altered_in_the_transaction_that_wrote_it(db):
    """Capture opens the history tables and their indexes for each row and closes them again. A
    relation left open would make REINDEX and ALTER of it fail in the same transaction ("is being
    used by active queries"). Appending without SQL, it keeps the indexes' locks to the end of the
    transaction, as a freshly planned write does, rather than taking them anew for every row."""
    index_locks = """SELECT count(*) FROM pg_locks
                      WHERE pid = pg_backend_pid() AND mode = 'RowExclusiveLock'
                        AND relation IN ('audit.project_history_pkey'::regclass,
                                         'audit.project_history_changed_by_idx'::regclass)"""
    with db.connect() as su:
        project = new_project(su)
        su.execute("UPDATE projects.projects SET description = 'first' WHERE project_id = %s", (project,))
        # Appended without SQL, the indexes stay locked. Through SQL (direct access off), the kept
        # plan's executor releases them after each statement, as PostgreSQL does for every cached plan.
        if su.execute("SELECT current_setting('pulse.direct_access')::boolean").fetchone()[0]:
            assert su.execute(index_locks).fetchone()[0] == 2
        for statement in ("REINDEX TABLE audit.project_history", "REINDEX TABLE audit.project_chain",
                          "ALTER INDEX audit.project_history_changed_by_idx SET (fillfactor = 80)"):
            su.execute(statement)
        su.execute("UPDATE projects.projects SET description = 'second' WHERE project_id = %s", (project,))
        su.commit()
        assert [row[:2] for row in history(su, project)] == [(1, "INSERT"), (2, "UPDATE"), (3, "UPDATE")]
        assert verify(su) == []


def test_chain_heads_move_in_place(db):
    """Decision log D51 and D56: a chain head is rewritten by every change of its entity, and
    its page keeps room for the new one beside it, a HOT update that adds no index entry; for
    every head of the page at once too, as a bulk UPDATE of neighbouring documents moves them."""
    hot = """SELECT pg_stat_get_xact_tuples_updated('audit.document_chain'::regclass),
                    pg_stat_get_xact_tuples_hot_updated('audit.document_chain'::regclass)"""
    with db.connect() as su:
        project = new_project(su)
        # 300 heads: the first pages of audit.document_chain, as full as its fillfactor lets them be.
        new_documents(su, project, 300)
        su.commit()
        documents = [r[0] for r in su.execute("SELECT document_id FROM documents.documents ORDER BY document_id")]
        changed = documents[::60]
        su.execute("UPDATE documents.documents SET title = title || '!' WHERE document_id = ANY (%s)", (changed,))
        assert su.execute(hot).fetchone() == (len(changed), len(changed))
        su.commit()
        assert su.execute("""SELECT array_agg(version ORDER BY version) FROM audit.document_history
                              WHERE document_id = %s""", (changed[1],)).fetchone()[0] == [1, 2]
        # Every head, in one statement (those moved above are pruned first, as the page is read).
        # The counters run on until the backend reports them, past the commit: compare their
        # difference.
        updated, hot_updated = su.execute(hot).fetchone()
        su.execute("UPDATE documents.documents SET title = title || '?' WHERE document_id = ANY (%s)", (documents,))
        assert su.execute(hot).fetchone() == (updated + len(documents), hot_updated + len(documents))
        su.commit()
        assert verify(su) == []


def test_an_append_locks_each_audit_table_once(db):
    """A recorded change opens the chain head table once, to write, and reads the head there:
    one lock per audit table (RowExclusiveLock), not a second AccessShareLock for the read.
    An application's transaction that changes one document already holds more relation locks
    than a backend keeps in its fast-path slots, so every extra mode is an entry in the shared
    lock table."""
    locks = """SELECT c.relname, array_agg(l.mode ORDER BY l.mode)
                 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                WHERE l.pid = pg_backend_pid() AND c.relnamespace = 'audit'::regnamespace
                  AND c.relname ~ '_(chain|history)$'
                GROUP BY c.relname ORDER BY c.relname"""
    with psycopg.connect(db.app_dsn) as app, db.connect(autocommit=True) as su:
        # Through SQL (direct access off, as on Citus) the head is read by a SELECT, which takes
        # an AccessShareLock of its own.
        direct = su.execute("SELECT current_setting('pulse.direct_access')::boolean").fetchone()[0]
        head = ["RowExclusiveLock"] if direct else ["AccessShareLock", "RowExclusiveLock"]
        app.execute("SELECT pulse.authenticate(%s)", (db.token,))
        project = new_project(app, owner=db.owner)
        app.commit()
        new_documents(su, project, 1)
        app.execute("SELECT pulse.authenticate(%s)", (db.token,))
        assert app.execute("UPDATE documents.documents SET title = 'Locked once' WHERE project_id = %s",
                           (project,)).rowcount == 1
        assert app.execute(locks).fetchall() == [("document_chain", head),
                                                  ("document_history", ["RowExclusiveLock"])]
        app.rollback()
        app.execute("SELECT pulse.authenticate(%s)", (db.token,))
        assert app.execute("UPDATE projects.projects SET name = 'Locked once' WHERE project_id = %s",
                           (project,)).rowcount == 1
        assert app.execute(locks).fetchall() == [("project_chain", head),
                                                  ("project_history", ["RowExclusiveLock"])]
        app.rollback()


def test_a_shard_of_an_audited_table_is_captured_as_the_table(db):
    """On a Citus node the triggers of a distributed table fire on its shards, tables of the same
    schema named <table>_<shard id> (docs/scaling.md): capture records their rows as the table's
    own. Modelled with such tables made by hand; a table named so in another schema, or without
    a shard id, is refused (test_catalog.py)."""
    with db.connect(autocommit=True) as su:
        project = new_project(su)
        new_documents(su, project, 1)
        su.execute("CREATE TABLE documents.documents_102008 (LIKE documents.documents INCLUDING ALL)")
        su.execute("CREATE TABLE projects.project_tag_102040 (LIKE projects.project_tag INCLUDING ALL)")
        su.execute("""CREATE TRIGGER history_capture AFTER INSERT OR UPDATE OR DELETE ON documents.documents_102008
                          FOR EACH ROW EXECUTE FUNCTION audit.capture_document()""")
        su.execute("""CREATE TRIGGER history_capture AFTER INSERT OR UPDATE OR DELETE ON projects.project_tag_102040
                          FOR EACH ROW EXECUTE FUNCTION audit.capture_project_link()""")
        su.execute("""CREATE TRIGGER history_flush AFTER INSERT OR UPDATE OR DELETE ON projects.project_tag_102040
                          FOR EACH STATEMENT EXECUTE FUNCTION audit.flush_project_links()""")
        su.execute("""INSERT INTO documents.documents_102008
                      OVERRIDING SYSTEM VALUE SELECT (jsonb_populate_record(d, '{"document_id": 990001, "object_key": "k/shard"}')).*
                        FROM documents.documents d""")
        su.execute("UPDATE documents.documents_102008 SET title = 'On a shard'")
        assert su.execute("""SELECT project_id, version, operation, snapshot->>'title',
                                    CASE operation WHEN 'UPDATE' THEN changed_columns END
                               FROM audit.document_history WHERE document_id = 990001 ORDER BY version""").fetchall() == [
            (project, 1, "INSERT", "Doc 1", None), (project, 2, "UPDATE", "On a shard", ["title"])]
        # A link table's shard is accepted too. The version it makes is not modelled here: the
        # project's link sets are read from projects.project_tag, which on a Citus node reaches
        # the shard through SQL (D47) and here is the empty local table.
        su.execute("""INSERT INTO projects.project_tag_102040 (project_id, tag_id)
                      SELECT %s, tag_id FROM pulse.tag_reference WHERE code = 'security'""", (project,))
        assert verify(su) == []


def test_history_is_append_only_for_everyone(db):
    with db.connect() as su:
        project = new_project(su)
        su.commit()
        for statement in ("UPDATE audit.project_history SET change_summary = 'x'",
                          "DELETE FROM audit.project_history",
                          "TRUNCATE audit.project_history",
                          "UPDATE audit.project_chain SET version = 9",
                          "DELETE FROM audit.project_chain",
                          "TRUNCATE audit.document_chain",
                          f"""INSERT INTO audit.project_history (project_id, version, operation, snapshot, change_summary, row_hash)
                              VALUES ({project}, 2, 'UPDATE', '{{}}', 'forged', sha256('x'))""",
                          "TRUNCATE projects.projects CASCADE",
                          "TRUNCATE documents.documents CASCADE",
                          "TRUNCATE projects.project_tag"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                su.execute(statement)
            su.rollback()


def test_the_application_cannot_disable_or_drop_audit_triggers(db):
    with psycopg.connect(db.app_dsn) as app:
        for statement in ("ALTER TABLE projects.projects DISABLE TRIGGER history_capture",
                          "DROP TRIGGER history_capture ON projects.projects",
                          "ALTER TABLE audit.project_history DISABLE TRIGGER append_only",
                          "SET session_replication_role = replica"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
            app.rollback()


def tamper(conn, statement, *params):
    """What a superuser can do behind the triggers' back."""
    conn.execute("SET session_replication_role = replica")
    conn.execute(statement, params)
    conn.execute("SET session_replication_role = origin")


@pytest.fixture
def chain(db):
    """A project with five versions, committed."""
    with db.connect() as su:
        project = new_project(su)
        for name in ("B", "C", "D", "E"):
            su.execute("UPDATE projects.projects SET name = %s WHERE project_id = %s", (name, project))
        su.commit()
        assert verify(su) == []
    return project


@pytest.mark.parametrize("edit,expected", [
    ("UPDATE audit.project_history SET change_summary = change_summary || ' ' WHERE project_id = %s AND version = 3",
     [(3, "row_hash does not match the row's content")]),
    ("UPDATE audit.project_history SET snapshot = jsonb_set(snapshot, '{name}', '\"Z\"') WHERE project_id = %s AND version = 2",
     [(2, "row_hash does not match the row's content")]),
    ("UPDATE audit.project_history SET changed_by = 1 WHERE project_id = %s AND version = 1",
     [(1, "row_hash does not match the row's content")]),
    ("DELETE FROM audit.project_history WHERE project_id = %s AND version = 3",
     [(4, "version 4 follows version 2"), (4, "prev_hash is not the row_hash of version 2")]),
    ("DELETE FROM audit.project_history WHERE project_id = %s AND version = 5",
     [(4, "history ends at version 4 but the chain head is at version 5")]),
    ("DELETE FROM audit.project_history WHERE project_id = %s AND version = 1",
     [(2, "the chain starts at version 2, not 1")]),
])
def test_every_kind_of_tampering_is_found(db, chain, edit, expected):
    with db.connect() as su:
        tamper(su, edit, chain)
        found = [(r[3], r[4]) for r in verify(su) if r[1] == chain]
        assert found[:len(expected)] == expected and found


def test_deleting_a_documents_newest_rows_is_found_through_its_chain_head(db):
    """Decision log D58: the rows left after the newest are deleted still chain to each other,
    so only the chain head, which every change moves, shows that the end is gone."""
    with db.connect() as su:
        project = new_project(su)
        new_documents(su, project, 1)
        document = su.execute("SELECT document_id FROM documents.documents WHERE project_id = %s",
                              (project,)).fetchone()[0]
        for title in ("Second", "Third", "Fourth"):
            su.execute("UPDATE documents.documents SET title = %s WHERE document_id = %s", (title, document))
        su.commit()
        assert verify(su) == []
        tamper(su, "DELETE FROM audit.document_history WHERE document_id = %s AND version >= 3", document)
        assert verify(su) == [("audit.document_history", project, document, 2,
                               "history ends at version 2 but the chain head is at version 4")]


def test_swapping_two_rows_is_found(db, chain):
    with db.connect() as su:
        for old, new in ((2, 1000), (3, 2), (1000, 3)):
            tamper(su, "UPDATE audit.project_history SET version = %s WHERE project_id = %s AND version = %s",
                   new, chain, old)
        problems = [r[4] for r in verify(su) if r[1] == chain]
        assert "row_hash does not match the row's content" in problems


def test_a_reason_can_be_required(db):
    with db.connect() as su:
        project = new_project(su)
        su.commit()
        su.execute("SET pulse.require_change_reason = on")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            su.execute("UPDATE projects.projects SET name = 'X' WHERE project_id = %s", (project,))
        su.rollback()
        su.execute("SELECT pulse.set_change_reason('ticket 42')")
        su.execute("UPDATE projects.projects SET name = 'X' WHERE project_id = %s", (project,))
        su.commit()
        assert history(su, project)[-1][6] == "ticket 42"
        for bad in ("", "a\tb", "x" * 2001):
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                su.execute("SELECT pulse.set_change_reason(%s)", (bad,))
            su.rollback()


def test_concurrent_writers_keep_gapless_chains_and_history_replays_to_the_live_rows(db):
    """Four connections, 1,200 random changes of four shared projects: renames, phase changes,
    tags added and removed, soft deletes and restores, rollbacks, documents registered and
    retitled. Every committed change is exactly one history row."""
    with db.connect() as su:
        projects = [new_project(su, name=f"P{i}") for i in range(4)]
        tags = [r[0] for r in su.execute("SELECT tag_id FROM pulse.tag_reference ORDER BY tag_id LIMIT 6")]
        su.execute("""INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint)
                      VALUES ('s', 'S', 'minio', 'bucket-s', 'http://127.0.0.1:9000')""")
        refs = (ref(su, "filetype_reference", "pdf"), ref(su, "storage_reference", "s"),
                ref(su, "priority_reference", "low"), ref(su, "phase_reference", "idea"))
        su.commit()
    project_changes, document_changes, errors = [], [], []

    def worker(seed):
        rng = random.Random(seed)
        made = {"project": 0, "document": 0}
        with db.connect() as conn:
            for i in range(300):
                project = rng.choice(projects)
                action = rng.choice(["rename", "tag", "soft_delete", "phase", "rollback", "document", "retitle"])
                kind = "document" if action in ("document", "retitle") else "project"
                try:
                    with conn.transaction():
                        if action == "rename":
                            conn.execute("UPDATE projects.projects SET name = %s WHERE project_id = %s",
                                         (f"w{seed}-{i}", project))
                        elif action == "tag":
                            tag = rng.choice(tags)
                            if conn.execute("DELETE FROM projects.project_tag WHERE project_id = %s AND tag_id = %s",
                                            (project, tag)).rowcount == 0:
                                conn.execute("INSERT INTO projects.project_tag (project_id, tag_id) VALUES (%s, %s)",
                                             (project, tag))
                        elif action == "soft_delete":
                            conn.execute("""UPDATE projects.projects SET deleted_at = CASE WHEN deleted_at IS NULL
                                            THEN now() END WHERE project_id = %s""", (project,))
                        elif action == "phase":
                            conn.execute("""UPDATE projects.projects SET phase_id = (SELECT r.phase_id FROM pulse.phase_reference r, pulse.phase_reference c
                                            WHERE c.phase_id = projects.phase_id AND r.phase_id <> c.phase_id
                                              AND (r.sort_order < c.sort_order OR r.is_terminal
                                                   OR r.sort_order = (SELECT min(n.sort_order) FROM pulse.phase_reference n
                                                                       WHERE n.sort_order > c.sort_order))
                                            ORDER BY random() LIMIT 1)
                                            WHERE project_id = %s""", (project,))
                        elif action == "rollback":
                            current = head(conn, project)
                            conn.execute("SELECT audit.rollback_project(%s, %s, %s)",
                                         (project, rng.randint(1, current), current))
                        elif action == "document":
                            conn.execute("""INSERT INTO documents.documents (project_id, title, file_name, filetype_id,
                                                storage_id, object_key, size_bytes, checksum_sha256, priority_id, phase_id)
                                            VALUES (%s, %s, 'd.pdf', %s, %s, %s, 1, repeat('a', 64), %s, %s)""",
                                         (project, f"D{seed}-{i}", refs[0], refs[1], f"k/{seed}/{i}", refs[2], refs[3]))
                        else:
                            if conn.execute("""UPDATE documents.documents SET title = %s WHERE document_id = (
                                                 SELECT min(document_id) FROM documents.documents WHERE project_id = %s)""",
                                            (f"T{seed}-{i}", project)).rowcount == 0:
                                continue
                    made[kind] += 1
                except (psycopg.errors.UniqueViolation, psycopg.errors.SerializationFailure):
                    pass  # a tag two workers added at once; a rollback that lost its race: no change
                except Exception as error:  # noqa: BLE001 - reported below
                    errors.append(repr(error))
        project_changes.append(made["project"])
        document_changes.append(made["document"])

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.connect() as su:
        for table, key in (("audit.project_history", "project_id"), ("audit.document_history", "document_id")):
            gapless = su.execute(f"""SELECT bool_and(n = max_v) FROM (SELECT count(*) AS n, max(version) AS max_v
                                       FROM {table} GROUP BY {key}) x""").fetchone()
            assert gapless == (True,), table
        total = su.execute("SELECT count(*) FROM audit.project_history WHERE project_id = ANY(%s)",
                           (projects,)).fetchone()[0]
        assert total == len(projects) + sum(project_changes)  # one INSERT each, then one row per change
        assert su.execute("SELECT count(*) FROM audit.document_history").fetchone()[0] == sum(document_changes)
        assert verify(su) == []
        # Replaying history ends where the live rows are.
        mismatched = su.execute("""
            SELECT p.project_id FROM projects.projects p
              JOIN LATERAL (SELECT snapshot FROM audit.project_history h WHERE h.project_id = p.project_id
                             ORDER BY version DESC LIMIT 1) last ON true
             WHERE p.project_id = ANY(%s)
               AND (last.snapshot->>'name' IS DISTINCT FROM p.name
                    OR (last.snapshot->'phase'->>'id')::int IS DISTINCT FROM p.phase_id
                    OR (last.snapshot->>'deleted_at' IS NULL) <> (p.deleted_at IS NULL)
                    OR (SELECT coalesce(array_agg((e->>'id')::int ORDER BY (e->>'id')::int), '{}')
                          FROM jsonb_array_elements(last.snapshot->'tags') e)
                       <> (SELECT coalesce(array_agg(tag_id ORDER BY tag_id), '{}') FROM projects.project_tag t
                            WHERE t.project_id = p.project_id))""", (projects,)).fetchall()
        assert mismatched == []
        documents = su.execute("""
            SELECT count(*) FROM documents.documents d
              JOIN LATERAL (SELECT snapshot FROM audit.document_history h WHERE h.document_id = d.document_id
                             ORDER BY version DESC LIMIT 1) last ON true
             WHERE last.snapshot->>'title' IS DISTINCT FROM d.title""").fetchone()
        assert documents == (0,)
        assert rows_breaking_constraints(su) == {}


def rows_breaking_constraints(conn):
    """{constraint: rows} for every CHECK and NOT NULL of the tables of history that a stored
    row breaks. Pulse appends history without SQL (src/history/append.rs), so the executor
    never checks these on its rows: they must hold by construction."""
    checks = conn.execute("""
        SELECT c.conrelid::regclass::text, c.conname, pg_get_expr(c.conbin, c.conrelid)
          FROM pg_constraint c
         WHERE c.contype = 'c' AND c.conrelid::regclass::text IN
               ('audit.project_history', 'audit.document_history', 'audit.project_chain', 'audit.document_chain')
        UNION ALL
        SELECT a.attrelid::regclass::text, a.attname || ' NOT NULL', format('%I IS NOT NULL', a.attname)
          FROM pg_attribute a
         WHERE a.attnotnull AND a.attnum > 0 AND NOT a.attisdropped AND a.attrelid::regclass::text IN
               ('audit.project_history', 'audit.document_history', 'audit.project_chain', 'audit.document_chain')
    """).fetchall()
    assert len(checks) > 30, checks
    broken = {}
    for table, name, expression in checks:
        # A CHECK passes when its expression is true or NULL.
        count = conn.execute(f"SELECT count(*) FROM {table} WHERE NOT coalesce({expression}, true)").fetchone()[0]
        if count:
            broken[name] = count
    return broken


def test_the_constraint_check_finds_a_row_that_breaks_one(db):
    """rows_breaking_constraints is not vacuous: a row slipped in behind the triggers' back
    with an unknown operation is found."""
    with db.connect() as su:
        project = new_project(su)
        su.execute("SET session_replication_role = replica")
        su.execute("ALTER TABLE audit.project_history DROP CONSTRAINT project_history_operation_check")
        su.execute(f"""INSERT INTO audit.project_history (project_id, version, operation, snapshot, change_summary, row_hash)
                       VALUES ({project}, 99, 'FORGED', '{{}}', 'forged', sha256('x'))""")
        su.execute("""ALTER TABLE audit.project_history ADD CONSTRAINT project_history_operation_check
                      CHECK (operation IN ('INSERT', 'UPDATE', 'SOFT_DELETE', 'RESTORE', 'DELETE', 'ROLLBACK')) NOT VALID""")
        assert rows_breaking_constraints(su) == {"project_history_operation_check": 1}
        su.rollback()


def head(conn, project_id):
    return conn.execute("SELECT version FROM audit.project_chain WHERE project_id = %s", (project_id,)).fetchone()[0]


def state(conn, project_id):
    """What a rollback restores: the row's values and its link sets."""
    row = conn.execute("""SELECT name, description, phase_id, priority_id, owner_id, deleted_at IS NOT NULL
                            FROM projects.projects WHERE project_id = %s""", (project_id,)).fetchone()
    sets = tuple(sorted(r[0] for r in conn.execute(f"SELECT {col} FROM projects.{table} WHERE project_id = %s",
                                                    (project_id,)))
                 for table, col in (("project_tag", "tag_id"), ("project_feature", "feature_id"),
                                    ("project_member", "user_id || ':' || access_role_id")))
    return row, sets


def tag(conn, project_id, code, add=True):
    if add:
        conn.execute("INSERT INTO projects.project_tag (project_id, tag_id) SELECT %s, tag_id FROM pulse.tag_reference"
                     " WHERE code = %s", (project_id, code))
    else:
        conn.execute("DELETE FROM projects.project_tag WHERE project_id = %s AND tag_id = (SELECT tag_id FROM"
                     " pulse.tag_reference WHERE code = %s)", (project_id, code))


def test_as_of_and_diff(db):
    with db.connect(autocommit=True) as su:
        project = new_project(su)
        t1 = su.execute("SELECT clock_timestamp()").fetchone()[0]
        su.execute("UPDATE projects.projects SET phase_id = %s WHERE project_id = %s",
                   (ref(su, "phase_reference", "planning"), project))
        tag(su, project, "security")
        tag(su, project, "legacy")
        tag(su, project, "legacy", add=False)
        t2 = su.execute("SELECT clock_timestamp()").fetchone()[0]
        su.execute("DELETE FROM projects.projects WHERE project_id = %s", (project,))
        assert su.execute("SELECT audit.project_as_of(%s, %s)->'phase'->>'code'", (project, t1)).fetchone() == ("idea",)
        as_of = su.execute("SELECT audit.project_as_of(%s, %s)", (project, t2)).fetchone()[0]
        assert as_of["phase"]["code"] == "planning" and [t["code"] for t in as_of["tags"]] == ["security"]
        assert su.execute("SELECT audit.project_as_of(%s, now() + interval '1 hour')", (project,)).fetchone() == (None,)
        assert su.execute("SELECT audit.project_as_of(%s, '2000-01-01')", (project,)).fetchone() == (None,)
        assert su.execute("SELECT * FROM audit.project_diff(%s, 1, 3) ORDER BY 1, 2, 3", (project,)).fetchall() == [
            ("phase", "Idea", "Planning"), ("tags", None, "Security")]
        assert su.execute("SELECT * FROM audit.project_diff(%s, 3, 5)", (project,)).fetchall() == []
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="has no version 99"):
            su.execute("SELECT * FROM audit.project_diff(%s, 1, 99)", (project,))


def test_document_history_is_read_through_its_chain_heads(db):
    """Decision log D57: the history has no index by document alone; as-of, diff and rollback
    of a document find its rows through its chain head, which stays when the document is
    deleted."""
    clock = "SELECT clock_timestamp()"
    indexes = """SELECT array_agg(indexrelid::regclass::text ORDER BY indexrelid::regclass::text)
                   FROM pg_index WHERE indrelid = %s::regclass"""
    with db.connect(autocommit=True) as su:
        assert su.execute(indexes, ("audit.document_history",)).fetchone()[0] == [
            "audit.document_history_changed_by_idx", "audit.document_history_pkey"]
        assert su.execute(indexes, ("audit.document_chain",)).fetchone()[0] == [
            "audit.document_chain_document_idx", "audit.document_chain_pkey"]
        # project_id in the key: the readers' lookup is answered by the index alone.
        assert su.execute("SELECT pg_get_indexdef('audit.document_chain_document_idx'::regclass)").fetchone()[0] \
            .endswith("USING btree (document_id, project_id)")
        project = new_project(su)
        new_documents(su, project, 2)
        document, other = [r[0] for r in su.execute("SELECT document_id FROM documents.documents ORDER BY 1")]
        created = su.execute(clock).fetchone()[0]
        su.execute("UPDATE documents.documents SET title = 'Renamed' WHERE document_id = %s", (document,))
        renamed = su.execute(clock).fetchone()[0]
        su.execute("UPDATE documents.documents SET title = 'Other' WHERE document_id = %s", (other,))
        su.execute("DELETE FROM documents.documents WHERE document_id = %s", (document,))
        assert su.execute("SELECT version FROM audit.document_chain WHERE document_id = %s",
                          (document,)).fetchall() == [(3,)]
        as_of = "SELECT audit.document_as_of(%s, %s) ->> 'title'"
        for at, title in [(created, "Doc 1"), (renamed, "Renamed"), ("infinity", None), ("2000-01-01", None)]:
            assert su.execute(as_of, (document, at)).fetchone() == (title,), at
        assert su.execute(as_of, (other, "infinity")).fetchone() == ("Other",)
        assert su.execute("SELECT * FROM audit.document_diff(%s, 1, 2)", (document,)).fetchall() == [
            ("title", "Doc 1", "Renamed")]
        assert su.execute("SELECT audit.rollback_document(%s, 2, 3)", (document,)).fetchone() == (4,)
        assert su.execute("SELECT title FROM documents.documents WHERE document_id = %s",
                          (document,)).fetchone() == ("Renamed",)
        assert su.execute(as_of, (other + 1, "infinity")).fetchone() == (None,)
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            su.execute("SELECT * FROM audit.document_diff(%s, 1, 2)", (other + 1,))
        assert verify(su) == []


def test_rollback_restores_the_row_and_its_link_sets_and_is_recorded(db):
    with db.connect() as su:
        project = new_project(su)
        tag(su, project, "security")
        su.commit()
        v2 = head(su, project)
        expected = state(su, project)
        su.execute("UPDATE projects.projects SET name = 'Changed', phase_id = %s WHERE project_id = %s",
                   (ref(su, "phase_reference", "planning"), project))
        tag(su, project, "security", add=False)
        tag(su, project, "legacy")
        su.commit()
        current = head(su, project)
        new_version = su.execute("SELECT audit.rollback_project(%s, %s, %s)", (project, v2, current)).fetchone()[0]
        su.commit()
        assert new_version == current + 1 == head(su, project)
        assert state(su, project) == expected
        last = history(su, project)[-1]
        assert last[1] == "ROLLBACK" and last[2].startswith(f"rolled back to version {v2}: ")
        assert "tags" in last[3] and "name" in last[3]
        # A rollback of the rollback brings the changes back.
        changed = su.execute("SELECT snapshot FROM audit.project_history WHERE project_id = %s AND version = %s",
                             (project, current)).fetchone()[0]
        su.execute("SELECT audit.rollback_project(%s, %s, %s)", (project, current, new_version))
        su.commit()
        assert state(su, project)[0][0] == changed["name"] == "Changed"
        assert verify(su) == []


def test_rollback_refuses_a_stale_expected_version(db):
    with db.connect() as su:
        project = new_project(su)
        su.execute("UPDATE projects.projects SET name = 'B' WHERE project_id = %s", (project,))
        su.commit()
        with pytest.raises(psycopg.errors.SerializationFailure, match="is at version 2, not 1"):
            su.execute("SELECT audit.rollback_project(%s, 1, 1)", (project,))
        su.rollback()
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="no version 7"):
            su.execute("SELECT audit.rollback_project(%s, 7, 2)", (project,))
        su.rollback()
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="must not be NULL"):
            su.execute("SELECT audit.rollback_project(%s, NULL, 2)", (project,))
        su.rollback()
        assert len(history(su, project)) == 2


def test_rollback_restores_soft_deleted_and_deleted_projects(db):
    with db.connect() as su:
        project = new_project(su)
        tag(su, project, "security")
        su.execute("UPDATE projects.projects SET deleted_at = now() WHERE project_id = %s", (project,))
        su.commit()
        su.execute("SELECT audit.rollback_project(%s, 2, 3)", (project,))
        su.commit()
        assert state(su, project)[0][5] is False
        before_delete = state(su, project)
        su.execute("DELETE FROM projects.projects WHERE project_id = %s", (project,))
        su.commit()
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="records its deletion"):
            su.execute("SELECT audit.rollback_project(%s, 5, 5)", (project,))
        su.rollback()
        assert su.execute("SELECT audit.rollback_project(%s, 4, 5)", (project,)).fetchone() == (6,)
        su.commit()
        assert state(su, project) == before_delete
        assert verify(su) == []


def test_rollback_of_a_document(db):
    with db.connect() as su:
        project = new_project(su)
        su.execute("""INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint)
                      VALUES ('s', 'S', 'minio', 'bucket-s', 'http://127.0.0.1:9000')""")
        document = su.execute("""INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id,
                                     object_key, size_bytes, checksum_sha256, priority_id, phase_id, custom_properties)
                                 VALUES (%s, 'Spec', 's.pdf', %s, (SELECT storage_id FROM pulse.storage_reference
                                         WHERE code = 's'), 'k', 1, repeat('a', 64), %s, %s, '{"team": "x"}')
                                 RETURNING document_id""",
                              (project, ref(su, "filetype_reference", "pdf"), ref(su, "priority_reference", "low"),
                               ref(su, "phase_reference", "idea"))).fetchone()[0]
        su.execute("""UPDATE documents.documents SET title = 'Spec v2', custom_properties = '{"team": "y"}',
                      checksum_sha256 = repeat('b', 64), version = 2 WHERE document_id = %s""", (document,))
        su.commit()
        assert su.execute("SELECT audit.rollback_document(%s, 1, 2)", (document,)).fetchone() == (3,)
        assert su.execute("""SELECT title, custom_properties, checksum_sha256 = repeat('a', 64), version
                               FROM documents.documents WHERE document_id = %s""", (document,)).fetchone() == (
            "Spec", {"team": "x"}, True, 3)
        # Earlier content comes back as the next revision: versions only grow, and every
        # revision stays downloadable by its number.
        assert su.execute("""SELECT version, left(checksum_sha256, 1) FROM documents.document_revision
                              WHERE document_id = %s ORDER BY version""", (document,)).fetchall() == [
            (1, "a"), (2, "b"), (3, "a")]
        assert su.execute("SELECT field FROM audit.document_diff(%s, 2, 3) ORDER BY 1", (document,)).fetchall() == [
            ("checksum_sha256",), ("custom_properties",), ("title",), ("version",)]
        su.commit()
        assert verify(su) == []


def test_jsonb_is_recorded_with_every_digit_and_refused_when_nested_too_deep(db):
    """A document's custom_properties is recorded as stored: numbers keep every digit (and
    their scale) beyond a float's precision and range, so the snapshot and a rollback give
    back the stored value. A value nested deeper than history records (100 levels) is
    refused with 54000, and nothing is written."""
    exact = ('{"a": 0.1000000000000000000000000001, "b": 123456789012345678901234567890, '
             '"c": 1e400, "d": 1e-30, "e": 1.00, "f": -0.0}')
    with db.connect() as su:
        project = new_project(su)
        new_documents(su, project, 1)
        document = su.execute("SELECT document_id FROM documents.documents WHERE project_id = %s",
                              (project,)).fetchone()[0]
        su.execute("UPDATE documents.documents SET custom_properties = %s::jsonb WHERE document_id = %s",
                   (exact, document))
        su.execute("UPDATE documents.documents SET custom_properties = '{}' WHERE document_id = %s", (document,))
        su.commit()
        stored = su.execute("SELECT %s::jsonb::text", (exact,)).fetchone()[0]
        assert su.execute("""SELECT (snapshot->'custom_properties')::text FROM audit.document_history
                              WHERE document_id = %s AND version = 2""", (document,)).fetchone() == (stored,)
        su.execute("SELECT audit.rollback_document(%s, 2, 3)", (document,))
        assert su.execute("SELECT custom_properties::text FROM documents.documents WHERE document_id = %s",
                          (document,)).fetchone() == (stored,)
        su.commit()
        for levels, refused in ((100, False), (101, True)):
            deep = "[" * (levels - 1) + "[]" + "]" * (levels - 1)
            try:
                su.execute("UPDATE documents.documents SET custom_properties = %s::jsonb WHERE document_id = %s",
                           ('{"deep": ' + deep[1:-1] + "}", document))
                su.commit()
                assert not refused
            except psycopg.Error as error:
                su.rollback()
                assert refused and (error.sqlstate, error.diag.message_primary) == (
                    "54000", "a jsonb value nested deeper than 100 levels cannot be recorded in history")
        assert su.execute("SELECT max(version) FROM audit.document_history WHERE document_id = %s",
                          (document,)).fetchone() == (5,)
        assert verify(su) == []


def test_rollback_needs_the_rights_of_the_changes_it_undoes(db):
    with db.connect(autocommit=True) as su:
        viewer = su.execute("SELECT users.create_user('viewer@example.com', 'Viewer')").fetchone()[0]
        token = su.execute("SELECT token FROM users.open_session(%s)", (viewer,)).fetchone()[0]
        project = new_project(su)
        su.execute("""INSERT INTO projects.project_member (project_id, user_id, access_role_id)
                      VALUES (%s, %s, %s)""", (project, viewer, ref(su, "access_role_reference", "viewer")))
        su.execute("UPDATE projects.projects SET name = 'B' WHERE project_id = %s", (project,))
        current = head(su, project)
    with psycopg.connect(db.app_dsn) as app:
        app.execute("SELECT pulse.authenticate(%s)", (token,))
        # The viewer reads the diff, but writing the project back is not theirs to do.
        assert app.execute("SELECT count(*) FROM audit.project_diff(%s, 1, %s)", (project, current)).fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"you may not change project {project}"):
            app.execute("SELECT audit.rollback_project(%s, 1, %s)", (project, current))
    # Someone outside the project learns nothing, not even the current version.
    with db.connect(autocommit=True) as su:
        outsider = su.execute("SELECT users.create_user('out@example.com', 'Out')").fetchone()[0]
        token = su.execute("SELECT token FROM users.open_session(%s)", (outsider,)).fetchone()[0]
    with psycopg.connect(db.app_dsn) as app:
        app.execute("SELECT pulse.authenticate(%s)", (token,))
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=f"project {project} has no version 1 that you"):
            app.execute("SELECT audit.rollback_project(%s, 1, 99)", (project,))


def test_excluded_and_redacted_columns(db):
    with db.connect() as su:
        su.execute("SELECT audit.set_column_policy('projects.projects', 'description', 'exclude')")
        su.execute("SELECT audit.set_column_policy('projects.projects', 'name', 'redact')")
        su.commit()
        project = new_project(su, name="Secret")
        su.execute("UPDATE projects.projects SET description = 'only noise' WHERE project_id = %s", (project,))
        su.execute("UPDATE projects.projects SET name = 'Secret 2' WHERE project_id = %s", (project,))
        su.execute("UPDATE projects.projects SET name = 'Secret' WHERE project_id = %s", (project,))
        su.commit()
        rows = history(su, project)
        assert [r[2] for r in rows] == ["created", "name changed", "name changed"]
        snapshots = [r[0] for r in su.execute(
            "SELECT snapshot FROM audit.project_history WHERE project_id = %s ORDER BY version", (project,))]
        assert all("description" not in s for s in snapshots)
        names = [s["name"] for s in snapshots]
        assert all(n.startswith("redacted:") and "Secret" not in n for n in names)
        assert names[0] == names[2] != names[1]  # equal values hash equal, and only that is revealed
        assert su.execute("SELECT count(*) FROM audit.project_history WHERE snapshot::text LIKE '%%Secret%%'"
                          ).fetchone() == (0,)
        # A rollback leaves what history does not hold as it is.
        su.execute("UPDATE projects.projects SET phase_id = %s WHERE project_id = %s",
                   (ref(su, "phase_reference", "planning"), project))
        su.commit()
        su.execute("SELECT audit.rollback_project(%s, 1, %s)", (project, head(su, project)))
        assert su.execute("SELECT name, description, phase_id FROM projects.projects WHERE project_id = %s",
                          (project,)).fetchone() == ("Secret", "only noise", ref(su, "phase_reference", "idea"))
        su.commit()
        assert verify(su) == []
        # Back to full recording.
        su.execute("SELECT audit.set_column_policy('projects.projects', 'name', NULL)")
        su.execute("UPDATE projects.projects SET name = 'Open' WHERE project_id = %s", (project,))
        assert history(su, project)[-1][2].endswith("→ Open")


@pytest.mark.parametrize("args,sqlstate", [
    (("projects.project_tag", "tag_id", "exclude"), "22023"),
    (("projects.projects", "nope", "exclude"), "42703"),
    (("projects.projects", "project_id", "redact"), "22023"),
    (("projects.projects", "deleted_at", "exclude"), "22023"),
    (("projects.projects", "name", "hide"), "22023"),
])
def test_column_policy_refusals(db, args, sqlstate):
    with db.connect() as su:
        with pytest.raises(psycopg.Error) as raised:
            su.execute("SELECT audit.set_column_policy(%s, %s, %s)", args)
        assert raised.value.sqlstate == sqlstate


def test_ddl_on_pulse_schemas_is_recorded(db):
    with db.connect(autocommit=True) as su:
        assert su.execute("SELECT count(*) FROM audit.ddl_log").fetchone() == (0,)  # the install itself is not
        su.execute("CREATE INDEX documents_title_idx ON documents.documents (title)")
        su.execute("ALTER TABLE projects.projects ALTER COLUMN description SET STATISTICS 200")
        su.execute("DROP INDEX documents.documents_title_idx")
        su.execute("CREATE TABLE public.elsewhere (a int)")
        rows = su.execute("""SELECT login_role, event, command_tag, object_type, object_identity
                               FROM audit.ddl_log ORDER BY event_id""").fetchall()
        assert rows == [
            ("postgres", "ddl_command_end", "CREATE INDEX", "index", "documents.documents_title_idx"),
            ("postgres", "ddl_command_end", "ALTER TABLE", "table", "projects.projects"),
            ("postgres", "sql_drop", "DROP INDEX", "index", "documents.documents_title_idx"),
        ]
        for statement in ("UPDATE audit.ddl_log SET command_tag = 'x'", "DELETE FROM audit.ddl_log",
                          "TRUNCATE audit.ddl_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                su.execute(statement)


def test_statement_stats_over_pg_stat_statements(db):
    with db.connect(autocommit=True) as su:
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="pg_stat_statements is not installed"):
            su.execute("SELECT * FROM audit.statement_stats()")
        su.execute("CREATE EXTENSION pg_stat_statements")
        su.execute("SELECT count(*) FROM projects.projects")
        queries = [r[0] for r in su.execute("SELECT query FROM audit.statement_stats()")]
        assert "SELECT count(*) FROM projects.projects" in queries
        assert all(any(s + "." in q for s in ("pulse", "users", "projects", "documents", "audit")) for q in queries)


def test_retention_purges_what_has_expired_except_under_legal_hold(db):
    with db.connect(autocommit=True) as su:
        su.execute("""INSERT INTO pulse.phase_reference (code, label, sort_order, is_terminal, retention_policy)
                      VALUES ('closed', 'Closed', 99, true, interval '1 second')""")
        kept, held, purged = (new_project(su, name=n) for n in ("Kept", "Held", "Purged"))
        for project in (held, purged):
            su.execute("UPDATE projects.projects SET name = name || ' 2' WHERE project_id = %s", (project,))
            su.execute("UPDATE projects.projects SET phase_id = %s WHERE project_id = %s",
                       (ref(su, "phase_reference", "closed"), project))
        su.execute("UPDATE projects.projects SET name = 'Kept 2' WHERE project_id = %s", (kept,))
        hold = su.execute("SELECT audit.place_legal_hold(%s, 'litigation 7')", (held,)).fetchone()[0]
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="already on legal hold"):
            su.execute("SELECT audit.place_legal_hold(%s, 'again')", (held,))
        su.execute("SELECT pg_sleep(1.1)")
        assert su.execute("SELECT project_id, up_to_version FROM audit.purgeable_history()").fetchall() == [(purged, 2)]
        assert su.execute("SELECT project_id, up_to_version, removed_rows FROM audit.purge_history('retention run')"
                          ).fetchall() == [(purged, 2, 2)]
        assert [r[0] for r in history(su, purged)] == [3]  # the last version is always kept
        assert len(history(su, held)) == 3 and len(history(su, kept)) == 2
        tombstone = su.execute("""SELECT up_to_version, removed_rows, reason, purged_by_role,
                                         removed_hash = (SELECT prev_hash FROM audit.project_history
                                                          WHERE project_id = t.project_id AND version = 3)
                                    FROM audit.history_tombstone t WHERE entity_id = %s""", (purged,)).fetchone()
        assert tombstone == (2, 2, "retention run", "postgres", True)
        assert verify(su) == []
        # The chain goes on from the tombstone.
        su.execute("UPDATE projects.projects SET name = 'Purged 3' WHERE project_id = %s", (purged,))
        assert verify(su) == []
        # Released, the held project's history goes too.
        su.execute("SELECT audit.release_legal_hold(%s)", (held,))
        assert su.execute("SELECT released_at IS NOT NULL FROM audit.legal_hold WHERE hold_id = %s", (hold,)).fetchone() == (True,)
        # (and the version the purged project gained since, its clock having run out too)
        assert sorted(r[1] for r in su.execute("SELECT * FROM audit.purge_history('retention run')")) == sorted(
            [held, purged])
        assert verify(su) == []
        # Tombstones are history too.
        for statement in ("DELETE FROM audit.history_tombstone", "UPDATE audit.history_tombstone SET reason = 'x'",
                          "TRUNCATE audit.history_tombstone",
                          f"""INSERT INTO audit.history_tombstone (project_id, history_table, entity_id, up_to_version,
                              removed_rows, removed_hash, reason) VALUES ({kept}, 'audit.project_history', {kept}, 1, 1,
                              sha256('x'), 'forged')"""):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                su.execute(statement)


def test_a_purge_cannot_hide_a_deleted_row(db, chain):
    """Deleting the oldest rows by hand looks like a purge without its tombstone."""
    with db.connect() as su:
        tamper(su, "DELETE FROM audit.project_history WHERE project_id = %s AND version <= 2", chain)
        problems = [r[4] for r in verify(su) if r[1] == chain]
        assert problems[:2] == ["the chain starts at version 3, not 1", "the first version has a prev_hash"]


def test_purging_needs_a_system_administrator(db):
    with psycopg.connect(db.app_dsn) as app:
        app.execute("SELECT pulse.authenticate(%s)", (db.token,))
        for call in ("SELECT * FROM audit.purge_history('x')", "SELECT audit.place_legal_hold(1, 'x')",
                     "SELECT audit.release_legal_hold(1)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only a system administrator"):
                app.execute(call)
            app.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for function"):
            app.execute("SELECT audit.purge_chain_prefix('audit.project_history', 1, NULL, 1, 'x')")


def test_a_relabelled_reference_shows_its_new_label_at_once(db):
    """Capture caches reference rows per transaction; writing one forgets the cache."""
    with db.connect() as su:
        su.execute("INSERT INTO pulse.phase_reference (code, label, sort_order) VALUES ('qa', 'QA', 15)")
        project = new_project(su)
        su.execute("UPDATE projects.projects SET phase_id = %s WHERE project_id = %s",
                   (ref(su, "phase_reference", "qa"), project))
        su.execute("UPDATE pulse.phase_reference SET label = 'Quality' WHERE code = 'qa'")
        su.execute("UPDATE projects.projects SET name = 'B' WHERE project_id = %s", (project,))
        labels = [r[0] for r in su.execute("""SELECT snapshot->'phase'->>'label' FROM audit.project_history
                                               WHERE project_id = %s ORDER BY version""", (project,))]
        assert labels == ["Idea", "QA", "Quality"]


def test_the_project_row_version_counts_its_changes(db):
    with db.connect(autocommit=True) as su:
        project = new_project(su)
        version = lambda: su.execute("SELECT version FROM projects.projects WHERE project_id = %s",  # noqa: E731
                                     (project,)).fetchone()[0]
        assert version() == 1
        su.execute("UPDATE projects.projects SET name = 'Renamed' WHERE project_id = %s", (project,))
        su.execute("UPDATE projects.projects SET name = 'Renamed' WHERE project_id = %s", (project,))  # no change
        assert version() == 2
        su.execute("UPDATE projects.projects SET version = 1, description = 'x' WHERE project_id = %s", (project,))
        assert version() == 3  # not settable by hand
        # A rollback is a change too: the version moves forward, and summaries do not mention it.
        su.execute("SELECT audit.rollback_project(%s, 1, %s)", (project, head(su, project)))
        assert version() == 4
        assert all("version:" not in s for (s,) in su.execute(
            "SELECT change_summary FROM audit.project_history WHERE project_id = %s", (project,)))
