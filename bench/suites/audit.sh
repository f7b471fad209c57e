#!/usr/bin/env bash
# Audit suite (issue 4), run by bench/run.sh:
#   - throughput of single-row UPDATE, single-row INSERT and a 1000-row INSERT statement on
#     documents.documents (100k rows; quick: 1k) with pulse's capture (identity, snapshot,
#     hash chain), with no audit trigger, with a lean PL/pgSQL to_jsonb trigger, and with a
#     supa_audit-style trigger (bench/sql/audit_baselines.sql);
#   - each with durable commits and CPU-bound (synchronous_commit = off, a second pass);
#   - pulse's added microseconds per row against the lean trigger's (transaction latency
#     against "none", divided by the rows written);
#   - WAL bytes per transaction of each variant (pg_current_wal_lsn() around each run);
#   - two calibrations, because the issue's reference ratios (supa_audit 0.51 and 0.17, the
#     lean trigger 0.90 and 0.59) are far from what the same triggers keep here: the same
#     single-row UPDATE by the table's owner, without authentication and row-level security
#     (update_owner, every variant, and pulse with everything on against it with no trigger);
#     and pgbench's UPDATE of a plain table with one index (update_plain,
#     bench/sql/audit_plain.sql; no pulse variant: pulse captures only its own tables).
# Every variant runs the same pgbench script as the application role (authenticate, then
# the write under row-level security), except in the calibrations; only the trigger
# differs. In a round every variant runs once per workload, the order reversed every other
# round (A B C D, D C B A, ...). Each pass starts with a round that is not recorded.
# Checkpoints are held off while the suite runs, so that those the 1000-row INSERTs' WAL
# would force do not fall into other workloads' runs; a third pass measures the durable
# single-row UPDATE with a CHECKPOINT before every run instead (decision log D60).
# The history the runs wrote must verify (audit.verify()), or the suite fails.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

VARIANTS=(none pulse lean supa)
WORKLOADS=(update insert insert1000 update_owner update_plain)
DOCUMENTS=100000
[[ "$BENCH_QUICK" == 1 ]] && DOCUMENTS=1000
record_scale "documents.documents: one project with ${DOCUMENTS} documents, each recorded as it was loaded; 2 pgbench clients; no checkpoint during the runs but in the pass that measures one"

bench_database
say "Loading ${DOCUMENTS} documents (bench/sql/audit_data.sql) and the baselines"
psql_as postgres -v documents="$DOCUMENTS" -c 'CREATE EXTENSION pulse' -f bench/sql/audit_data.sql \
    -f bench/sql/audit_baselines.sql -f bench/sql/audit_plain.sql -c "SELECT pulse.grant_application_role('bench_app')" >/dev/null
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
    -D plain_rows="$DOCUMENTS"
)

use_variant() {
    local pulse=DISABLE lean=DISABLE supa=DISABLE
    case "$1" in pulse) pulse=ENABLE ;; lean) lean=ENABLE ;; supa) supa=ENABLE ;; esac
    psql_as postgres -c "ALTER TABLE documents.documents $pulse TRIGGER history_capture,
                         $lean TRIGGER bench_lean, $supa TRIGGER bench_supa_style" \
        -c "ALTER TABLE bench_baseline.plain_accounts $lean TRIGGER bench_lean, $supa TRIGGER bench_supa_style"
}

# ALTER SYSTEM statements, one per line, that put checkpoint_timeout and max_wal_size back as
# they are now (the cluster may be the caller's, and the harness runs other suites after).
RESTORE_CHECKPOINTS="$(psql_db postgres -At -c "SELECT CASE WHEN sourcefile LIKE '%/postgresql.auto.conf'
        THEN format('ALTER SYSTEM SET %s = %L', name, setting || coalesce(unit, ''))
        ELSE format('ALTER SYSTEM RESET %s', name) END
    FROM pg_settings WHERE name IN ('checkpoint_timeout', 'max_wal_size')")"
