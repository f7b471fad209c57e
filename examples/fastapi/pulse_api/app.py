"""A FastAPI service on pulse: every rule (who sees what, who may change what, what history
records, which bytes S3 accepts) is enforced by the database; the service translates HTTP
to pulse's SQL API and back.

Configuration (environment):
  PULSE_APP_DSN       the application role (pulse.grant_application_role); every request
  PULSE_SIGNIN_DSN    the sign-in role (setup.sql): reads password hashes, nothing else
  PULSE_STORAGE       default storage code for new documents (pulse.storage_reference)
  PULSE_POOL_SIZE     connections of the application pool (default 8)
  PULSE_SESSION_TTL   lifetime of new sessions, a PostgreSQL interval (default: pulse's
                      pulse.session_lifetime)

Run: uvicorn --app-dir examples/fastapi pulse_api.app:app --host 127.0.0.1 --port 8000
"""

import os
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, ContextManager, Literal
from uuid import UUID

import psycopg
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from . import passwords
from .db import Caller, Database, error_response


@asynccontextmanager
async def lifespan(app: FastAPI):
    db = Database(os.environ["PULSE_APP_DSN"], os.environ["PULSE_SIGNIN_DSN"],
                  int(os.environ.get("PULSE_POOL_SIZE", "8")))
    db.open()
    app.state.db = db
    app.state.storage = os.environ.get("PULSE_STORAGE")
    app.state.session_ttl = os.environ.get("PULSE_SESSION_TTL")
    try:
        yield
    finally:
        db.close()


app = FastAPI(title="pulse example service", version="0.1.0", lifespan=lifespan,
              description="Projects, members, documents in S3 and history, on pulse's SQL API. "
                          "Sign in with POST /sessions, then send the token as `Authorization: Bearer ...`.")


@app.exception_handler(psycopg.Error)
async def database_error(request: Request, error: psycopg.Error):
    return error_response(error)


# --------------------------------------------------------------------------- the caller

bearer = HTTPBearer(auto_error=False, description="A pulse session token, from POST /sessions.")


def authenticated(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
                  x_change_reason: Annotated[str | None, Header(
                      description="Why: recorded with every change of this request in the history.")] = None,
                  ) -> ContextManager[psycopg.Connection]:
    """The request's transaction, not yet begun: `with tx as conn:` begins it with
    pulse.authenticate(token, client address, user agent) and commits at the end of the
    block, so a commit that fails is an error response, never a success already sent."""
    if credentials is None:
        raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    caller = Caller(credentials.credentials, request.client.host if request.client else None,
                    request.headers.get("user-agent"), x_change_reason)
    return request.app.state.db.transaction(caller)


Tx = Annotated[ContextManager[psycopg.Connection], Depends(authenticated)]


def require_project(conn: psycopg.Connection, project_id: int) -> dict:
    """The project as the caller sees it, or 404: row-level security hides the projects of
    others, and the service does not tell "hidden" from "missing". Checked before a write
    so that a 42501 from the write means "visible, but not allowed" (403)."""
    row = conn.execute(PROJECT_SELECT + " WHERE p.project_id = %s", (project_id,)).fetchone()
    if row is None:
        raise HTTPException(404, f"no project {project_id}")
    return row


def reference_id(conn: psycopg.Connection, table: str, code: str) -> int:
    """The id of a reference row by its code (phase, priority, access role), or 422."""
    key = {"phase": "phase_id", "priority": "priority_id", "access_role": "access_role_id"}[table]
    row = conn.execute(f"SELECT {key} AS id FROM pulse.{table}_reference WHERE code = %s", (code,)).fetchone()
    if row is None:
        raise HTTPException(422, f"unknown {table.replace('_', ' ')} {code!r}")
    return row["id"]


# --------------------------------------------------------------------------- sessions


class SignIn(BaseModel):
    email: str
    password: str


class SessionOut(BaseModel):
    session_id: UUID
    token: str = Field(description="Shown once: pulse stores only its SHA-256.")
    expires_at: datetime
    user_id: int


class Me(BaseModel):
    user_id: int
    email: str
    display_name: str
    session_id: UUID


