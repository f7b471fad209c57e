"""Fixtures for the integration tests.

scripts/test.sh starts a throwaway cluster and passes its address in PULSE_TEST_DSN; each
test that needs a database gets a fresh one with pulse installed, so tests never see each
other's rows.
"""

import os
import sys
import uuid

import psycopg
import pytest

from populate import populate

# The five schemas pulse creates and owns.
SCHEMAS = ("pulse", "users", "projects", "documents", "audit")


def admin_dsn(dbname: str = "postgres") -> str:
    base = os.environ.get("PULSE_TEST_DSN")
    if not base:
        pytest.exit("PULSE_TEST_DSN is not set: run the suite through ./scripts/test.sh", returncode=2)
    params = dict(part.split("=", 1) for part in base.split())
    params["dbname"] = dbname
    return " ".join(f"{k}={v}" for k, v in params.items())


def pg_bin(tool: str) -> str:
    return os.path.join(os.environ.get("PULSE_PG_BIN", "/usr/lib/postgresql/15/bin"), tool)


class Database:
    """A scratch database on the test cluster."""

    def __init__(self, name: str):
        self.name = name
        self.dsn = admin_dsn(name)

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.dsn, **kwargs)

    def conninfo(self) -> dict:
        return dict(part.split("=", 1) for part in self.dsn.split())


def create_database(with_extension: bool = True) -> Database:
    name = "pulse_t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(name)
    if with_extension:
        with db.connect(autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pulse")
    return db


def drop_database(db: Database) -> None:
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
        for role in getattr(db, "roles", ()):
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def create_app_database(auditor: bool = False) -> Database:
    """A new database with pulse, an application login role granted by
    pulse.grant_application_role (db.app_role, db.app_dsn) and, if asked, an auditor login
    role (db.auditor_role, db.auditor_dsn). drop_database removes the roles too."""
    db = create_database()
    suffix = uuid.uuid4().hex[:8]
    db.app_role, db.auditor_role = f"pulse_app_{suffix}", f"pulse_auditor_{suffix}"
    db.roles = [db.app_role] + ([db.auditor_role] if auditor else [])
    with db.connect(autocommit=True) as su:
        su.execute(f"CREATE ROLE {db.app_role} LOGIN")
        su.execute("SELECT pulse.grant_application_role(%s)", (db.app_role,))
        if auditor:
            su.execute(f"CREATE ROLE {db.auditor_role} LOGIN")
            su.execute("SELECT pulse.grant_auditor_role(%s)", (db.auditor_role,))
    db.app_dsn = db.dsn.replace("user=postgres", f"user={db.app_role}")
    db.auditor_dsn = db.dsn.replace("user=postgres", f"user={db.auditor_role}")
    return db


@pytest.fixture
def fresh_db():
    """A new database with pulse installed."""
    db = create_database()
    yield db
    drop_database(db)


@pytest.fixture
def empty_db():
    """A new database without pulse."""
    db = create_database(with_extension=False)
    yield db
    drop_database(db)


@pytest.fixture(scope="module")
def populated_db():
    """A database with pulse and a small, complete data set (see populate.py)."""
    db = create_database()
    with db.connect() as conn:
        ids = populate(conn)
    db.ids = ids
    yield db
    drop_database(db)


def pytest_terminal_summary(terminalreporter):
    matrix = sys.modules.get("test_persona_matrix")
    if matrix is not None and matrix.CELLS_PASSED:
        terminalreporter.write_line(
            f"persona matrix: {sum(matrix.CELLS_PASSED)} of {matrix.cell_count()} cells passed")
