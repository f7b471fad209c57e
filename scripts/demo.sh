#!/usr/bin/env bash
# The main job on an embedded default: builds and installs pulse, starts a throwaway
# PostgreSQL cluster owned by the unprivileged OS user postgres on 127.0.0.1, creates the
# extension and walks through it, printing every statement.
#   ./scripts/demo.sh          set up and run the walkthrough; leaves the cluster running
#   ./scripts/demo.sh stop     stop the cluster and remove its data
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$PULSE_ROOT"

PORT="${PULSE_DEMO_PORT:-55432}"
DIR="${PULSE_DEMO_DIR:-/tmp/pulse-demo}"

if [[ "${1:-}" == "stop" ]]; then
    stop_cluster "$DIR/cluster"
    rm -rf "$DIR"
    say "Stopped the demo cluster and removed $DIR"
    exit 0
fi

ensure_debian_packages
ensure_cargo_pgrx
install_extension release

say "Starting a throwaway cluster in $DIR/cluster on 127.0.0.1:${PORT}"
install -d -o postgres -g postgres "$DIR"
start_cluster "$DIR/cluster" "$PORT"
"$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c 'CREATE DATABASE pulse'

say "Walkthrough (scripts/walkthrough.sql)"
"$PG_BIN/psql" -X -h 127.0.0.1 -p "$PORT" -U postgres -d pulse -v ON_ERROR_STOP=1 \
    --echo-queries -f "$PULSE_ROOT/scripts/walkthrough.sql"

say "pulse is running"
cat <<TXT
Connect:   psql -h 127.0.0.1 -p ${PORT} -U postgres -d pulse
Stop:      ./scripts/demo.sh stop
           (or: runuser -u postgres -- ${PG_BIN}/pg_ctl -D ${DIR}/cluster stop)
TXT