@app.post("/sessions", status_code=201, response_model=SessionOut, tags=["sessions"],
          responses={401: {"description": "Wrong e-mail or password"}})
def sign_in(body: SignIn, request: Request):
    """Sign in: the service verifies the argon2id hash itself, then opens a pulse session.
    The one request without a token, and so without pulse.authenticate."""
    db: Database = request.app.state.db
    account = db.credentials(body.email)
    # Verified even for an unknown address (against a dummy hash): same time either way.
    if not passwords.verify(account and account["password_hash"], body.password):
        raise HTTPException(401, "wrong e-mail or password", headers={"WWW-Authenticate": "Bearer"})
    user_agent = request.headers.get("user-agent")
    session = db.open_session(account["user_id"], request.app.state.session_ttl,
                              request.client.host if request.client else None,
                              user_agent[:1024] if user_agent else None)  # pulse's limit
    return {**session, "user_id": account["user_id"]}


@app.get("/me", response_model=Me, tags=["sessions"])
def me(tx: Tx):
    with tx as conn:
        return conn.execute("""SELECT user_id, email, display_name, pulse.current_session_id() AS session_id
                                 FROM users.users WHERE user_id = pulse.current_user_id()""").fetchone()


@app.delete("/sessions/current", status_code=204, tags=["sessions"])
def sign_out(tx: Tx):
    """Sign out: revoke the session of this token; its next use is 401."""
    with tx as conn:
        conn.execute("SELECT users.revoke_session(pulse.current_session_id())")
    return Response(status_code=204)


# --------------------------------------------------------------------------- projects

PROJECT_SELECT = """
    SELECT p.project_id, p.name, p.description, p.owner_id, ph.code AS phase, pr.code AS priority,
           (SELECT max(h.version) FROM audit.project_history h WHERE h.project_id = p.project_id) AS history_version,
           p.created_at, p.updated_at, p.deleted_at
      FROM projects.projects p
      JOIN pulse.phase_reference ph USING (phase_id)
      JOIN pulse.priority_reference pr USING (priority_id)"""


class ProjectIn(BaseModel):
    name: str
    description: str | None = None
    phase: str = Field("idea", description="A code of pulse.phase_reference.")
    priority: str = Field("medium", description="A code of pulse.priority_reference.")


class ProjectPatch(BaseModel):
    name: str | None = None
    description: str | None = None
    phase: str | None = None
    priority: str | None = None


class Project(BaseModel):
    project_id: int
    name: str
    description: str | None
    owner_id: int
    phase: str
    priority: str
    history_version: int | None = Field(description="The latest version in its history: what a rollback expects.")
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


@app.get("/projects", response_model=list[Project], tags=["projects"])
def list_projects(tx: Tx, deleted: bool = Query(False, description="Include soft-deleted projects.")):
    """The caller's projects: no filter here, row-level security does it."""
    with tx as conn:
        return conn.execute(PROJECT_SELECT + " WHERE %s OR p.deleted_at IS NULL ORDER BY p.project_id",
                            (deleted,)).fetchall()


@app.post("/projects", status_code=201, response_model=Project, tags=["projects"])
def create_project(body: ProjectIn, tx: Tx):
    """A new project owned by the caller; pulse makes the owner its first member."""
    with tx as conn:
        row = conn.execute(
            """INSERT INTO projects.projects (name, description, owner_id, phase_id, priority_id)
               VALUES (%s, %s, pulse.current_user_id(), %s, %s) RETURNING project_id""",
            (body.name, body.description, reference_id(conn, "phase", body.phase),
             reference_id(conn, "priority", body.priority))).fetchone()
        return require_project(conn, row["project_id"])


@app.get("/projects/{project_id}", response_model=Project, tags=["projects"])
def get_project(project_id: int, tx: Tx):
    with tx as conn:
        return require_project(conn, project_id)


