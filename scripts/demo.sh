#!/usr/bin/env bash
# The main job on an embedded default: builds and installs pulse, starts a throwaway
# PostgreSQL cluster owned by the unprivileged OS user postgres and a local S3-compatible
# server (s3s-fs), both on 127.0.0.1, creates the extension and walks through it, printing
# every statement; then uploads a real file through a presigned URL pulse signed and
# downloads it again, and runs the reference FastAPI service (examples/fastapi) for a
# scripted session: sign in, create a project, upload and download a file, show history.
#   ./scripts/demo.sh          set up and run the walkthrough; leaves the cluster running
#   ./scripts/demo.sh stop     stop the cluster and remove its data
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$PULSE_ROOT"

PORT="${PULSE_DEMO_PORT:-55432}"
S3_PORT="${PULSE_DEMO_S3_PORT:-55433}"
DIR="${PULSE_DEMO_DIR:-/tmp/pulse-demo}"

if [[ "${1:-}" == "stop" ]]; then
    stop_cluster "$DIR/cluster"
    stop_s3s_fs "$DIR/s3"
    rm -rf "$DIR"
    say "Stopped the demo cluster and S3 server and removed $DIR"
    exit 0
fi

ensure_debian_packages
ensure_cargo_pgrx
ensure_s3s_fs
install_extension release

say "Starting a throwaway cluster in $DIR/cluster on 127.0.0.1:${PORT}"
install -d -o postgres -g postgres "$DIR"
start_cluster "$DIR/cluster" "$PORT"
"$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c 'CREATE DATABASE pulse'

say "Walkthrough (scripts/walkthrough.sql)"
"$PG_BIN/psql" -X -h 127.0.0.1 -p "$PORT" -U postgres -d pulse -v ON_ERROR_STOP=1 \
    --echo-queries -f "$PULSE_ROOT/scripts/walkthrough.sql"

