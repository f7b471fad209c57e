"""The example FastAPI service (examples/fastapi) end to end: a real uvicorn process on
loopback, a fresh database set up with the example's own setup.sql, real HTTP, and documents
through the URLs pulse signs against the suite's s3s-fs.

One service and database for the module; each test makes its own projects, so tests do not
depend on each other's rows.
"""

import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from conftest import create_app_database, drop_database, pg_bin

EXAMPLE_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "fastapi")
sys.path.insert(0, EXAMPLE_DIR)
from pulse_api.passwords import hash_password  # noqa: E402

PASSWORD = {"owner": "owner's long passphrase", "viewer": "viewer passphrase", "outsider": "outsider passphrase"}
USER_AGENT = "pulse-e2e-test/1.0"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def service(s3):
    """A database set up as examples/fastapi/README.md says (setup.sql, users with argon2id
    hashes, a storage on a new bucket) and the service running on it under uvicorn."""
    db = create_app_database(auditor=True)
    signin_role = "pulse_signin_" + uuid.uuid4().hex[:8]
    db.roles.append(signin_role)
    bucket = s3.new_bucket()
    process = None
    try:
        subprocess.run([pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db.dsn,
                        "-v", f"app_role={db.app_role}", "-v", f"signin_role={signin_role}",
                        "-f", os.path.join(EXAMPLE_DIR, "setup.sql")], check=True, capture_output=True)
        db.ids = {}
        with db.connect(autocommit=True) as su:
            for name, password in PASSWORD.items():
                db.ids[name] = su.execute("SELECT users.create_user(%s, %s, %s, false)",
                                          (f"{name}@example.com", name.title(), hash_password(password))).fetchone()[0]
            db.storage = s3.configure_storage(su, bucket)
        db.bucket_dir = s3.bucket_dir(bucket)

        # The listening socket is made here and handed to uvicorn (--fd): no race for a port.
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        env = {**os.environ,
               "PULSE_APP_DSN": db.app_dsn,
               "PULSE_SIGNIN_DSN": db.dsn.replace("user=postgres", f"user={signin_role}"),
               "PULSE_STORAGE": db.storage,
               "PULSE_POOL_SIZE": "4"}
        process = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", EXAMPLE_DIR, "--fd",
                                    str(listener.fileno()), "--log-level", "warning", "pulse_api.app:app"],
                                   env=env, pass_fds=[listener.fileno()])
        listener.close()  # the server's copy stays open; if it dies, connections are refused
        db.base_url = f"http://127.0.0.1:{port}"
        wait_until_serving(db.base_url, process)
        yield db
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        try:
            drop_database(db)
        finally:
            s3.remove_bucket(bucket)