@app.patch("/projects/{project_id}", response_model=Project, tags=["projects"])
def update_project(project_id: int, body: ProjectPatch, tx: Tx):
    """Change name, description, phase or priority (the write permission; phases move as
    pulse.phase_reference's order allows, else 422)."""
    with tx as conn:
        require_project(conn, project_id)
        changes = body.model_dump(exclude_unset=True)  # only the fields the client sent
        values = {column: changes[column] for column in ("name", "description") if column in changes}
        for ref in ("phase", "priority"):
            if changes.get(ref) is not None:
                values[f"{ref}_id"] = reference_id(conn, ref, changes[ref])
        if values:
            assignments = ", ".join(f"{column} = %({column})s" for column in values)
            # Row-level security turns an update the caller may not make into "0 rows".
            if conn.execute(f"UPDATE projects.projects SET {assignments} WHERE project_id = %(project_id)s",
                            {**values, "project_id": project_id}).rowcount == 0:
                raise HTTPException(403, f"changing project {project_id} needs the write permission")
        return require_project(conn, project_id)


@app.delete("/projects/{project_id}", status_code=204, tags=["projects"])
def soft_delete_project(project_id: int, tx: Tx):
    """Soft delete: the project and its live documents are hidden, not removed (the
    delete_restore permission: maintainers and owners)."""
    with tx as conn:
        require_project(conn, project_id)
        conn.execute("SELECT projects.soft_delete_project(%s)", (project_id,))
    return Response(status_code=204)


@app.post("/projects/{project_id}/restore", response_model=Project, tags=["projects"])
def restore_project(project_id: int, tx: Tx):
    """Undo a soft delete, with exactly the documents it hid."""
    with tx as conn:
        require_project(conn, project_id)
        conn.execute("SELECT projects.restore_project(%s)", (project_id,))
        return require_project(conn, project_id)


# --------------------------------------------------------------------------- members


class MemberIn(BaseModel):
    email: str
    role: str = Field(description="viewer, editor, maintainer or owner (pulse.access_role_reference).")


class RoleIn(BaseModel):
    role: str


class Member(BaseModel):
    user_id: int
    email: str
    display_name: str
    role: str
    added_at: datetime


MEMBER_SELECT = """
    SELECT m.user_id, u.email, u.display_name, r.code AS role, m.added_at
      FROM projects.project_member m
      JOIN users.users u USING (user_id)
      JOIN pulse.access_role_reference r USING (access_role_id)
     WHERE m.project_id = %s"""


def member_or_404(conn: psycopg.Connection, project_id: int, user_id: int) -> dict:
    row = conn.execute(MEMBER_SELECT + " AND m.user_id = %s", (project_id, user_id)).fetchone()
    if row is None:
        raise HTTPException(404, f"user {user_id} is not a member of project {project_id}")
    return row


@app.get("/projects/{project_id}/members", response_model=list[Member], tags=["members"])
def list_members(project_id: int, tx: Tx):
    with tx as conn:
        require_project(conn, project_id)
        return conn.execute(MEMBER_SELECT + " ORDER BY m.user_id", (project_id,)).fetchall()


@app.post("/projects/{project_id}/members", status_code=201, response_model=Member, tags=["members"])
def add_member(project_id: int, body: MemberIn, tx: Tx):
    """Add a member (manage_members; never a role above one's own). A plain INSERT: the
    policy and pulse's membership rules refuse what the caller may not do (403)."""
    with tx as conn:
        require_project(conn, project_id)
        user = conn.execute("SELECT user_id FROM users.users WHERE lower(email) = lower(%s) AND deleted_at IS NULL",
                            (body.email,)).fetchone()
        if user is None:
            raise HTTPException(422, f"no user with e-mail {body.email!r}")
        conn.execute("""INSERT INTO projects.project_member (project_id, user_id, access_role_id, added_by)
                        VALUES (%s, %s, %s, pulse.current_user_id())""",
                     (project_id, user["user_id"], reference_id(conn, "access_role", body.role)))
        return member_or_404(conn, project_id, user["user_id"])


@app.patch("/projects/{project_id}/members/{user_id}", response_model=Member, tags=["members"])
def change_member(project_id: int, user_id: int, body: RoleIn, tx: Tx):
    with tx as conn:
        member_or_404(conn, project_id, user_id)
        role = reference_id(conn, "access_role", body.role)
        if conn.execute("UPDATE projects.project_member SET access_role_id = %s WHERE project_id = %s AND user_id = %s",
                        (role, project_id, user_id)).rowcount == 0:
            raise HTTPException(403, f"managing members of project {project_id} needs the manage_members permission")
        return member_or_404(conn, project_id, user_id)