restore_checkpoints() {
    local statement
    while IFS= read -r statement; do psql_db postgres -c "$statement"; done <<<"$RESTORE_CHECKPOINTS"
    psql_db postgres -c 'SELECT pg_reload_conf()' -c CHECKPOINT >/dev/null
}
trap restore_checkpoints EXIT
psql_db postgres -c "ALTER SYSTEM SET checkpoint_timeout = '1d'" -c "ALTER SYSTEM SET max_wal_size = '64GB'" \
    -c 'SELECT pg_reload_conf()' -c CHECKPOINT >/dev/null

# The variants in the order of round $1: reversed every other round. Sets ORDER.
round_order() {
    ORDER=("${VARIANTS[@]}")
    (($1 % 2)) && return
    local i
    ORDER=()
    for ((i = ${#VARIANTS[@]} - 1; i >= 0; i--)); do ORDER+=("${VARIANTS[i]}"); done
}
# One pgbench run of a workload with a variant's trigger on. Prints "tps latency_ms
# transactions wal_bytes_per_transaction". $1: synchronous_commit, $2: workload, $3: variant.
run_variant() {
    local role=bench_app
    [[ "$2" == update_owner || "$2" == update_plain ]] && role=postgres
    use_variant "$3"
    PGOPTIONS="-c synchronous_commit=$1" pgbench_run "$role" "bench/pgbench/audit_$2.sql" "${DEFINES[@]}"
}
declare -A tps latency wal
for sync in on off; do
    for round in $(seq 0 "$BENCH_ROUNDS"); do
        say "synchronous_commit = ${sync}, round ${round}/${BENCH_ROUNDS}$( ((round)) || echo ' (not recorded)')"
        round_order "$round"
        for workload in "${WORKLOADS[@]}"; do
            for variant in "${ORDER[@]}"; do
                [[ "$workload/$variant" == update_plain/pulse ]] && continue
                read -r t l _ w < <(run_variant "$sync" "$workload" "$variant")
                ((round)) || continue
                tps[$sync/$workload/$variant]+="$t "
                latency[$sync/$workload/$variant]+="$l "
                wal[$sync/$workload/$variant]+="$w "
            done
        done
    done
done
# The third pass: every run of the durable single-row UPDATE starts right after a checkpoint,
# so that it writes the full-page image of every page it is the first to change since.
for round in $(seq "$BENCH_ROUNDS"); do
    say "synchronous_commit = on, each run after a checkpoint, round ${round}/${BENCH_ROUNDS}"
    round_order "$round"
    for variant in "${ORDER[@]}"; do
        psql_db postgres -c CHECKPOINT
        read -r t _ _ w < <(run_variant on update "$variant")
        tps[checkpoint/update/$variant]+="$t "
        wal[checkpoint/update/$variant]+="$w "
    done
done
use_variant pulse
problems="$(value "SELECT count(*) FROM audit.verify()")"
[[ "$problems" == 0 ]] || die "audit.verify() found ${problems} broken links in the history the runs wrote"

rows_of() { [[ $1 == insert1000 ]] && echo 1000 || echo 1; }
label() { case "$1" in update) echo "single-row UPDATE" ;; insert) echo "single-row INSERT" ;; insert1000) echo "1000-row INSERT" ;; esac; }
commit_label() { [[ $1 == on ]] && echo durable || echo "CPU-bound"; }
# Added microseconds per row of a variant in each round: its latency minus the same
# round's latency without a trigger, per row written.
added() { # $1: key prefix sync/workload, $2: variant
    paste -d ' ' <(tr ' ' '\n' <<<"${latency[$1/$2]}" | grep .) <(tr ' ' '\n' <<<"${latency[$1/none]}" | grep .) |
        awk -v rows="$(rows_of "${1#*/}")" '{ printf "%s ", ($1 - $2) * 1000 / rows }'
}
# The issue's targets (issue 4) by measurement.
throughput_target() { # $1: sync, $2: workload
    case "$1/$2" in
        on/update | on/insert) echo ">= 0.9" ;;
        off/update | */insert1000) echo ">= 0.6" ;;
    esac
}
for sync in on off; do
    for workload in update insert insert1000; do
        key="$sync/$workload" what="$(label "$workload"), $(commit_label "$sync")"
        target=() supa_target=()
        [[ -n "$(throughput_target "$sync" "$workload")" ]] && target=(--target "$(throughput_target "$sync" "$workload")")
        [[ "$key" == off/update ]] && supa_target=(--target ">= 3.5")
        record --name "${what}: pulse / no trigger" --variant pulse --baseline "no trigger" --unit tps \
            --values "${tps[$key/pulse]}" --baseline-values "${tps[$key/none]}" --ratio variant/baseline \
            "${target[@]}"
        for other in lean supa; do
            record --name "${what}: ${other} / no trigger" --variant "$other" --baseline "no trigger" --unit tps \
                --values "${tps[$key/$other]}" --baseline-values "${tps[$key/none]}" --ratio variant/baseline
        done
        record --name "${what}: pulse / supa_audit-style" --variant pulse --baseline "supa_audit-style" --unit tps \
            --values "${tps[$key/pulse]}" --baseline-values "${tps[$key/supa]}" --ratio variant/baseline \
            "${supa_target[@]}"
        record --name "${what}: added µs per row, pulse / lean PL/pgSQL" --variant pulse --baseline "lean PL/pgSQL" \
            --unit "µs per row" --values "$(added "$key" pulse)" --baseline-values "$(added "$key" lean)" \
            --ratio variant/baseline --target "<= 0.5"
        # WAL does not depend on synchronous_commit: the durable pass reports it.
        if [[ "$sync" == on ]]; then
            for variant in pulse lean supa; do
                record --name "$(label "$workload"): WAL bytes per transaction, ${variant} / no trigger" \
                    --variant "$variant" --baseline "no trigger" --unit "bytes per transaction" \
                    --values "${wal[$key/$variant]}" --baseline-values "${wal[$key/none]}" --ratio variant/baseline
            done
        fi
    done
