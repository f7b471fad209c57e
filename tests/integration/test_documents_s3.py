"""Documents end to end against a real S3 server (s3s-fs, started by scripts/test.sh).

The application asks pulse for presigned URLs and moves the bytes itself; these tests do
what such an application does, over HTTP with urllib, and check what the server accepted
on disk. s3s-fs verifies SigV4 presigned URLs, their expiry and the signed
x-amz-checksum-sha256 header, so a wrong signature, header or digest shows up as an HTTP
error here, as it would against AWS.

Each test gets a fresh database, users with sessions, two projects and a fresh bucket.
"""

import base64
import datetime
import hashlib
import os
import re
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from conftest import create_app_database, drop_database

# Users of the test database; "admin" is a system administrator, "outsider" a member of nothing.
PERSONAS = ("owner", "editor", "viewer", "outsider", "admin")

# The storage's maximum expiry (pulse.storage_credential.max_expires_in).
MAX_EXPIRES_IN = 3600


# --------------------------------------------------------------------------- fixtures


class Persona:
    """A user of the application: every call is one transaction on the application role,
    authenticated with the user's session token, as a pooled application connection does."""

    def __init__(self, env, name: str):
        self.env, self.name = env, name
        self.user_id, self.token, self.session_id = env.ids[name], env.tokens[name], env.sessions[name]

    def rows(self, sql: str, params=()) -> list[dict]:
        with psycopg.connect(self.env.app_dsn, row_factory=dict_row) as conn:
            conn.execute("SELECT pulse.authenticate(%s)", (self.token,))
            return conn.execute(sql, params).fetchall()

    def one(self, sql: str, params=()) -> dict:
        rows = self.rows(sql, params)
        assert len(rows) == 1, rows
        return rows[0]

    def value(self, sql: str, params=()):
        return next(iter(self.one(sql, params).values()))

    def register(self, project: int, data: bytes, title: str = "Design notes", file_name: str = "notes.txt",
                 mime_type: str = "text/plain", on_duplicate: str | None = None, expires_in: int | None = None,
                 size: int | None = None, checksum: str | None = None, storage: str | None = None) -> dict:
        return self.one(
            """SELECT * FROM documents.register_document(%s, %s, %s, %s, %s, %s, %s, %s::text, %s::integer, '{}')""",
            (project, title, file_name, mime_type, storage or self.env.storage,
             len(data) if size is None else size, sha256_hex(data) if checksum is None else checksum,
             on_duplicate, expires_in))

    def new_revision(self, document: int, data: bytes, file_name: str = "notes.txt",
                     mime_type: str = "text/plain") -> dict:
        return self.one("SELECT * FROM documents.new_revision(%s, %s, %s, %s, %s, NULL::integer)",
                        (document, file_name, mime_type, len(data), sha256_hex(data)))

    def confirm(self, document: int, data: bytes | None = None):
        """confirm_upload, passing what a HEAD of the object would report when data is given."""
        if data is None:
            return self.value("SELECT documents.confirm_upload(%s)", (document,))
        return self.value("SELECT documents.confirm_upload(%s, %s, %s)", (document, len(data), sha256_hex(data)))

    def upload_url(self, document: int, expires_in: int | None = None) -> dict:
        return self.one("SELECT * FROM documents.upload_url(%s, %s::integer)", (document, expires_in))

    def download_url(self, document: int, version: int | None = None, expires_in: int | None = None) -> str:
        return self.value("SELECT documents.download_url(%s, %s::integer, %s::integer)",
                          (document, version, expires_in))