say "Documents: a real file through S3 (s3s-fs on 127.0.0.1:${S3_PORT})"
# Throwaway credentials of the throwaway server; pulse keeps them in pulse.storage_credential,
# which only the extension owner can read.
S3_KEY="demo-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
S3_SECRET="$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')"
start_s3s_fs "$DIR/s3" "$S3_PORT" "$S3_KEY" "$S3_SECRET"
install -d "$DIR/s3/pulse-demo"   # a bucket is a directory to s3s-fs
demo_sql() { "$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -d pulse -v ON_ERROR_STOP=1 "$@"; }
demo_sql -v key="$S3_KEY" -v secret="$S3_SECRET" <<SQL
INSERT INTO pulse.storage_reference (code, label, provider, bucket, region, endpoint, addressing_style)
VALUES ('demo', 'Demo S3', 'minio', 'pulse-demo', 'us-east-1', 'http://127.0.0.1:${S3_PORT}', 'path');
INSERT INTO pulse.storage_credential (storage_id, access_key_id, secret_access_key)
SELECT storage_id, :'key', :'secret' FROM pulse.storage_reference WHERE code = 'demo';
SQL
TOKEN="$(demo_sql -c "SELECT token FROM users.open_session((SELECT user_id FROM users.users WHERE email = 'linus@example.com'))")"
as_linus() { demo_sql -1 -c "SELECT pulse.authenticate('$TOKEN')" -c "$1" | tail -n +2; }
FILE="$DIR/engine-notes.txt"
printf 'Notes on the Analytical Engine, by A. A. L.\n' >"$FILE"
SUM="$(sha256sum "$FILE" | cut -d' ' -f1)"
IFS='|' read -r DOC KEY URL CHECKSUM64 < <(as_linus "
    SELECT document_id, object_key, upload_url, upload_headers->>'x-amz-checksum-sha256'
      FROM documents.register_document((SELECT min(project_id) FROM projects.projects), 'Engine notes',
                                       'engine-notes.txt', 'text/plain', 'demo', $(stat -c %s "$FILE"), '$SUM')")
echo "registered document $DOC; object key $KEY"
echo "PUT $URL"
curl -sS -o /dev/null -w 'upload through the presigned URL: HTTP %{http_code}\n' -X PUT --data-binary "@$FILE" \
    -H 'content-type: text/plain' -H "x-amz-checksum-sha256: $CHECKSUM64" "$URL"
printf 'other bytes' | curl -sS -o /dev/null -w 'other bytes through the same URL: HTTP %{http_code} (BadDigest)\n' \
    -X PUT --data-binary @- -H 'content-type: text/plain' -H "x-amz-checksum-sha256: $CHECKSUM64" "$URL"
# s3s-fs stores a rejected body before it checks the digest (real S3 does not); upload again.
curl -sS -o /dev/null -X PUT --data-binary "@$FILE" -H 'content-type: text/plain' \
    -H "x-amz-checksum-sha256: $CHECKSUM64" "$URL"
as_linus "SELECT 'available since ' || documents.confirm_upload($DOC, $(stat -c %s "$FILE"), '$SUM')"
DOWNLOAD="$(as_linus "SELECT documents.download_url($DOC)")"
echo "GET $DOWNLOAD"
GOT="$(curl -sS "$DOWNLOAD" | sha256sum | cut -d' ' -f1)"
echo "downloaded SHA-256 $GOT ($([[ $GOT == "$SUM" ]] && echo 'equal to the registered one' || echo 'DIFFERENT'))"
[[ $GOT == "$SUM" ]]
"$PG_BIN/psql" -X -h 127.0.0.1 -p "$PORT" -U postgres -d pulse --echo-queries -c "
SELECT g.method, g.version, u.display_name AS issued_to, g.issued_at, g.expires_at
  FROM documents.url_grant g JOIN users.users u USING (user_id) ORDER BY g.grant_id" -c "
SELECT version, operation, change_summary FROM audit.document_history WHERE document_id = $DOC ORDER BY version" -c "
SELECT count(*) AS broken_links FROM audit.verify()"

say "The reference client: a FastAPI service on pulse (examples/fastapi)"
# Its pinned requirements are part of tests/requirements.txt.
ensure_venv "$PULSE_ROOT/tests/requirements.txt"
"$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d pulse -v ON_ERROR_STOP=1 \
    -v app_role=pulse_app -v signin_role=pulse_signin -f "$PULSE_ROOT/examples/fastapi/setup.sql" >/dev/null
API_PASSWORD="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
HASH="$(printf '%s\n' "$API_PASSWORD" | (cd "$PULSE_ROOT/examples/fastapi" && "$PULSE_ROOT/.venv/bin/python" -m pulse_api.passwords))"
# The hash goes in on standard input: psql -c does not substitute :'hash'.
echo "SELECT users.create_user('grace@example.com', 'Grace H.', :'hash', false)" | demo_sql -v hash="$HASH" >/dev/null
PULSE_APP_DSN="host=127.0.0.1 port=$PORT user=pulse_app dbname=pulse" \
PULSE_SIGNIN_DSN="host=127.0.0.1 port=$PORT user=pulse_signin dbname=pulse" \
PULSE_STORAGE=demo PULSE_DEMO_EMAIL=grace@example.com PULSE_DEMO_PASSWORD="$API_PASSWORD" \
PULSE_PYTHON="$PULSE_ROOT/.venv/bin/python" PULSE_API_PORT="${PULSE_DEMO_API_PORT:-55434}" \
    "$PULSE_ROOT/examples/fastapi/demo.sh"

say "pulse is running"
cat <<TXT
Connect:   psql -h 127.0.0.1 -p ${PORT} -U postgres -d pulse
S3:        http://127.0.0.1:${S3_PORT} (s3s-fs; bucket pulse-demo in ${DIR}/s3)
Stop:      ./scripts/demo.sh stop
TXT