@app.delete("/projects/{project_id}/members/{user_id}", status_code=204, tags=["members"])
def remove_member(project_id: int, user_id: int, tx: Tx):
    with tx as conn:
        member_or_404(conn, project_id, user_id)
        if conn.execute("DELETE FROM projects.project_member WHERE project_id = %s AND user_id = %s",
                        (project_id, user_id)).rowcount == 0:
            raise HTTPException(403, f"managing members of project {project_id} needs the manage_members permission")
    return Response(status_code=204)


# --------------------------------------------------------------------------- documents


class DocumentIn(BaseModel):
    title: str
    file_name: str
    mime_type: str
    size_bytes: int
    sha256: str = Field(description="SHA-256 of the content, 64 lower-case hex digits: S3 accepts only these bytes.")
    storage: str | None = Field(None, description="A storage code; default: the service's PULSE_STORAGE.")
    on_duplicate: Literal["refuse", "link", "allow"] | None = None


class Upload(BaseModel):
    url: str
    headers: dict[str, str] = Field(description="Send exactly these headers with the PUT: they are signed.")
    expires_at: datetime


class Registration(BaseModel):
    document_id: int
    version: int
    object_key: str
    duplicate_of: int | None
    upload: Upload | None = Field(description="None when linked to content already stored.")


class Document(BaseModel):
    document_id: int
    title: str
    file_name: str
    mime_type: str
    size_bytes: int
    sha256: str
    version: int
    available_at: datetime | None
    created_at: datetime


class ConfirmIn(BaseModel):
    size_bytes: int | None = Field(None, description="What the upload stored, checked against the registration.")
    sha256: str | None = None


class Confirmed(BaseModel):
    document_id: int
    available_at: datetime


class Url(BaseModel):
    url: str


@app.get("/projects/{project_id}/documents", response_model=list[Document], tags=["documents"])
def list_documents(project_id: int, tx: Tx, limit: int = Query(100, ge=1, le=1000),
                   after: int = Query(0, description="Only documents with a greater id (paging).")):
    with tx as conn:
        require_project(conn, project_id)
        return conn.execute(
            """SELECT d.document_id, d.title, d.file_name, f.mime_type, d.size_bytes, d.checksum_sha256 AS sha256,
                      d.version, d.available_at, d.created_at
                 FROM documents.documents d JOIN pulse.filetype_reference f USING (filetype_id)
                WHERE d.project_id = %s AND d.deleted_at IS NULL AND d.document_id > %s
                ORDER BY d.document_id LIMIT %s""", (project_id, after, limit)).fetchall()


@app.post("/projects/{project_id}/documents", status_code=201, response_model=Registration, tags=["documents"])
def register_document(project_id: int, body: DocumentIn, tx: Tx, request: Request):
    """Register a document and get the URL to PUT its bytes to (the write permission).
    The bytes go from the client straight to S3; then POST /documents/{id}/confirm."""
    storage = body.storage or request.app.state.storage
    if not storage:
        raise HTTPException(422, "no storage given and PULSE_STORAGE is not set")
    with tx as conn:
        require_project(conn, project_id)
        row = conn.execute(
            """SELECT * FROM documents.register_document(
                   project_id => %s, title => %s, file_name => %s, mime_type => %s, storage => %s,
                   size_bytes => %s, checksum_sha256 => %s, on_duplicate => %s)""",
            (project_id, body.title, body.file_name, body.mime_type, storage, body.size_bytes, body.sha256,
             body.on_duplicate)).fetchone()
    upload = None  # a duplicate linked to content already stored needs no upload
    if row["upload_url"] is not None:
        upload = {"url": row["upload_url"], "headers": row["upload_headers"], "expires_at": row["expires_at"]}
    return {**row, "upload": upload}