def wait_until_serving(base_url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"the service exited with status {process.returncode} before serving")
        try:
            if httpx.get(base_url + "/openapi.json", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail("the service did not answer within 30 s")
        time.sleep(0.1)


def client(service, token: str | None = None) -> httpx.Client:
    headers = {"user-agent": USER_AGENT}
    if token:
        headers["authorization"] = f"Bearer {token}"
    # trust_env=False: no proxy from the environment between the test and loopback servers.
    return httpx.Client(base_url=service.base_url, headers=headers, timeout=30, trust_env=False)


def sign_in(service, name: str) -> httpx.Client:
    """A client signed in as one of the users, with its session's token."""
    with client(service) as anonymous:
        response = anonymous.post("/sessions", json={"email": f"{name}@example.com", "password": PASSWORD[name]})
    assert response.status_code == 201, response.text
    signed_in = client(service, response.json()["token"])
    signed_in.session_id = response.json()["session_id"]
    return signed_in


def ok(response: httpx.Response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else None


def new_project(api: httpx.Client, name: str | None = None) -> dict:
    return ok(api.post("/projects", json={"name": name or f"Project {uuid.uuid4().hex[:8]}"}), 201)


def payload(label: str, size: int = 50_000) -> bytes:
    seed = hashlib.sha256(label.encode()).digest()
    return b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(size // 32 + 1))[:size]


def register(api: httpx.Client, project_id: int, data: bytes, **fields) -> httpx.Response:
    body = {"title": "Design notes", "file_name": "notes.bin", "mime_type": "application/octet-stream",
            "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), **fields}
    return api.post(f"/projects/{project_id}/documents", json=body)


def put_object(upload: dict, data: bytes) -> httpx.Response:
    """PUT to the presigned URL with exactly the headers the service returned, straight to S3."""
    return httpx.put(upload["url"], content=data, headers=upload["headers"], timeout=30, trust_env=False)


def upload_document(api: httpx.Client, project_id: int, data: bytes) -> int:
    registration = ok(register(api, project_id, data), 201)
    assert put_object(registration["upload"], data).status_code == 200
    ok(api.post(f"/documents/{registration['document_id']}/confirm",
                json={"size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}))
    return registration["document_id"]


# --------------------------------------------------------------------------- tests


def test_openapi_describes_bearer_auth(service):
    with client(service) as anonymous:
        spec = ok(anonymous.get("/openapi.json"))
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {"/sessions", "/projects/{project_id}/documents", "/documents/{document_id}/download",
            "/projects/{project_id}/rollback"} <= set(spec["paths"])


def test_sign_in_checks_the_argon2id_hash_and_records_the_client(service):
    with client(service) as anonymous:
        for email, password in (("owner@example.com", "wrong"), ("nobody@example.com", PASSWORD["owner"]),
                                ("owner@example.com", "")):
            response = anonymous.post("/sessions", json={"email": email, "password": password})
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"] == "Bearer"
        assert anonymous.get("/me").status_code == 401  # no token at all

    # E-mail case does not matter (pulse's unique index is on lower(email)).
    with client(service) as anonymous:
        session = ok(anonymous.post("/sessions", json={"email": "OWNER@Example.com", "password": PASSWORD["owner"]}),
                     201)
    with client(service, session["token"]) as owner:
        assert ok(owner.get("/me"))["user_id"] == service.ids["owner"]
    with service.connect() as su:
        # open_session got the client's address and user agent ...
        assert su.execute("SELECT host(ip_address), user_agent FROM users.sessions WHERE session_id = %s",
                          (session["session_id"],)).fetchone() == ("127.0.0.1", USER_AGENT)
        # ... and so did pulse.authenticate, for the session monitor (pulse is preloaded in the suite).
        assert su.execute("SELECT client_address, user_agent FROM users.session_backends() WHERE session_id = %s",
                          (session["session_id"],)).fetchone() == ("127.0.0.1", USER_AGENT)


def test_upload_through_the_returned_url_and_download_the_same_bytes(service):
    with sign_in(service, "owner") as owner:
        project = new_project(owner)
        data = payload("round trip")
        registration = ok(register(owner, project["project_id"], data), 201)
        document = registration["document_id"]
        upload = registration["upload"]
        assert upload["headers"]["x-amz-checksum-sha256"]

        # Not uploaded yet: no download URL (55000 -> 409).
        assert owner.get(f"/documents/{document}/download").status_code == 409
        # Other bytes through the same URL: the store itself refuses them.
        assert put_object(upload, payload("other bytes")).status_code == 400
        assert put_object(upload, data).status_code == 200
        with open(os.path.join(service.bucket_dir, *registration["object_key"].split("/")), "rb") as f:
            assert f.read() == data
        confirmed = ok(owner.post(f"/documents/{document}/confirm",
                                  json={"size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}))
        assert confirmed["available_at"]

        url = ok(owner.get(f"/documents/{document}/download"))["url"]
        downloaded = httpx.get(url, timeout=30, trust_env=False)
        assert downloaded.status_code == 200
        assert hashlib.sha256(downloaded.content).hexdigest() == hashlib.sha256(data).hexdigest()

        history = ok(owner.get(f"/documents/{document}/history"))
        assert [h["operation"] for h in history] == ["INSERT", "UPDATE"]
        assert history[-1]["changed_columns"] == ["available_at"]
        listed = ok(owner.get(f"/projects/{project['project_id']}/documents"))
        assert [(d["document_id"], d["size_bytes"], d["sha256"]) for d in listed] == [
            (document, len(data), hashlib.sha256(data).hexdigest())]
        # Registering the same content again is refused (23505 -> 409); bad input is 422.
        assert register(owner, project["project_id"], data).status_code == 409
        assert register(owner, project["project_id"], data, sha256="not a checksum").status_code == 422
        assert register(owner, project["project_id"], data, mime_type="no/such-type").status_code == 422


def test_a_user_who_is_not_a_member_gets_404_and_no_url(service):
    with sign_in(service, "owner") as owner, sign_in(service, "outsider") as outsider:
        project = new_project(owner)
        pid = project["project_id"]
        document = upload_document(owner, pid, payload("secret"))

        assert pid not in [p["project_id"] for p in ok(outsider.get("/projects"))]
        for path in (f"/projects/{pid}", f"/projects/{pid}/documents", f"/projects/{pid}/members",
                     f"/projects/{pid}/history", f"/documents/{document}/history", f"/documents/{document}/download",
                     f"/documents/{document}/upload"):
            response = outsider.get(path)
            assert response.status_code == 404, (path, response.text)
            assert "url" not in response.json()
        for response in (register(outsider, pid, payload("intruder")),
                         outsider.post(f"/documents/{document}/confirm"),
                         outsider.patch(f"/projects/{pid}", json={"name": "Mine now"}),
                         outsider.delete(f"/projects/{pid}"),
                         outsider.post(f"/projects/{pid}/members", json={"email": "outsider@example.com",
                                                                        "role": "owner"}),
                         outsider.post(f"/projects/{pid}/rollback", json={"to_version": 1, "expected_version": 2})):
            assert response.status_code == 404, response.text
        # A document that does not exist looks the same as one that is hidden.
        assert outsider.get("/documents/999999999/download").status_code == 404
        assert ok(owner.get(f"/projects/{pid}"))["name"] == project["name"]


def test_a_viewer_reads_but_cannot_upload(service):
    with sign_in(service, "owner") as owner, sign_in(service, "viewer") as viewer:
        pid = new_project(owner)["project_id"]
        document = upload_document(owner, pid, payload("for the viewer"))
        member = ok(owner.post(f"/projects/{pid}/members", json={"email": "viewer@example.com", "role": "viewer"}), 201)
        assert member["role"] == "viewer"

        assert ok(viewer.get(f"/projects/{pid}"))["project_id"] == pid
        response = register(viewer, pid, payload("from the viewer"))
        assert response.status_code == 403, response.text
        assert response.json()["sqlstate"] == "42501"
        assert viewer.get(f"/documents/{document}/upload").status_code == 403
        assert viewer.post(f"/documents/{document}/confirm").status_code == 403
        # Reading is allowed: the viewer downloads the owner's document.
        assert httpx.get(ok(viewer.get(f"/documents/{document}/download"))["url"], trust_env=False).status_code == 200
        # No writes, no membership changes, no raising one's own role, no soft delete.
        assert viewer.patch(f"/projects/{pid}", json={"name": "Renamed"}).status_code == 403
        assert viewer.patch(f"/projects/{pid}/members/{service.ids['viewer']}", json={"role": "owner"}).status_code == 403
        assert viewer.post(f"/projects/{pid}/members",
                           json={"email": "outsider@example.com", "role": "viewer"}).status_code == 403
        assert viewer.delete(f"/projects/{pid}").status_code == 403
        assert owner.post(f"/projects/{pid}/members",
                          json={"email": "viewer@example.com", "role": "editor"}).status_code == 409  # already one
        assert [m["role"] for m in ok(owner.get(f"/projects/{pid}/members"))
                if m["user_id"] == service.ids["viewer"]] == ["viewer"]

        # The owner removes the viewer: from then on the project is hidden from them.
        ok(owner.delete(f"/projects/{pid}/members/{service.ids['viewer']}"), 204)
        assert viewer.get(f"/projects/{pid}").status_code == 404


def test_a_revoked_session_gets_401_on_its_next_request(service):
    first, second = sign_in(service, "owner"), sign_in(service, "owner")
    with first, second:
        assert ok(first.get("/me"))["session_id"] == first.session_id
        ok(first.delete("/sessions/current"), 204)
        response = first.get("/me")
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["sqlstate"].startswith("28")
        assert first.get("/projects").status_code == 401
        # Only that session: the user's other one goes on.
        assert ok(second.get("/me"))["session_id"] == second.session_id
    with client(service, "pulse_not-a-real-token") as forged:
        assert forged.get("/projects").status_code == 401


def test_soft_delete_and_restore(service):
    with sign_in(service, "owner") as owner:
        pid = new_project(owner)["project_id"]
        document = upload_document(owner, pid, payload("deleted with the project"))
        ok(owner.delete(f"/projects/{pid}"), 204)
        assert pid not in [p["project_id"] for p in ok(owner.get("/projects"))]
        assert ok(owner.get("/projects", params={"deleted": "true"}))[-1]["deleted_at"] is not None
        assert owner.get(f"/documents/{document}/download").status_code == 403  # deleted with the project
        assert owner.delete(f"/projects/{pid}").status_code == 403  # no live project to delete

        assert ok(owner.post(f"/projects/{pid}/restore"))["deleted_at"] is None
        assert ok(owner.get(f"/documents/{document}/download"))["url"]
        operations = [h["operation"] for h in ok(owner.get(f"/projects/{pid}/history"))]
        assert operations[-2:] == ["SOFT_DELETE", "RESTORE"]


def test_a_rollback_through_the_api_restores_the_earlier_state_and_is_in_history(service):
    with sign_in(service, "owner") as owner:
        project = new_project(owner, "Difference Engine")
        pid = project["project_id"]
        before = project["history_version"]  # created, and the owner's membership
        changed = ok(owner.patch(f"/projects/{pid}", json={"name": "Analytical Engine", "phase": "planning",
                                                           "description": "punched cards"},
                                 headers={"x-change-reason": "ticket 42"}))
        assert (changed["name"], changed["phase"]) == ("Analytical Engine", "planning")
        ok(owner.post(f"/projects/{pid}/members", json={"email": "viewer@example.com", "role": "editor"}), 201)
        current = ok(owner.get(f"/projects/{pid}"))["history_version"]
        assert current == before + 2

        history = ok(owner.get(f"/projects/{pid}/history"))
        assert history[before]["reason"] == "ticket 42"
        diff = {c["field"]: (c["old_value"], c["new_value"])
                for c in ok(owner.get(f"/projects/{pid}/diff", params={"from": before, "to": before + 1}))}
        assert diff["name"] == ("Difference Engine", "Analytical Engine")

        # Someone else's view of the history is stale: refused, nothing changes.
        response = owner.post(f"/projects/{pid}/rollback", json={"to_version": before, "expected_version": before})
        assert response.status_code == 409 and response.json()["sqlstate"] == "40001", response.text

        rolled = ok(owner.post(f"/projects/{pid}/rollback", json={"to_version": before, "expected_version": current},
                               headers={"x-change-reason": "undo ticket 42"}))
        assert rolled == {"project_id": pid, "version": current + 1}
        restored = ok(owner.get(f"/projects/{pid}"))
        assert (restored["name"], restored["phase"], restored["description"]) == ("Difference Engine", "idea", None)
        # The member set is part of the project's state: the editor added since is gone.
        assert [m["email"] for m in ok(owner.get(f"/projects/{pid}/members"))] == ["owner@example.com"]

        last = ok(owner.get(f"/projects/{pid}/history"))[-1]
        assert (last["version"], last["operation"], last["reason"]) == (current + 1, "ROLLBACK", "undo ticket 42")
        assert last["changed_by"] == service.ids["owner"]
        assert f"rolled back to version {before}" in last["change_summary"]
        # Rolling back to a version that does not exist is bad input (22023 -> 422).
        assert owner.post(f"/projects/{pid}/rollback",
                          json={"to_version": 999, "expected_version": current + 1}).status_code == 422

    with service.connect() as su:
        assert su.execute("SELECT count(*) FROM audit.verify()").fetchone()[0] == 0
