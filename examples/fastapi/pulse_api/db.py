"""The service's only way into the database: two connection pools, one transaction per
request that begins with pulse.authenticate, and database errors turned into HTTP statuses.

Two login roles, both made by setup.sql:

- the application role (pulse.grant_application_role): every request runs as it, under
  row-level security, so each query sees and changes only what the caller's user may;
- the sign-in role: it can read users' password hashes and nothing else. The application
  role cannot read them at all (pulse withholds the column), and keeping them away from the
  role that runs every request means a bug in a request handler cannot leak them.
"""

import ipaddress
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import psycopg
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

log = logging.getLogger("pulse_api")


@dataclass(frozen=True)
class Caller:
    """Who is asking: the bearer token (a pulse session token) and what the service knows
    about the client, which pulse's session monitor records with each authentication."""

    token: str
    client_address: str | None
    user_agent: str | None
    change_reason: str | None = None


class Database:
    def __init__(self, app_dsn: str, signin_dsn: str, pool_size: int = 8):
        # autocommit: every transaction is an explicit `with conn.transaction()`, so a
        # connection never goes back to the pool inside one (and with it, no identity: the
        # identity pulse.authenticate sets ends with the transaction).
        options = {"autocommit": True, "row_factory": dict_row}
        self.app = ConnectionPool(app_dsn, min_size=min(2, pool_size), max_size=pool_size,
                                  kwargs=options, open=False, name="pulse-app")
        self.signin = ConnectionPool(signin_dsn, min_size=1, max_size=2, kwargs=options, open=False,
                                     name="pulse-signin")

    def open(self) -> None:
        self.app.open(wait=True, timeout=30)
        self.signin.open(wait=True, timeout=30)

    def close(self) -> None:
        self.app.close()
        self.signin.close()

    @contextmanager
    def transaction(self, caller: Caller) -> Iterator[psycopg.Connection]:
        """One request: a pooled connection and a transaction whose first statement makes the
        token's user the caller. Commits when the block ends normally, before the response
        is sent; rolls back on any exception (an HTTPException included)."""
        with self.app.connection() as conn, conn.transaction():
            # Class 28 here (unknown, revoked, expired, idle token; disabled user) becomes 401.
            conn.execute("SELECT pulse.authenticate(%s, %s, %s)",
                         (caller.token, caller.client_address, caller.user_agent))
            if caller.change_reason:
                conn.execute("SELECT pulse.set_change_reason(%s)", (caller.change_reason,))
            yield conn

    def credentials(self, email: str) -> dict | None:
        """user_id and password_hash of a usable account, through the sign-in role, which may
        call users.sign_in_credentials and nothing else (pulse.grant_sign_in_role)."""
        with self.signin.connection() as conn:
            return conn.execute("SELECT user_id, password_hash FROM users.sign_in_credentials(%s)",
                                (email,)).fetchone()

    def open_session(self, user_id: int, ttl: str | None, client_address: str | None,
                     user_agent: str | None) -> dict:
        """A new pulse session for a user whose password the service has just verified. The
        application role is granted users.open_session by pulse.grant_application_role: pulse
        trusts the application to have checked the password, and stores only the token's
        SHA-256."""
        with self.app.connection() as conn:
            return conn.execute(
                """SELECT session_id, token, expires_at
                     FROM users.open_session(%s, %s::interval, %s::inet, %s, '{"via": "pulse_api"}')""",
                (user_id, ttl, inet_or_none(client_address), user_agent)).fetchone()


def inet_or_none(address: str | None) -> str | None:
    """The client's address if it is an IP address (a Unix socket peer is not)."""
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


# --------------------------------------------------------------------------- errors

# SQLSTATE -> HTTP status (README "Errors"). Class 28 is 401 whatever the code.
STATUS_BY_SQLSTATE = {
    "42501": 403,  # insufficient privilege: row-level security or one of pulse's rules
    "23505": 409,  # unique: a duplicate document, an existing membership
    "40001": 409,  # a rollback found the project at another version than expected
    "55000": 409,  # not in the required state: not uploaded yet, already confirmed, ...
    "22023": 422,  # bad parameter: MIME type, checksum, size, expiry, unknown version
    "23514": 422,  # a CHECK constraint or a phase change the order does not allow
    "23502": 422,  # a NOT NULL column left empty
    "23503": 422,  # a foreign key: the referenced row does not exist
    "22P02": 422,  # a malformed value (e.g. a bad interval or number)
    "22001": 422,  # a value too long for its column
    "42704": 422,  # an unknown storage code
}

# 42501 messages that mean "nothing visible here" rather than "visible, but not allowed":
# pulse words them so that a document that does not exist and one the caller cannot see
# look the same. The service answers 404 for them, as for a row row-level security hides.
NOT_VISIBLE = re.compile(r"^no document \d+ or no access to it$")


def http_status(error: psycopg.Error) -> int:
    state = error.sqlstate
    if state is None:
        return 503  # no answer from the database (connection lost, pool timeout)
    if state.startswith("28"):
        return 401
    if state == "42501" and NOT_VISIBLE.match(error.diag.message_primary or ""):
        return 404
    return STATUS_BY_SQLSTATE.get(state, 500)


def error_response(error: psycopg.Error) -> JSONResponse:
    """The JSON body of a database error: pulse's message, SQLSTATE and hint. pulse's
    messages never carry secrets (docs/document-ingest.md); anything unexpected is logged
    and answered without details."""
    status = http_status(error)
    if status >= 500:
        log.error("database error %s: %s", error.sqlstate, error)
        detail = "database unavailable" if status == 503 else "internal error"
        return JSONResponse({"detail": detail}, status_code=status)
    body = {"detail": error.diag.message_primary, "sqlstate": error.sqlstate}
    if error.diag.message_hint:
        body["hint"] = error.diag.message_hint
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)