@pytest.fixture
def env(s3):
    """A database with five users holding sessions, projects P (owner, editor, viewer) and
    Q (owner, editor), and a storage on a new bucket of the test S3 server."""
    db = create_app_database(auditor=True)
    buckets = []

    def new_storage(key_prefix: str = "") -> tuple[str, str]:
        """Another storage, on a bucket of its own; returns (storage code, bucket)."""
        buckets.append(s3.new_bucket())
        with db.connect(autocommit=True) as su:
            return s3.configure_storage(su, buckets[-1], max_expires_in=MAX_EXPIRES_IN, key_prefix=key_prefix), buckets[-1]

    try:
        db.ids, db.tokens, db.sessions = {}, {}, {}
        with db.connect(autocommit=True) as su:
            for name in PERSONAS:
                db.ids[name] = su.execute("SELECT users.create_user(%s, %s, NULL, %s)",
                                          (f"{name}@example.com", name.title(), name == "admin")).fetchone()[0]
                db.sessions[name], db.tokens[name] = su.execute(
                    "SELECT session_id, token FROM users.open_session(%s)", (db.ids[name],)).fetchone()
            phase, priority = su.execute("""SELECT (SELECT phase_id FROM pulse.phase_reference WHERE code = 'idea'),
                                                   (SELECT priority_id FROM pulse.priority_reference WHERE code = 'low')"""
                                         ).fetchone()
            members = {"P": {"owner": "owner", "editor": "editor", "viewer": "viewer"},
                       "Q": {"owner": "owner", "editor": "editor"}}
            for project, roles in members.items():
                db.ids[project] = su.execute("""INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                                                VALUES (%s, %s, %s, %s) RETURNING project_id""",
                                             (project, db.ids["owner"], phase, priority)).fetchone()[0]
                for user, role in roles.items():
                    su.execute("""INSERT INTO projects.project_member (project_id, user_id, access_role_id)
                                  SELECT %s, %s, access_role_id FROM pulse.access_role_reference WHERE code = %s""",
                               (db.ids[project], db.ids[user], role))
        db.storage, db.bucket = new_storage()
        db.s3, db.bucket_dir, db.new_storage = s3, s3.bucket_dir(db.bucket), new_storage
        db.persona = {name: Persona(db, name) for name in PERSONAS}
        yield db
    finally:
        drop_database(db)
        for bucket in buckets:
            s3.remove_bucket(bucket)


