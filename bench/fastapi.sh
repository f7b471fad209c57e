#!/usr/bin/env bash
# Load run of the example FastAPI service (issue 8), on a throwaway cluster and s3s-fs:
# CLIENTS concurrent clients on loopback list documents and register uploads for DURATION
# seconds (bench/fastapi_load.py); reports requests per second and p50/p99 latencies, then
# checks that every registered document has its INSERT in audit.document_history and that
# audit.verify() finds no broken link.
#   ./bench/fastapi.sh [DURATION] [CLIENTS]        (defaults: 20 s, 8 clients)
# PULSE_BENCH_NO_INSTALL=1 PULSE_BENCH_PORT=<port>: use the pulse installed in the system
# PostgreSQL and a running cluster on 127.0.0.1:<port> (its database "bench" is dropped and
# made again) instead of building, installing and starting a throwaway cluster.
# PULSE_BENCH_S3_PORT: port of the s3s-fs started here (default 55604).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DURATION="${1:-20}"
CLIENTS="${2:-8}"
S3_PORT="${PULSE_BENCH_S3_PORT:-55604}"

if [[ -n "${PULSE_BENCH_NO_INSTALL:-}" ]]; then
    PORT="${PULSE_BENCH_PORT:?PULSE_BENCH_NO_INSTALL needs PULSE_BENCH_PORT}"
    DIR="${PULSE_BENCH_DIR:-/tmp/pulse-bench}/fastapi"
    say "Using the installed pulse and the cluster on 127.0.0.1:${PORT} (database bench made anew)"
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
        -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench'
    trap 'stop_s3s_fs "$DIR-s3"' EXIT
else
    bench_cluster fastapi 55603
    trap 'stop_cluster "$DIR"; stop_s3s_fs "$DIR-s3"' EXIT
fi
ensure_venv "$PULSE_ROOT/tests/requirements.txt"
ensure_s3s_fs
PYTHON="$PULSE_ROOT/.venv/bin/python"
"$PYTHON" -c 'import fastapi, uvicorn, psycopg_pool, argon2, httpx' 2>/dev/null ||
    { echo "the service's packages are not in .venv (tests/requirements.txt)" >&2; exit 1; }

say "Starting a throwaway S3 server (s3s-fs) on 127.0.0.1:${S3_PORT}"
S3_KEY="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
S3_SECRET="$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')"
install -d "$(dirname "$DIR")"
start_s3s_fs "$DIR-s3" "$S3_PORT" "$S3_KEY" "$S3_SECRET"
install -d "$DIR-s3/pulse-bench"   # a bucket is a directory to s3s-fs

say "Load: ${CLIENTS} clients for ${DURATION} s (bench/fastapi_load.py)"
PULSE_PG_BIN="$PG_BIN" "$PYTHON" "$PULSE_ROOT/bench/fastapi_load.py" \
    --dsn "host=127.0.0.1 port=${PORT} user=postgres dbname=bench" \
    --s3-endpoint "http://127.0.0.1:${S3_PORT}" --s3-access-key "$S3_KEY" --s3-secret-key "$S3_SECRET" \
    --s3-bucket pulse-bench --duration "$DURATION" --clients "$CLIENTS"
