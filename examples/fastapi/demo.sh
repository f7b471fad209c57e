#!/usr/bin/env bash
# A scripted session with the example service: starts it with uvicorn on 127.0.0.1, then with
# curl signs in, creates a project, registers a document, uploads a real file through the
# presigned URL the service returns, confirms it, downloads it again and compares the
# SHA-256, shows the project's history and signs out. Stops the service at the end.
#
# Needs a pulse database set up as examples/fastapi/README.md says, and:
#   PULSE_APP_DSN        libpq DSN of the application role (setup.sql's app_role)
#   PULSE_SIGNIN_DSN     libpq DSN of the sign-in role (setup.sql's signin_role)
#   PULSE_STORAGE        code of a storage with credentials (pulse.storage_reference)
#   PULSE_DEMO_EMAIL     a user whose password_hash is the argon2id hash of ...
#   PULSE_DEMO_PASSWORD  ... this password (python -m pulse_api.passwords makes the hash)
# Optional:
#   PULSE_API_PORT       port of the service on 127.0.0.1 (default 55434)
#   PULSE_PYTHON         a Python with requirements.txt installed (default: the repo's .venv)
#   PULSE_API_KEEP=1     leave the service running afterwards (its pid is printed)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${PULSE_APP_DSN:?set PULSE_APP_DSN (see examples/fastapi/demo.sh)}"
: "${PULSE_SIGNIN_DSN:?set PULSE_SIGNIN_DSN}"
: "${PULSE_STORAGE:?set PULSE_STORAGE}"
: "${PULSE_DEMO_EMAIL:?set PULSE_DEMO_EMAIL}"
: "${PULSE_DEMO_PASSWORD:?set PULSE_DEMO_PASSWORD}"
PORT="${PULSE_API_PORT:-55434}"
PY="${PULSE_PYTHON:-$HERE/../../.venv/bin/python}"
API="http://127.0.0.1:${PORT}"
export PULSE_APP_DSN PULSE_SIGNIN_DSN PULSE_STORAGE PULSE_DEMO_EMAIL PULSE_DEMO_PASSWORD

"$PY" -c 'import fastapi, uvicorn, psycopg_pool, argon2' 2>/dev/null || {
    echo "$PY lacks the service's packages: pip install -r $HERE/requirements.txt" >&2
    exit 1
}
say() { printf '\n\033[1m--> %s\033[0m\n' "$*"; }
# A field of the JSON on standard input (a.b for nested fields).
field() { "$PY" -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."): value = value[key]
print(value if not isinstance(value, (dict, list)) else json.dumps(value))' "$1"; }
# Show the request, run it, print the response body and status; the body is left in $BODY.
call() {
    local method="$1" path="$2" data="${3:-}" args=(-sS -X "$1" -o "$WORK/body" -w '%{http_code}')
    [[ -n "${TOKEN:-}" ]] && args+=(-H "authorization: Bearer $TOKEN")
    [[ -n "$data" ]] && args+=(-H 'content-type: application/json' --data "$data")
    printf '$ curl -X %s %s%s%s\n' "$method" "$path" "${4:+ $4 '$5'}" "${data:+ -d '$data'}" | sed 's/"password": "[^"]*"/"password": "***"/'
    STATUS="$(curl "${args[@]}" "${@:4}" "$API$path")"
    BODY="$(cat "$WORK/body")"
    if [[ "${SHOW_BODY:-1}" == 1 ]]; then
        printf 'HTTP %s %s\n' "$STATUS" "$(printf '%s' "$BODY" | cut -c1-300)"
    else
        printf 'HTTP %s\n' "$STATUS"
    fi
}
expect() { [[ "$STATUS" == "$1" ]] || { echo "expected HTTP $1" >&2; exit 1; }; }

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" && "${PULSE_API_KEEP:-}" != 1 ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

say "Starting the service: uvicorn pulse_api.app:app on ${API} (OpenAPI at ${API}/docs)"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "port $PORT on 127.0.0.1 is already in use (set PULSE_API_PORT)" >&2
    exit 1
fi
"$PY" -m uvicorn --app-dir "$HERE" pulse_api.app:app --host 127.0.0.1 --port "$PORT" --log-level warning \
    >"$WORK/server.log" 2>&1 </dev/null &
SERVER_PID=$!
for _ in $(seq 300); do   # until it answers, at most 30 s
    curl -sf -o /dev/null "$API/openapi.json" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "the service exited" >&2; exit 1; }
    sleep 0.1
