"""Fixtures for the integration tests.

scripts/test.sh starts a throwaway cluster and passes its address in PULSE_TEST_DSN; each
test that needs a database gets a fresh one with pulse installed, so tests never see each
other's rows.
"""

import base64
import glob
import os
import shutil
import socket
import sys
import uuid
from urllib.parse import urlsplit

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


# PULSE_TEST_DIRECT_ACCESS=off runs the tests with pulse.direct_access off in every database
# they create: pulse then reads its tables and appends history through SQL, as it does for
# the tables Citus distributes (src/through_sql.rs). scripts/test.sh runs the tests of
# identity, access, history, discovery, documents and the persona matrix a second time so.
DIRECT_ACCESS = os.environ.get("PULSE_TEST_DIRECT_ACCESS", "on")


def create_database(with_extension: bool = True) -> Database:
    name = "pulse_t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        if DIRECT_ACCESS != "on":
            conn.execute(f'ALTER DATABASE "{name}" SET pulse.direct_access = {DIRECT_ACCESS}')
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


class S3Server:
    """The s3s-fs server scripts/test.sh starts for the suite: endpoint, keys and the
    directory it keeps its buckets in (a bucket is a subdirectory, an object a file at the
    key's path inside it)."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, data_dir: str):
        self.endpoint, self.access_key, self.secret_key, self.data_dir = endpoint, access_key, secret_key, data_dir

    def new_bucket(self) -> str:
        """A new, empty bucket, owned like the data directory so that the server can write it."""
        name = "pulse-" + uuid.uuid4().hex[:12]
        path = self.bucket_dir(name)
        os.mkdir(path, 0o700)
        owner = os.stat(self.data_dir)
        os.chown(path, owner.st_uid, owner.st_gid)
        return name

    def bucket_dir(self, bucket: str) -> str:
        return os.path.join(self.data_dir, bucket)

    def remove_bucket(self, bucket: str) -> None:
        """Remove the bucket with its objects, and the attribute files s3s-fs keeps for them
        beside the buckets (.bucket-<base64url of the name>.object-...)."""
        shutil.rmtree(self.bucket_dir(bucket), ignore_errors=True)
        encoded = base64.urlsafe_b64encode(bucket.encode()).decode().rstrip("=")
        for path in glob.glob(os.path.join(glob.escape(self.data_dir), f".bucket-{encoded}.*")):
            os.remove(path)

    def configure_storage(self, conn: psycopg.Connection, bucket: str, code: str | None = None,
                          max_expires_in: int = 3600, key_prefix: str = "") -> str:
        """Register the bucket as a pulse storage with this server's credentials, as the DBA
        does (conn: a superuser connection to the test database); returns the storage code."""
        code = code or bucket
        storage_id = conn.execute(
            """INSERT INTO pulse.storage_reference (code, label, provider, bucket, region, endpoint,
                                                    addressing_style, key_prefix)
               VALUES (%s, %s, 'minio', %s, 'us-east-1', %s, 'path', %s) RETURNING storage_id""",
            (code, f"Test storage {code}", bucket, self.endpoint, key_prefix)).fetchone()[0]
        conn.execute("""INSERT INTO pulse.storage_credential (storage_id, access_key_id, secret_access_key, max_expires_in)
                        VALUES (%s, %s, %s, %s)""",
                     (storage_id, self.access_key, self.secret_key, max_expires_in))
        return code


@pytest.fixture(scope="session")
def s3() -> S3Server:
    """The suite's S3 server (scripts/test.sh passes it in PULSE_TEST_S3_*). Without it the run
    stops: the document tests must never pass by not running."""
    names = ("PULSE_TEST_S3_ENDPOINT", "PULSE_TEST_S3_ACCESS_KEY", "PULSE_TEST_S3_SECRET_KEY", "PULSE_TEST_S3_DIR")
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        pytest.exit(f"{', '.join(missing)} not set: run the suite through ./scripts/test.sh", returncode=2)
    server = S3Server(*(os.environ[name] for name in names))
    if not os.path.isdir(server.data_dir):
        pytest.exit(f"PULSE_TEST_S3_DIR={server.data_dir} is not a directory", returncode=2)
    address = urlsplit(server.endpoint)
    try:
        port = address.port or (443 if address.scheme == "https" else 80)
        socket.create_connection((address.hostname, port), timeout=5).close()
    except OSError as error:
        pytest.exit(f"no S3 server at PULSE_TEST_S3_ENDPOINT={server.endpoint}: {error}", returncode=2)
    return server


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