# --------------------------------------------------------------------------- helpers


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def payload(label: str, size: int = 4096) -> bytes:
    """Distinct, reproducible bytes (not all printable) for each label."""
    seed = hashlib.sha256(label.encode()).digest()
    return b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(size // 32 + 1))[:size]


# No proxy: the S3 server is on loopback, and a proxy from the environment must not intervene.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    """Status and body of one request; HTTP errors are results, not exceptions."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with _OPENER.open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def put(registration: dict, data: bytes) -> tuple[int, bytes]:
    """Upload as a client must: to upload_url, with exactly the returned upload_headers."""
    return http("PUT", registration["upload_url"], data, registration["upload_headers"])


def get(url: str) -> tuple[int, bytes]:
    return http("GET", url)


def assert_refused(sqlstate: str, call, *args, **kwargs) -> psycopg.Error:
    """The call fails with exactly this SQLSTATE; the failure message shows what happened."""
    try:
        result = call(*args, **kwargs)
    except psycopg.Error as error:
        assert error.sqlstate == sqlstate, (
            f"expected SQLSTATE {sqlstate}, got {error.sqlstate}: {error.diag.message_primary}")
        return error
    pytest.fail(f"expected SQLSTATE {sqlstate}, but the call succeeded and returned {result!r}")


def url_expiry(url: str) -> datetime.datetime:
    """When a presigned URL expires, from its own X-Amz-Date and X-Amz-Expires."""
    query = parse_qs(urlsplit(url).query)
    signed = datetime.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    return signed + datetime.timedelta(seconds=int(query["X-Amz-Expires"][0]))


def assert_same_expiry(recorded: datetime.datetime, url: str) -> None:
    """What pulse says (or logs) about a URL's expiry is when the URL itself expires: a client
    told a later time would use a dead URL."""
    assert recorded == url_expiry(url), (recorded, url)


def tamper_signature(url: str) -> str:
    """The URL with the last hex digit of X-Amz-Signature changed, everything else kept."""
    match = re.search(r"([?&]X-Amz-Signature=[0-9a-f]{63})([0-9a-f])", url)
    assert match, url
    digit = "0" if match.group(2) != "0" else "1"
    return url[:match.start()] + match.group(1) + digit + url[match.end():]


def object_path(env, object_key: str, bucket: str | None = None) -> str:
    return os.path.join(env.s3.bucket_dir(bucket or env.bucket), *object_key.split("/"))


def listing(env, bucket: str | None = None) -> list[dict]:
    """The bucket's inventory as an application would list it: every object with its key
    (the path below the bucket's directory), size and SHA-256."""
    inventory, bucket_dir = [], env.s3.bucket_dir(bucket or env.bucket)
    for directory, _, files in os.walk(bucket_dir):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                content = f.read()
            key = os.path.relpath(path, bucket_dir).replace(os.sep, "/")
            inventory.append({"key": key, "size": len(content), "sha256": sha256_hex(content)})
    return sorted(inventory, key=lambda item: item["key"])


def upload_and_confirm(env, persona: Persona, registration: dict, data: bytes) -> None:
    status, body = put(registration, data)
    assert status == 200, body
    persona.confirm(registration["document_id"], data)


# --------------------------------------------------------------------------- upload and download


def test_upload_confirm_and_download_round_trip(env):
    editor, project = env.persona["editor"], env.ids["P"]
    data = payload("round trip")
    registration = editor.register(project, data)
    document = registration["document_id"]

    assert registration["version"] == 1 and registration["duplicate_of"] is None
    # Content-addressed per project; the storage has no key prefix.
    assert registration["object_key"] == f"p{project}/sha256/{sha256_hex(data)}"
    assert registration["upload_url"].startswith(f"{env.s3.endpoint}/{env.bucket}/{registration['object_key']}?")
    assert registration["upload_headers"] == {"content-type": "text/plain", "x-amz-checksum-sha256": sha256_base64(data)}
    assert_same_expiry(registration["expires_at"], registration["upload_url"])

    # Not confirmed yet: nothing to download.
    assert_refused("55000", editor.download_url, document)

    status, body = put(registration, data)
    assert status == 200, body
    with open(object_path(env, registration["object_key"]), "rb") as f:
        assert f.read() == data

    # A confirmation that disagrees with the object is refused, and marks nothing.
    assert_refused("22023", editor.value, "SELECT documents.confirm_upload(%s, %s, %s)",
                   (document, len(data) + 1, sha256_hex(data)))
    assert_refused("22023", editor.value, "SELECT documents.confirm_upload(%s, %s, %s)",
                   (document, len(data), sha256_hex(data + b"!")))
    assert_refused("55000", editor.download_url, document)

    available_at = editor.confirm(document, data)
    assert available_at is not None

    url = editor.download_url(document)
    assert url.startswith(f"{env.s3.endpoint}/{env.bucket}/{registration['object_key']}?")
    status, body = get(url)
    assert status == 200
    assert body == data and sha256_hex(body) == sha256_hex(data)


def test_upload_with_other_bytes_is_refused_by_the_signed_checksum(env):
    editor = env.persona["editor"]
    data = payload("original")
    registration = editor.register(env.ids["P"], data)
    upload_and_confirm(env, editor, registration, data)

    # Same URL, same headers, same length, other bytes: the signed x-amz-checksum-sha256
    # no longer matches the body and the server refuses to store it.
    other = payload("impostor", len(data))
    status, body = put(registration, other)
    assert status == 400 and b"BadDigest" in body, (status, body)
    # Nothing is checked on disk afterwards: unlike S3, s3s-fs 0.14.1 moves the body into
    # place before it compares the digest, so the refused bytes are there anyway.


def test_expired_and_tampered_urls_are_refused(env):
    editor = env.persona["editor"]
    data = payload("expiry")
    registration = editor.register(env.ids["P"], data)
    upload_and_confirm(env, editor, registration, data)
    key = registration["object_key"]

    with env.connect(autocommit=True) as su:
        fresh = su.execute("SELECT pulse.s3_presign(%s, 'GET', %s, 60)", (env.storage, key)).fetchone()[0]
        # Signed two hours ago for one minute: expired long ago, no need to wait.
        expired = su.execute("SELECT pulse.s3_presign(%s, 'GET', %s, 60, now() - interval '2 hours')",
                             (env.storage, key)).fetchone()[0]
    assert get(fresh) == (200, data)  # the same request signed now works: only the time differs
    status, body = get(expired)
    # 403 for the expiry itself, not for a signature the server could not verify.
    assert status == 403 and b"AccessDenied" in body and b"expired" in body, (status, body)

    url = editor.download_url(document=registration["document_id"])
    assert get(url) == (200, data)
    status, body = get(tamper_signature(url))
    assert status == 403 and b"SignatureDoesNotMatch" in body, (status, body)


def test_three_revisions_each_downloadable_by_version(env):
    editor, viewer = env.persona["editor"], env.persona["viewer"]
    versions = {1: payload("revision 1", 1000), 2: payload("revision 2", 2000), 3: payload("revision 3", 3000)}

    registration = editor.register(env.ids["P"], versions[1], file_name="plan-v1.txt")
    document = registration["document_id"]
    upload_and_confirm(env, editor, registration, versions[1])
    keys = {1: registration["object_key"]}
    for version in (2, 3):
        revision = editor.new_revision(document, versions[version], file_name=f"plan-v{version}.txt")
        assert (revision["document_id"], revision["version"]) == (document, version)
        keys[version] = revision["object_key"]
        # The new version is not downloadable before its upload is confirmed; the previous one still is.
        assert_refused("55000", editor.download_url, document, version)
        assert get(editor.download_url(document, version - 1)) == (200, versions[version - 1])
        upload_and_confirm(env, editor, revision, versions[version])

    assert len(set(keys.values())) == 3  # content-addressed: three contents, three objects
    for version, data in versions.items():
        status, body = get(viewer.download_url(document, version))
        assert status == 200 and sha256_hex(body) == sha256_hex(data), version
    assert get(viewer.download_url(document)) == (200, versions[3])  # NULL version: the current one

    revisions = viewer.rows("""SELECT version, object_key, file_name, size_bytes, checksum_sha256,
                                      uploaded_by, available_at IS NOT NULL AS available
                                 FROM documents.document_revision WHERE document_id = %s ORDER BY version""",
                            (document,))
    assert [(r["version"], r["object_key"], r["file_name"], r["size_bytes"], r["checksum_sha256"],
             r["uploaded_by"], r["available"]) for r in revisions] == [
        (v, keys[v], f"plan-v{v}.txt", len(data), sha256_hex(data), editor.user_id, True)
        for v, data in versions.items()]
    current = viewer.one("SELECT version, checksum_sha256 FROM documents.documents WHERE document_id = %s",
                         (document,))
    assert current == {"version": 3, "checksum_sha256": sha256_hex(versions[3])}


# --------------------------------------------------------------------------- reconcile


def reconcile(conn_or_persona, storage: str, inventory: list[dict]) -> list[dict]:
    sql = """SELECT * FROM documents.reconcile(%s, %s) ORDER BY object_key, problem"""
    if isinstance(conn_or_persona, Persona):
        return conn_or_persona.rows(sql, (storage, Jsonb(inventory)))
    return conn_or_persona.execute(sql, (storage, Jsonb(inventory))).fetchall()


def test_reconcile_finds_missing_altered_and_orphaned_objects(env):
    editor, admin = env.persona["editor"], env.persona["admin"]
    contents = {name: payload(f"reconcile {name}", 1500) for name in ("a", "b", "c")}
    docs = {}
    for name, data in contents.items():
        registration = editor.register(env.ids["P"], data, title=f"Doc {name}")
        upload_and_confirm(env, editor, registration, data)
        docs[name] = registration
    # Registered, never uploaded or confirmed: not expected in the bucket, so not missing.
    editor.register(env.ids["P"], payload("never uploaded"), title="Pending")

    inventory = listing(env)
    assert [item["key"] for item in inventory] == sorted(d["object_key"] for d in docs.values())
    assert reconcile(admin, env.storage, inventory) == []

    # Reconciling is for system administrators and auditors only.
    for name in ("owner", "editor", "viewer", "outsider"):
        assert_refused("42501", reconcile, env.persona[name], env.storage, inventory)

    # Damage the bucket behind pulse's back: one object gone, one rewritten with bytes of the same size.
    os.remove(object_path(env, docs["a"]["object_key"]))
    altered = payload("altered", 1500)
    with open(object_path(env, docs["b"]["object_key"]), "wb") as f:
        f.write(altered)
    problems = reconcile(admin, env.storage, listing(env))
    assert [(p["object_key"], p["problem"]) for p in problems] == sorted(
        [(docs["a"]["object_key"], "missing"), (docs["b"]["object_key"], "checksum differs")])
    by_problem = {p["problem"]: p for p in problems}
    missing, differs = by_problem["missing"], by_problem["checksum differs"]
    assert (missing["document_id"], missing["version"], missing["expected_size"], missing["found_size"],
            missing["expected_sha256"], missing["found_sha256"]) == (
        docs["a"]["document_id"], 1, 1500, None, sha256_hex(contents["a"]), None)
    assert (differs["document_id"], differs["version"], differs["expected_size"], differs["found_size"],
            differs["expected_sha256"], differs["found_sha256"]) == (
        docs["b"]["document_id"], 1, 1500, 1500, sha256_hex(contents["b"]), sha256_hex(altered))

    # An object nothing refers to.
    stray = os.path.join(env.bucket_dir, "stray", "left-over.bin")
    os.makedirs(os.path.dirname(stray))
    with open(stray, "wb") as f:
        f.write(b"nobody's")
    problems = reconcile(admin, env.storage, listing(env))
    orphaned = [p for p in problems if p["object_key"] == "stray/left-over.bin"]
    assert len(problems) == 3
    assert [(p["problem"], p["document_id"], p["version"], p["found_size"], p["found_sha256"]) for p in orphaned] == [
        ("orphaned", None, None, 8, sha256_hex(b"nobody's"))]

    # A size change is reported as such (the checksum then differs too; reporting it is optional).
    with open(object_path(env, docs["c"]["object_key"]), "ab") as f:
        f.write(b"appended")
    problems = reconcile(admin, env.storage, listing(env))
    about_c = {p["problem"] for p in problems if p["object_key"] == docs["c"]["object_key"]}
    assert "size differs" in about_c and about_c <= {"size differs", "checksum differs"}, about_c
    size_row = next(p for p in problems if p["object_key"] == docs["c"]["object_key"] and p["problem"] == "size differs")
    assert (size_row["expected_size"], size_row["found_size"]) == (1500, 1508)

    # Auditors (a database role, no user session) see the same.
    with psycopg.connect(env.auditor_dsn, row_factory=dict_row) as auditor:
        assert reconcile(auditor, env.storage, listing(env)) == problems


def test_key_prefix_is_part_of_every_object_key(env):
    # A storage shared with other applications keeps pulse's objects under a prefix; the
    # listing an application reconciles holds the keys as stored, prefix included.
    editor, admin = env.persona["editor"], env.persona["admin"]
    storage, bucket = env.new_storage(key_prefix="tenants/acme/")
    data = payload("prefixed")
    registration = editor.register(env.ids["P"], data, storage=storage)
    assert registration["object_key"] == f"tenants/acme/p{env.ids['P']}/sha256/{sha256_hex(data)}"
    assert registration["upload_url"].startswith(f"{env.s3.endpoint}/{bucket}/tenants/acme/p{env.ids['P']}/sha256/")
    upload_and_confirm(env, editor, registration, data)
    assert os.path.isfile(object_path(env, registration["object_key"], bucket))
    assert get(editor.download_url(registration["document_id"])) == (200, data)

    inventory = listing(env, bucket)
    assert [item["key"] for item in inventory] == [registration["object_key"]]
    assert reconcile(admin, storage, inventory) == []
    assert [(p["object_key"], p["problem"]) for p in reconcile(admin, storage, [])] == [
        (registration["object_key"], "missing")]


# --------------------------------------------------------------------------- the gate


def test_only_members_with_the_right_permission_get_urls_and_every_url_is_logged(env):
    owner, editor, viewer, outsider = (env.persona[n] for n in ("owner", "editor", "viewer", "outsider"))
    project = env.ids["P"]
    data = payload("gate")
    issued = []  # (document, version, method, persona, URL) for every URL handed out

    registration = editor.register(project, data)
    document = registration["document_id"]
    issued.append((document, 1, "PUT", editor, registration["upload_url"]))

    # A fresh upload URL for the pending version (the first one may have expired): it works alike.
    again = editor.upload_url(document, 120)
    assert again["headers"] == registration["upload_headers"]
    assert parse_qs(urlsplit(again["url"]).query)["X-Amz-Expires"] == ["120"]
    assert_same_expiry(again["expires_at"], again["url"])
    issued.append((document, 1, "PUT", editor, again["url"]))
    upload_and_confirm(env, editor, {"upload_url": again["url"], "upload_headers": again["headers"],
                                     "document_id": document}, data)

    for persona in (viewer, editor, owner):
        url = persona.download_url(document)
        assert get(url) == (200, data)
        issued.append((document, 1, "GET", persona, url))

    # A non-member learns nothing and gets no URL of any kind.
    assert_refused("42501", outsider.download_url, document)
    assert_refused("42501", outsider.upload_url, document)
    assert_refused("42501", outsider.register, project, payload("outsider"))
    assert_refused("42501", outsider.register, env.ids["Q"], payload("outsider"))
    # A viewer reads but does not write.
    assert_refused("42501", viewer.upload_url, document)
    assert_refused("42501", viewer.register, project, payload("viewer"))
    assert_refused("42501", viewer.new_revision, document, payload("viewer"))

    # A soft-deleted document has no download URL, for anyone, until it is restored.
    owner.rows("SELECT documents.soft_delete_document(%s)", (document,))
    for persona in (owner, editor, viewer):
        assert_refused("42501", persona.download_url, document)
    owner.rows("SELECT documents.restore_document(%s)", (document,))
    url = viewer.download_url(document)
    assert get(url) == (200, data)
    issued.append((document, 1, "GET", viewer, url))

    # Signing out ends the session: its token no longer authenticates.
    viewer.rows("SELECT users.revoke_session(%s)", (viewer.session_id,))
    error = assert_refused_class("28", viewer.download_url, document)
    assert "revoked" in error.diag.message_primary
    # Without a caller there is no access either.
    with psycopg.connect(env.app_dsn, autocommit=True) as anonymous:
        assert_refused("42501", anonymous.execute, "SELECT documents.download_url(%s)", (document,))

    # The grant log holds every URL issued, and nothing for the refusals.
    grants = owner.rows("""SELECT project_id, document_id, version, method, user_id, session_id, issued_at, expires_at
                             FROM documents.url_grant WHERE document_id = %s ORDER BY grant_id""", (document,))
    assert len(grants) == len(issued), grants
    for grant, (doc, version, method, persona, url) in zip(grants, issued):
        assert (grant["project_id"], grant["document_id"], grant["version"], grant["method"], grant["user_id"],
                grant["session_id"]) == (project, doc, version, method, persona.user_id, persona.session_id)
        assert_same_expiry(grant["expires_at"], url)
        assert grant["issued_at"] < grant["expires_at"]
    # Auditors read the log too; an editor is not a project administrator and sees none of it.
    with psycopg.connect(env.auditor_dsn) as auditor:
        assert auditor.execute("SELECT count(*) FROM documents.url_grant WHERE document_id = %s",
                               (document,)).fetchone()[0] == len(issued)
    try:
        assert editor.rows("SELECT * FROM documents.url_grant") == []
    except psycopg.Error as refusal:
        assert refusal.sqlstate == "42501", refusal.diag.message_primary


def assert_refused_class(sqlstate_class: str, call, *args) -> psycopg.Error:
    try:
        result = call(*args)
    except psycopg.Error as error:
        assert error.sqlstate and error.sqlstate.startswith(sqlstate_class), (
            f"expected SQLSTATE class {sqlstate_class}, got {error.sqlstate}: {error.diag.message_primary}")
        return error
    pytest.fail(f"expected SQLSTATE class {sqlstate_class}, but the call succeeded and returned {result!r}")


def test_deleting_a_project_hides_its_documents_and_restoring_brings_back_exactly_those(env):
    owner, editor = env.persona["owner"], env.persona["editor"]
    docs = {}
    for name in ("kept", "deleted before"):
        data = payload(name)
        registration = editor.register(env.ids["P"], data, title=name.capitalize())
        upload_and_confirm(env, editor, registration, data)
        docs[name] = (registration["document_id"], data)
    owner.rows("SELECT documents.soft_delete_document(%s)", (docs["deleted before"][0],))

    owner.rows("SELECT projects.soft_delete_project(%s)", (env.ids["P"],))
    for persona in (owner, editor):
        assert_refused("42501", persona.download_url, docs["kept"][0])
    # Deleting and restoring projects is for maintainers and owners.
    assert_refused("42501", editor.rows, "SELECT projects.restore_project(%s)", (env.ids["P"],))
    owner.rows("SELECT projects.restore_project(%s)", (env.ids["P"],))

    document, data = docs["kept"]
    assert get(editor.download_url(document)) == (200, data)
    # The document deleted on its own before the project stays deleted.
    assert_refused("42501", editor.download_url, docs["deleted before"][0])


# --------------------------------------------------------------------------- duplicates


def test_duplicates_are_refused_or_linked(env):
    editor, project = env.persona["editor"], env.ids["P"]
    data = payload("duplicate")
    first = editor.register(project, data, title="First")
    upload_and_confirm(env, editor, first, data)

    # The same content again in the same project and storage.
    assert_refused("23505", editor.register, project, data, title="Second", on_duplicate="refuse")
    assert_refused("23505", editor.register, project, data, title="Second")  # default: pulse.duplicate_documents = refuse

    # Linked: a new document on the existing object, downloadable at once without an upload.
    linked = editor.register(project, data, title="Linked", on_duplicate="link")
    assert linked["document_id"] != first["document_id"]
    assert linked["duplicate_of"] == first["document_id"]
    assert linked["object_key"] == first["object_key"]
    assert linked["upload_url"] is None
    assert get(editor.download_url(linked["document_id"])) == (200, data)
    # No upload URL was issued for the link, so the log has only the download.
    assert [g["method"] for g in env.persona["owner"].rows(
        "SELECT method FROM documents.url_grant WHERE document_id = %s ORDER BY grant_id",
        (linked["document_id"],))] == ["GET"]

    # Allowed: a new document on the same key, with an upload URL of its own.
    allowed = editor.register(project, data, title="Allowed", on_duplicate="allow")
    assert allowed["object_key"] == first["object_key"] and allowed["upload_url"] is not None
    upload_and_confirm(env, editor, allowed, data)

    group = sorted([first["document_id"], linked["document_id"], allowed["document_id"]])
    duplicates = editor.rows("SELECT * FROM documents.find_duplicates(%s)", (project,))
    assert [(d["project_id"], d["storage"], d["checksum_sha256"], sorted(d["document_ids"])) for d in duplicates] == [
        (project, env.storage, sha256_hex(data), group)]

    # Another project is another key space: the same content is no duplicate there.
    elsewhere = editor.register(env.ids["Q"], data, title="Elsewhere", on_duplicate="refuse")
    assert elsewhere["duplicate_of"] is None
    assert elsewhere["object_key"] == f"p{env.ids['Q']}/sha256/{sha256_hex(data)}"
    assert editor.rows("SELECT * FROM documents.find_duplicates(%s)", (env.ids["Q"],)) == []
    everywhere = editor.rows("SELECT * FROM documents.find_duplicates()")
    assert [(d["project_id"], sorted(d["document_ids"])) for d in everywhere] == [(project, group)]


def test_linking_to_an_object_not_yet_uploaded_still_needs_an_upload(env):
    editor, project = env.persona["editor"], env.ids["P"]
    data = payload("pending duplicate")
    pending = editor.register(project, data, title="Pending")
    linked = editor.register(project, data, title="Linked", on_duplicate="link")
    assert linked["duplicate_of"] == pending["document_id"]
    assert linked["object_key"] == pending["object_key"]
    # The object is not there yet, so the link must not pretend it is.
    assert linked["upload_url"] is not None
    status, body = put(linked, data)
    assert status == 200, body


# --------------------------------------------------------------------------- bad input


def test_media_type_is_normalized(env):
    registration = env.persona["editor"].register(env.ids["P"], payload("media"), mime_type="Text/Plain; charset=UTF-8")
    assert registration["upload_headers"]["content-type"] == "text/plain"


@pytest.mark.parametrize("change", [
    pytest.param({"checksum": "not-a-checksum"}, id="malformed checksum"),
    pytest.param({"checksum": "0" * 63}, id="checksum one digit short"),
    pytest.param({"checksum": "g" * 64}, id="checksum not hexadecimal"),
    pytest.param({"checksum": "A" * 64}, id="checksum in upper case"),
    pytest.param({"mime_type": "application/x-pulse-unknown"}, id="unknown media type"),
    pytest.param({"mime_type": "not a media type"}, id="malformed media type"),
    pytest.param({"size": -1}, id="negative size"),
    pytest.param({"expires_in": 0}, id="expiry 0"),
    pytest.param({"expires_in": MAX_EXPIRES_IN + 1}, id="expiry beyond the storage maximum"),
])
def test_register_document_refuses_bad_input(env, change):
    assert_refused("22023", env.persona["editor"].register, env.ids["P"], payload("bad input"), **change)


def test_url_expiry_must_be_within_the_storage_maximum(env):
    editor = env.persona["editor"]
    data = payload("expiry bounds")
    registration = editor.register(env.ids["P"], data)
    document = registration["document_id"]
    for expires_in in (0, -1, MAX_EXPIRES_IN + 1):
        assert_refused("22023", editor.upload_url, document, expires_in)
    longest = editor.upload_url(document, MAX_EXPIRES_IN)
    assert parse_qs(urlsplit(longest["url"]).query)["X-Amz-Expires"] == [str(MAX_EXPIRES_IN)]
    upload_and_confirm(env, editor, {"upload_url": longest["url"], "upload_headers": longest["headers"],
                                     "document_id": document}, data)
    for expires_in in (0, -1, MAX_EXPIRES_IN + 1):
        assert_refused("22023", editor.download_url, document, None, expires_in)
    url = editor.download_url(document, None, MAX_EXPIRES_IN)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == [str(MAX_EXPIRES_IN)]
    assert get(url) == (200, data)


@pytest.mark.parametrize("method, key, expires_in", [
    pytest.param("GET", "bad\x01key", 60, id="control character in the key"),
    pytest.param("GET", "bad\nkey", 60, id="newline in the key"),
    pytest.param("GET", "good/key", 0, id="expiry 0"),
    pytest.param("GET", "good/key", MAX_EXPIRES_IN + 1, id="expiry beyond the storage maximum"),
    pytest.param("GET", "good/key", 604801, id="expiry beyond seven days"),
    pytest.param("POST", "good/key", 60, id="unknown method"),
])
def test_s3_presign_refuses_bad_arguments(env, method, key, expires_in):
    with env.connect(autocommit=True) as su:
        assert_refused("22023", su.execute, "SELECT pulse.s3_presign(%s, %s, %s, %s)",
                       (env.storage, method, key, expires_in))


def test_s3_presign_is_for_administrators_with_configured_storages(env):
    with env.connect(autocommit=True) as su:
        assert su.execute("SELECT pulse.s3_presign(%s, 'get', 'good/key', 60)", (env.storage,)).fetchone()[0]
        assert_refused("42704", su.execute, "SELECT pulse.s3_presign('no-such-storage', 'GET', 'k', 60)")
        su.execute("""INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint, addressing_style)
                      VALUES ('no-credentials', 'No credentials', 'minio', %s, %s, 'path')""",
                   (env.bucket, env.s3.endpoint))
        assert_refused("55000", su.execute, "SELECT pulse.s3_presign('no-credentials', 'GET', 'k', 60)")
    # The application role cannot sign arbitrary URLs, whoever is authenticated.
    for name in ("owner", "admin"):
        assert_refused("42501", env.persona[name].value, "SELECT pulse.s3_presign(%s, 'GET', 'good/key', 60)",
                       (env.storage,))
