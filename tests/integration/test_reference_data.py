"""The starter reference data is present, built-in rows are immutable outside extension
scripts, and a DBA's own rows behave like ordinary data."""

import pathlib

import psycopg
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

REFERENCE_TABLES = ["access_role_reference", "feature_reference", "tech_stack_reference", "license_reference",
                    "phase_reference", "decision_type_reference", "tag_reference", "filetype_reference",
                    "storage_reference", "priority_reference"]


@pytest.fixture
def conn(fresh_db):
    with fresh_db.connect() as c:
        yield c


def codes(conn, table):
    return [r[0] for r in conn.execute(f"SELECT code FROM pulse.{table} WHERE is_builtin ORDER BY code")]


def test_access_roles_have_explicit_permission_flags(conn):
    got = conn.execute("""SELECT code, rank, can_read, can_write, can_manage_members, can_delete_restore, can_administer
                          FROM pulse.access_role_reference ORDER BY rank""").fetchall()
    assert got == [
        ("viewer", 10, True, False, False, False, False),
        ("editor", 20, True, True, False, False, False),
        ("maintainer", 30, True, True, True, True, False),
        ("owner", 40, True, True, True, True, True),
    ]


def test_phases_and_priorities_are_ordered(conn):
    phases = [r[0] for r in conn.execute("SELECT code FROM pulse.phase_reference ORDER BY sort_order")]
    assert phases == ["idea", "planning", "design", "build", "review", "release", "maintenance", "archived"]
    assert conn.execute("SELECT code FROM pulse.phase_reference WHERE is_terminal").fetchall() == [("archived",)]
    priorities = [r[0] for r in conn.execute("SELECT code FROM pulse.priority_reference ORDER BY rank")]
    assert priorities == ["low", "medium", "high", "critical"]


def test_starter_sets_are_realistic(conn):
    assert {"MIT", "Apache-2.0", "GPL-3.0-only", "BSD-3-Clause", "MPL-2.0"} <= set(codes(conn, "license_reference"))
    mimes = {r[0] for r in conn.execute("SELECT mime_type FROM pulse.filetype_reference")}
    assert {"application/pdf", "text/plain", "image/png", "image/jpeg", "application/json", "text/csv",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"} <= mimes
    assert {"python", "fastapi", "postgresql", "s3"} <= set(codes(conn, "tech_stack_reference"))
    for table in REFERENCE_TABLES:
        if table != "storage_reference":  # storages are deployment-specific: none is built in
            assert len(codes(conn, table)) >= 4, table
    assert codes(conn, "storage_reference") == []


@pytest.mark.parametrize("statement,action", [
    ("UPDATE pulse.priority_reference SET label = 'Urgent' WHERE code = 'high'", "changed"),
    ("DELETE FROM pulse.tag_reference WHERE code = 'legacy'", "deleted"),
    ("UPDATE pulse.access_role_reference SET can_administer = true, can_manage_members = true, "
     "can_delete_restore = true, can_write = true WHERE code = 'viewer'", "changed"),
])
def test_builtin_rows_are_immutable(conn, statement, action):
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as raised:
        conn.execute(statement)
    assert f"cannot be {action}" in raised.value.diag.message_primary
    assert raised.value.diag.message_hint == "Add a row of your own (is_builtin = false) instead."


def test_rows_cannot_be_marked_builtin(conn):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("INSERT INTO pulse.tag_reference (code, label, category, is_builtin) VALUES ('x', 'X', 'c', true)")
    conn.rollback()
    conn.execute("INSERT INTO pulse.tag_reference (code, label, category) VALUES ('x', 'X', 'c')")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE pulse.tag_reference SET is_builtin = true WHERE code = 'x'")


def test_own_rows_are_ordinary_data(conn):
    conn.execute("INSERT INTO pulse.tag_reference (code, label, category) VALUES ('gdpr', 'GDPR', 'risk')")
    conn.execute("UPDATE pulse.tag_reference SET label = 'GDPR scope' WHERE code = 'gdpr'")
    assert conn.execute("SELECT label FROM pulse.tag_reference WHERE code = 'gdpr'").fetchone() == ("GDPR scope",)
    conn.execute("DELETE FROM pulse.tag_reference WHERE code = 'gdpr'")


def test_referenced_rows_cannot_be_deleted(populated_db):
    with populated_db.connect() as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("DELETE FROM pulse.storage_reference WHERE code = 'local'")


def test_glossary_explains_every_builtin_code(conn):
    """docs/reference-glossary.md names every table and every built-in code (as `code`)."""
    glossary = (ROOT / "docs" / "reference-glossary.md").read_text()
    missing = []
    for table in REFERENCE_TABLES:
        if f"`pulse.{table}`" not in glossary:
            missing.append(table)
        missing += [f"{table}:{c}" for c in codes(conn, table) if f"`{c}`" not in glossary]
    assert missing == []
