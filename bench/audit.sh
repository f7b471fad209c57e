#!/usr/bin/env bash
# Audit benchmarks (issue 4), on a throwaway cluster with durable settings:
#   - throughput of single-row UPDATE, single-row INSERT and a 1000-row INSERT statement on
#     documents.documents (100k rows) with pulse's capture (identity, snapshot, hash chain),
#     with no audit trigger, with a lean PL/pgSQL to_jsonb trigger, and with a supa_audit-
#     style trigger (bench/sql/audit_baselines.sql);
#   - each with durable commits and CPU-bound (synchronous_commit = off);
#   - pulse's added microseconds per row against the lean trigger's.
# Every variant runs the same pgbench script as the application role (authenticate, then
# the write under row-level security); only the trigger differs. Variants run interleaved,
# ROUNDS times each; medians are reported.
#   ./bench/audit.sh [ROUNDS] [SECONDS_PER_RUN]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROUNDS="${1:-3}"
SECONDS_PER_RUN="${2:-4}"
VARIANTS=(none pulse lean supa)
WORKLOADS=(update insert insert1000)

bench_cluster audit 55601

say "Loading 100,000 documents (bench/sql/audit_data.sql) and the baselines"
psql_as postgres -c 'CREATE EXTENSION pulse' -f bench/sql/audit_data.sql -f bench/sql/audit_baselines.sql \
    -c 'CREATE ROLE bench_app LOGIN' -c "SELECT pulse.grant_application_role('bench_app')" >/dev/null
value() { psql_as postgres -At -c "$1"; }
WRITER="$(value "SELECT user_id FROM users.users WHERE email = 'writer@bench.example'")"
TOKEN="$(value "SELECT token FROM users.open_session(${WRITER})")"
DEFINES=(
    -D token="$TOKEN"
    -D project="$(value "SELECT project_id FROM projects.projects WHERE name = 'Bench'")"
    -D first_doc="$(value "SELECT min(document_id) FROM documents.documents")"
    -D last_doc="$(value "SELECT max(document_id) FROM documents.documents")"
    -D filetype="$(value "SELECT filetype_id FROM pulse.filetype_reference WHERE code = 'pdf'")"
    -D storage="$(value "SELECT storage_id FROM pulse.storage_reference WHERE code = 'bench'")"
    -D priority="$(value "SELECT priority_id FROM pulse.priority_reference WHERE code = 'medium'")"
    -D phase="$(value "SELECT phase_id FROM pulse.phase_reference WHERE code = 'build'")"
)

use_variant() {
    local pulse=DISABLE lean=DISABLE supa=DISABLE
    case "$1" in pulse) pulse=ENABLE ;; lean) lean=ENABLE ;; supa) supa=ENABLE ;; esac
    psql_as postgres -c "ALTER TABLE documents.documents $pulse TRIGGER history_capture,
                         $lean TRIGGER bench_lean, $supa TRIGGER bench_supa_style"
}

run() { # $1: synchronous_commit, $2: workload; prints "tps latency_ms"
    PGOPTIONS="-c synchronous_commit=$1" pgbench -n -M prepared -c 2 -j 2 -T "$SECONDS_PER_RUN" \
        -h 127.0.0.1 -p "$PORT" -U bench_app "${DEFINES[@]}" -f "bench/pgbench/audit_$2.sql" bench 2>/dev/null |
        awk '/^latency average/ { lat = $4 } /^tps/ { tps = $3 } END { print tps, lat }'
}

declare -A tps latency
for sync in on off; do
    for round in $(seq "$ROUNDS"); do
        say "synchronous_commit = ${sync}, round ${round}/${ROUNDS}"
        for workload in "${WORKLOADS[@]}"; do
            for variant in "${VARIANTS[@]}"; do
                use_variant "$variant"
                read -r t l < <(run "$sync" "$workload")
                tps[$sync/$workload/$variant]+="$t "
                latency[$sync/$workload/$variant]+="$l "
            done
        done
    done
done
use_variant pulse
say "History written by the runs verifies: $(value "SELECT count(*) FROM audit.verify()") problems"

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
rows_of() { [[ $1 == insert1000 ]] && echo 1000 || echo 1; }
say "Results (medians of ${ROUNDS} interleaved rounds, ${SECONDS_PER_RUN} s each, 2 clients)"
printf '| commit | workload | no trigger, tps | pulse | lean PL/pgSQL | supa_audit-style | pulse / none | lean / none | supa / none | pulse / supa |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for sync in on off; do
    for workload in "${WORKLOADS[@]}"; do
        n="$(med "${tps[$sync/$workload/none]}")" p="$(med "${tps[$sync/$workload/pulse]}")"
        l="$(med "${tps[$sync/$workload/lean]}")" s="$(med "${tps[$sync/$workload/supa]}")"
        awk -v sync="$sync" -v w="$workload" -v n="$n" -v p="$p" -v l="$l" -v s="$s" 'BEGIN {
            printf "| %s | %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f |\n",
                   (sync == "on" ? "durable" : "synchronous_commit=off"), w, n, p, l, s, p / n, l / n, s / n, p / s }'
    done
done
printf '\n| commit | workload | pulse added us/row | lean added us/row | pulse / lean |\n|---|---|---|---|---|\n'
for sync in on off; do
    for workload in "${WORKLOADS[@]}"; do
        n="$(med "${latency[$sync/$workload/none]}")" p="$(med "${latency[$sync/$workload/pulse]}")"
        l="$(med "${latency[$sync/$workload/lean]}")"
        awk -v sync="$sync" -v w="$workload" -v rows="$(rows_of "$workload")" -v n="$n" -v p="$p" -v l="$l" 'BEGIN {
            pa = (p - n) * 1000 / rows; la = (l - n) * 1000 / rows
            printf "| %s | %s | %.1f | %.1f | %.2f |\n", (sync == "on" ? "durable" : "synchronous_commit=off"), w, pa, la,
                   (la > 0 ? pa / la : 0) }'
    done
done
