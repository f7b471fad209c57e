#!/usr/bin/env bash
# Where audit capture's time goes on the real CPU (issue 4). The audit suite's single-row
# UPDATE (bench/pgbench/audit_update.sql: authenticate, then UPDATE one of 100,000 documents
# under row-level security, pulse's capture on) runs with 2 pgbench clients and
# synchronous_commit = off while perf samples every CPU (cpu-clock, 1,000 a second, DWARF call
# graphs) for SECONDS; bench/capture_profile.py sorts the samples of the backends that fall
# under the capture trigger into the parts of a capture and prints their shares.
#
# Unlike the instruction counts of bench/audit_per_row.sh --instructions (callgrind), this is
# time on the real CPU: the SHA-256 instructions the CPU has (valgrind runs SHA-256 in software
# and counts it several times over), cache misses and the kernel's share included. Samples
# are counted, so each share is uncertain by the square root of its count.
#   ./bench/profile_capture.sh [SECONDS]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SAMPLED="${1:-8}"
ensure_debian_packages linux-perf
bench_cluster profile_capture 55603
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; if [[ -n "$DIR" ]]; then stop_cluster "$DIR"; fi' EXIT

say "Loading 100,000 documents (bench/sql/audit_data.sql)"
psql_as postgres -v documents=100000 -c 'CREATE EXTENSION pulse' -f bench/sql/audit_data.sql \
    -c "SELECT pulse.grant_application_role('bench_app')" >/dev/null
WRITER="$(value "SELECT user_id FROM users.users WHERE email = 'writer@bench.example'")"
DEFINES=(
    -D token="$(value "SELECT token FROM users.open_session(${WRITER})")"
    -D project="$(value "SELECT project_id FROM projects.projects WHERE name = 'Bench'")"
    -D first_doc="$(value "SELECT min(document_id) FROM documents.documents")"
    -D last_doc="$(value "SELECT max(document_id) FROM documents.documents")"
)

say "Sampling ${SAMPLED} s of the audited single-row UPDATE (2 clients, synchronous_commit = off)"
# pgbench runs 3 s before and after the sampled window, so that every sample falls in the
# steady state, past the connections' start.
PGOPTIONS="-c synchronous_commit=off" "$PG_BIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U bench_app \
    -M prepared -c 2 -j 2 -T "$((SAMPLED + 6))" "${DEFINES[@]}" -f bench/pgbench/audit_update.sql bench \
    >"$WORK/pgbench.log" 2>&1 &
PGBENCH=$!
sleep 3
perf record -q -e cpu-clock -F 1000 -a --call-graph dwarf,16384 -o "$WORK/perf.data" -- sleep "$SAMPLED"
wait "$PGBENCH" || die "pgbench failed: $(tail -5 "$WORK/pgbench.log")"
grep '^tps' "$WORK/pgbench.log"

say "Capture's parts (samples of the backends)"
perf script -F comm,ip,sym -i "$WORK/perf.data" 2>/dev/null | python3 bench/capture_profile.py