@app.get("/documents/{document_id}/upload", response_model=Upload, tags=["documents"])
def upload_url(document_id: int, tx: Tx):
    """A fresh upload URL for the current version, if it is not stored yet."""
    with tx as conn:
        row = conn.execute("SELECT url, headers, expires_at FROM documents.upload_url(%s, NULL::integer)",
                           (document_id,)).fetchone()
    return row


@app.post("/documents/{document_id}/confirm", response_model=Confirmed, tags=["documents"])
def confirm_upload(document_id: int, tx: Tx, body: ConfirmIn | None = None):
    """Mark the current version uploaded; it can be downloaded from then on."""
    body = body or ConfirmIn()
    with tx as conn:
        # pulse says "no document N or no right to change it" for both; tell them apart.
        if conn.execute("SELECT 1 FROM documents.documents WHERE document_id = %s", (document_id,)).fetchone() is None:
            raise HTTPException(404, f"no document {document_id}")
        available = conn.execute("SELECT documents.confirm_upload(%s, %s::bigint, %s::text) AS at",
                                 (document_id, body.size_bytes, body.sha256)).fetchone()["at"]
    return {"document_id": document_id, "available_at": available}


@app.get("/documents/{document_id}/download", response_model=Url, tags=["documents"])
def download_url(document_id: int, tx: Tx, version: int | None = None):
    """A GET URL of the current (or the given) version. 404 for a document the caller
    cannot see; every URL is logged by pulse in documents.url_grant."""
    with tx as conn:
        url = conn.execute("SELECT documents.download_url(%s, %s::integer) AS url",
                           (document_id, version)).fetchone()["url"]
    return {"url": url}


# --------------------------------------------------------------------------- history


class HistoryEntry(BaseModel):
    version: int
    operation: str
    change_summary: str
    changed_columns: list[str]
    reason: str | None
    changed_by: int | None
    changed_at: datetime


class Change(BaseModel):
    field: str
    old_value: str | None
    new_value: str | None


class RollbackIn(BaseModel):
    to_version: int
    expected_version: int = Field(description="The history version you last saw; 409 if it moved on.")


class RolledBack(BaseModel):
    project_id: int
    version: int = Field(description="The history version the rollback wrote.")


@app.get("/projects/{project_id}/history", response_model=list[HistoryEntry], tags=["history"])
def project_history(project_id: int, tx: Tx):
    """Every change of the project, its members, links and decisions, oldest first."""
    with tx as conn:
        require_project(conn, project_id)
        return conn.execute("""SELECT version, operation, change_summary, changed_columns, reason, changed_by, changed_at
                                 FROM audit.project_history WHERE project_id = %s ORDER BY version""",
                            (project_id,)).fetchall()


@app.get("/documents/{document_id}/history", response_model=list[HistoryEntry], tags=["history"])
def document_history(document_id: int, tx: Tx):
    """Every change of the document: registration, confirmation, revisions, deletion."""
    with tx as conn:
        rows = conn.execute("""SELECT version, operation, change_summary, changed_columns, reason, changed_by, changed_at
                                 FROM audit.document_history WHERE document_id = %s ORDER BY version""",
                            (document_id,)).fetchall()
    if not rows:  # row-level security shows a document's history to readers of its project only
        raise HTTPException(404, f"no document {document_id}")
    return rows


@app.get("/projects/{project_id}/diff", response_model=list[Change], tags=["history"])
def project_diff(project_id: int, tx: Tx, from_version: int = Query(alias="from"),
                 to_version: int = Query(alias="to")):
    with tx as conn:
        require_project(conn, project_id)
        return conn.execute("SELECT field, old_value, new_value FROM audit.project_diff(%s, %s, %s)",
                            (project_id, from_version, to_version)).fetchall()


@app.post("/projects/{project_id}/rollback", response_model=RolledBack, tags=["history"])
def rollback_project(project_id: int, body: RollbackIn, tx: Tx):
    """Restore the project (row and link sets, members included) as it was at to_version;
    recorded in history as ROLLBACK."""
    with tx as conn:
        require_project(conn, project_id)
        version = conn.execute("SELECT audit.rollback_project(%s, %s, %s) AS v",
                               (project_id, body.to_version, body.expected_version)).fetchone()["v"]
    return {"project_id": project_id, "version": version}