done
curl -sf -o /dev/null "$API/openapi.json" || { cat "$WORK/server.log" >&2; echo "no answer in 30 s" >&2; exit 1; }

say "Sign in (the service verifies the argon2id hash, then pulse opens a session)"
call POST /sessions "$("$PY" -c 'import json, os
print(json.dumps({"email": os.environ["PULSE_DEMO_EMAIL"], "password": os.environ["PULSE_DEMO_PASSWORD"]}))')"
expect 201
TOKEN="$(field token <<<"$BODY")"

say "Create a project, then move it on (with a reason for the history)"
call POST /projects '{"name": "Demo '"$(date +%H:%M:%S)"'", "description": "made by examples/fastapi/demo.sh"}'
expect 201
PROJECT="$(field project_id <<<"$BODY")"
call PATCH "/projects/$PROJECT" '{"phase": "planning"}' -H 'x-change-reason: demo: planning starts'
expect 200

say "Register a document: a real file, its size and SHA-256 (the upload URL is bound to it)"
FILE="$HERE/README.md"
SIZE="$(stat -c %s "$FILE")"
SUM="$(sha256sum "$FILE" | cut -d' ' -f1)"
call POST "/projects/$PROJECT/documents" \
    "{\"title\": \"Service README\", \"file_name\": \"README.md\", \"mime_type\": \"text/markdown\", \"size_bytes\": $SIZE, \"sha256\": \"$SUM\"}"
expect 201
DOC="$(field document_id <<<"$BODY")"
URL="$(field upload.url <<<"$BODY")"
CONTENT_TYPE="$(field upload.headers.content-type <<<"$BODY")"
CHECKSUM64="$(field upload.headers.x-amz-checksum-sha256 <<<"$BODY")"

say "Upload straight to S3 through the presigned URL (the bytes never pass through the service)"
echo "\$ curl -X PUT --data-binary @README.md -H 'content-type: $CONTENT_TYPE' -H 'x-amz-checksum-sha256: $CHECKSUM64' '${URL%%\?*}?...'"
PUT_STATUS="$(curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary "@$FILE" \
    -H "content-type: $CONTENT_TYPE" -H "x-amz-checksum-sha256: $CHECKSUM64" "$URL")"
echo "HTTP $PUT_STATUS"
[[ "$PUT_STATUS" == 200 ]]
call POST "/documents/$DOC/confirm" "{\"size_bytes\": $SIZE, \"sha256\": \"$SUM\"}"
expect 200

say "Download it again and compare"
call GET "/documents/$DOC/download"
expect 200
GOT="$(curl -sS "$(field url <<<"$BODY")" | sha256sum | cut -d' ' -f1)"
echo "uploaded   SHA-256 $SUM"
echo "downloaded SHA-256 $GOT ($([[ "$GOT" == "$SUM" ]] && echo equal || echo DIFFERENT))"
[[ "$GOT" == "$SUM" ]]

history() {
    SHOW_BODY=0 call GET "$1"
    expect 200
    "$PY" -c 'import json, sys
for h in json.load(sys.stdin):
    reason = "  (reason: %s)" % h["reason"] if h["reason"] else ""
    print("  v%-3s %-8s %s%s" % (h["version"], h["operation"], h["change_summary"][:100], reason))' <<<"$BODY"
}
say "History, as the signed-in user sees it (audit.project_history, audit.document_history)"
history "/projects/$PROJECT/history"
history "/documents/$DOC/history"

say "Sign out: the token is revoked"
call DELETE /sessions/current
expect 204
call GET /me
expect 401

if [[ "${PULSE_API_KEEP:-}" == 1 ]]; then
    say "The service keeps running on ${API} (pid ${SERVER_PID}; stop it with: kill ${SERVER_PID})"
fi