done
# The calibrations: what each trigger keeps of the owner's unaudited UPDATE and of pgbench's
# UPDATE of a plain table (the issue measured supa_audit at 0.51 and 0.17 and the lean trigger
# at 0.90 and 0.59 on its transaction), and pulse with everything on (authentication,
# row-level security, capture) against the owner's UPDATE with no trigger.
for sync in on off; do
    key="$sync/update_owner" what="single-row UPDATE by the table's owner, $(commit_label "$sync")"
    for variant in pulse lean supa; do
        record --name "${what}: ${variant} / no trigger" --variant "$variant" --baseline "no trigger" --unit tps \
            --values "${tps[$key/$variant]}" --baseline-values "${tps[$key/none]}" --ratio variant/baseline
    done
    record --name "${what}: pulse / supa_audit-style" --variant pulse --baseline "supa_audit-style" --unit tps \
        --values "${tps[$key/pulse]}" --baseline-values "${tps[$key/supa]}" --ratio variant/baseline
    record --name "single-row UPDATE, $(commit_label "$sync"): pulse with everything on / the owner's UPDATE with no trigger" \
        --variant pulse --baseline "owner, no trigger" --unit tps \
        --values "${tps[$sync/update/pulse]}" --baseline-values "${tps[$key/none]}" --ratio variant/baseline
    key="$sync/update_plain"
    for variant in lean supa; do
        record --name "pgbench's UPDATE of a plain table, $(commit_label "$sync"): ${variant} / no trigger" \
            --variant "$variant" --baseline "no trigger" --unit tps \
            --values "${tps[$key/$variant]}" --baseline-values "${tps[$key/none]}" --ratio variant/baseline
    done
done
# The third pass: what each trigger keeps when every run starts right after a checkpoint, and
# pulse's WAL there (mostly full-page images). No target: the targets are read without
# checkpoints, as docs/benchmarks.md explains.
what="single-row UPDATE, durable, each run right after a checkpoint"
for variant in pulse lean supa; do
    record --name "${what}: ${variant} / no trigger" --variant "$variant" --baseline "no trigger" --unit tps \
        --values "${tps[checkpoint/update/$variant]}" --baseline-values "${tps[checkpoint/update/none]}" \
        --ratio variant/baseline
done
record --name "${what}: WAL bytes per transaction, pulse / no trigger" --variant pulse --baseline "no trigger" \
    --unit "bytes per transaction" --values "${wal[checkpoint/update/pulse]}" \
    --baseline-values "${wal[checkpoint/update/none]}" --ratio variant/baseline
