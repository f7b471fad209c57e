#!/usr/bin/env bash
# Audit capture's added cost per row (issue 4), without pgbench: one backend runs an N-row
# INSERT and an N-row UPDATE of documents as an authenticated editor (each in a transaction
# that is rolled back, so that every run starts from the same table), with no trigger,
# pulse's capture, the lean PL/pgSQL to_jsonb trigger (bench/sql/audit_baselines.sql) and a
# PL/pgSQL trigger that does nothing (what any AFTER ROW trigger costs before it records
# anything) in turn, ROUNDS times each, interleaved. It isolates capture from client round
# trips and commit, which the throughput ratios of the audit suite (bench/suites/audit.sh)
# include. Two measures:
#
# - By default, the CPU time the backend spent on each statement (/proc/self/schedstat, read
#   through pg_read_file): unlike the clock, it leaves out time the shared machine gave to
#   other processes, but it still moves by a fifth from run to run here.
# - With --instructions, the instructions the statement's AFTER triggers executed (those
#   under AfterTriggerEndQuery, where every variant's trigger runs, with the table's own
#   triggers and foreign-key checks), counted by valgrind (callgrind) with the cluster running
#   under it. The whole statement's count moves with where its rows land (whether an update
#   is HOT, for one); the triggers' count does not, so one round is enough. It leaves out
#   queuing the trigger events (the no-op variant shows that what remains of a trigger's
#   fixed cost is small), what the kernel does for the backend (writing out pages) and cache
#   misses; and valgrind does not execute the CPU's SHA-256 instructions, so pulse's hashing
#   runs in software there and counts several times what it costs on the real CPU. Each
#   statement runs twice, with ROWS/4 and ROWS rows, and the difference per row leaves out
#   what a statement costs whatever its size (first catalog reads, plan compilation). About
#   50 times slower than the CPU-time measure.
#
# With REV (a git revision), pulse's capture as built from REV runs as a further variant, on
# the same cluster and data: that build's library replaces this one's between runs (the
# cluster preloads nothing, so every new connection loads the library then present). Both
# builds must share their SQL (capture's triggers and tables); only the code differs.
#   ./bench/audit_per_row.sh [--instructions] [ROUNDS] [ROWS] [REV]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MEASURE=cpu
if [[ "${1:-}" == --instructions ]]; then MEASURE=instructions; shift; fi
ROUNDS="${1:-5}"
ROWS="${2:-3000}"
REV="${3:-}"

[[ $MEASURE == instructions ]] && ensure_debian_packages valgrind
bench_cluster audit_per_row 55602

VARIANTS=(none no_op pulse lean)
if [[ -n "$REV" ]]; then
    LIBRARY="$("$PG_CONFIG" --pkglibdir)/pulse.so"
    BUILDS="$(mktemp -d)"
    say "Building pulse at ${REV} (release, library only)"
    git worktree add --detach "$BUILDS/tree" "$REV" >/dev/null
    (cd "$BUILDS/tree" && CARGO_TARGET_DIR="$BUILDS/target" cargo build --release --lib --quiet)
    cp "$LIBRARY" "$BUILDS/this.so"
    cp "$BUILDS/target/release/libpulse.so" "$BUILDS/other.so"
    git worktree remove --force "$BUILDS/tree"
    trap 'install -m 755 "$BUILDS/this.so" "$LIBRARY"; rm -rf "$BUILDS"; stop_cluster "$DIR"' EXIT
    VARIANTS+=(other)
fi
# The library of variant $1 in place, replaced atomically (a new file, never rewritten).
use_library() {
    [[ -n "$REV" ]] || return 0
    install -m 755 "$BUILDS/$([[ $1 == other ]] && echo other || echo this).so" "$LIBRARY"
}

say "Loading 100,000 documents (bench/sql/audit_data.sql)"
psql_as postgres -v documents=100000 -c 'CREATE EXTENSION pulse' -f bench/sql/audit_data.sql -f bench/sql/audit_baselines.sql \
    -c "SELECT pulse.grant_application_role('bench_app')" \
    -c "GRANT pg_read_server_files TO bench_app" -c "GRANT EXECUTE ON FUNCTION pg_read_file(text) TO bench_app" >/dev/null
WRITER="$(value "SELECT user_id FROM users.users WHERE email = 'writer@bench.example'")"
TOKEN="$(value "SELECT token FROM users.open_session(${WRITER})")"
PROJECT="$(value "SELECT project_id FROM projects.projects WHERE name = 'Bench'")"

# The two measured statements, with psql variables :project and :rows.
INSERT_SQL="INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key,
                                 size_bytes, checksum_sha256, priority_id, phase_id)
SELECT :project, 'Bulk ' || i, 'bulk.pdf', (SELECT filetype_id FROM pulse.filetype_reference WHERE code = 'pdf'),
       (SELECT storage_id FROM pulse.storage_reference WHERE code = 'bench'), 'p/bulk/' || i, i,
       encode(sha256(convert_to('bulk/' || i, 'UTF8')), 'hex'),
       (SELECT priority_id FROM pulse.priority_reference WHERE code = 'medium'),
       (SELECT phase_id FROM pulse.phase_reference WHERE code = 'build')
  FROM generate_series(1, :rows) i;"
UPDATE_SQL="UPDATE documents.documents SET title = title || ' (edited)'
 WHERE project_id = :project AND document_id IN (SELECT document_id FROM documents.documents
                                                   WHERE project_id = :project ORDER BY document_id LIMIT :rows);"

# One round by CPU time: the INSERT and the UPDATE in one transaction; prints
# "insert_ms update_ms".
cpu_round() {
    psql_as bench_app -At -v rows="$ROWS" -v token="$TOKEN" -v project="$PROJECT" <<SQL
BEGIN;
SELECT pulse.authenticate(:'token') IS NOT NULL AS authenticated \\gset
SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS t0 \\gset
${INSERT_SQL}
SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS t1 \\gset
${UPDATE_SQL}
SELECT round((:t1 - :t0) / 1e6, 3) || ' ' ||
       round((split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - :t1) / 1e6, 3);
ROLLBACK;
SQL
}

# The cluster again, under callgrind, which counts instructions only inside PortalRun (a
# statement's execution), one output file per backend, kept in $COUNTS for callgrind_annotate.
start_under_valgrind() {
    if [[ -z "$DIR" ]]; then
        echo "--instructions restarts the cluster: it needs a throwaway one, not a running one" >&2
        exit 1
    fi
    COUNTS="${DIR}-callgrind"
    stop_cluster "$DIR"
    rm -rf "$COUNTS"
    install -d -o postgres "$COUNTS"
    runuser -u postgres -- env -u RUST_BACKTRACE valgrind --tool=callgrind --trace-children=yes \
        --toggle-collect=PortalRun --callgrind-out-file="$COUNTS/callgrind.%p" \
        "$PG_BIN/postgres" -D "$DIR" -c autovacuum=off >"$COUNTS/valgrind.log" 2>&1 &
    for _ in $(seq 300); do "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && return 0; sleep 1; done
    echo "the cluster did not start under valgrind: $COUNTS/valgrind.log" >&2
    exit 1
}

# The instructions the AFTER triggers of statement $1 executed with $2 rows (with those of
# the session's authentication, the same for every size).
session_instructions() {
    local pid
    pid="$(psql_as bench_app -At -v rows="$2" -v token="$TOKEN" -v project="$PROJECT" <<SQL
BEGIN;
SELECT pulse.authenticate(:'token') IS NOT NULL AS authenticated \\gset
SELECT pg_backend_pid();
$1
ROLLBACK;
SQL
)" || exit 1
    # The backend writes its counts when it exits, just after the session ends.
    local waited=0 count
    until grep -q '^totals:' "$COUNTS/callgrind.$pid" 2>/dev/null; do
        ((waited++ < 120)) || { echo "backend ${pid} wrote no complete callgrind file in 120 s" >&2; exit 1; }
        sleep 1
    done
    count="$(callgrind_annotate --inclusive=yes --threshold=100 "$COUNTS/callgrind.$pid" |
        awk '/:AfterTriggerEndQuery \[/ && !found { gsub(",", "", $1); print $1; found = 1 }')"
    # An empty count would read as 0 in the arithmetic below and pass for a measurement.
    [[ -n "$count" ]] || { echo "no AfterTriggerEndQuery in backend ${pid}'s callgrind file" >&2; exit 1; }
    echo "$count"
}

# One round by instructions; prints "insert update", instructions per row.
instructions_round() {
    local small=$((ROWS / 4)) statement a b
    for statement in "$INSERT_SQL" "$UPDATE_SQL"; do
        a="$(session_instructions "$statement" "$small")" || exit 1
        b="$(session_instructions "$statement" "$ROWS")" || exit 1
        printf '%s ' "$(((b - a) / (ROWS - small)))"
    done
    echo
}

use_variant() {
    local pulse=DISABLE lean=DISABLE no_op=DISABLE
    case "$1" in pulse | other) pulse=ENABLE ;; lean) lean=ENABLE ;; no_op) no_op=ENABLE ;; esac
    use_library "$1"
    psql_as postgres -c "ALTER TABLE documents.documents $pulse TRIGGER history_capture,
                         $lean TRIGGER bench_lean, $no_op TRIGGER bench_no_op, DISABLE TRIGGER bench_supa_style"
}

[[ $MEASURE == instructions ]] && start_under_valgrind
# Per variant, the measurements of each round: ms per statement, or instructions per row.
declare -A insert update
for r in $(seq "$ROUNDS"); do
    say "Round ${r}/${ROUNDS}"
    order=("${VARIANTS[@]}")
    # Every other round in reverse, so that no variant always follows the same one.
    if ((r % 2 == 0)); then mapfile -t order < <(printf '%s\n' "${VARIANTS[@]}" | tac); fi
    for variant in "${order[@]}"; do
        use_variant "$variant"
        read -r i u < <("${MEASURE}_round")
        [[ -n "${u:-}" ]] || { echo "the ${variant} run failed" >&2; exit 1; }
        insert[$variant]+="$i " update[$variant]+="$u "
        # The rolled-back rows would otherwise pile up, dead, in front of the next run.
        psql_as postgres -c "VACUUM documents.documents, documents.document_revision,
                             audit.document_history, audit.document_chain, bench_baseline.lean_log"
    done
done
use_variant pulse

# Per row: µs of CPU time, or thousands of instructions.
if [[ $MEASURE == cpu ]]; then
    unit="µs" per_row="1000 / $ROWS" what="backend CPU time"
else
    unit="k instructions" per_row="1 / 1000" what="instructions of the AFTER triggers, counted by callgrind"
fi
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
say "Results (medians of ${ROUNDS} interleaved rounds, ${ROWS} rows per statement, ${what}; per row in ${unit})"
other_head="" other_rule=""
[[ -n "$REV" ]] && other_head=" pulse at ${REV} | it adds |" other_rule="---|---|"
# The "beyond the no-op" column leaves out what the no-op trigger costs: what pulse and lean
# record, by itself.
printf '| statement | no trigger | no-op trigger | pulse | lean | no-op adds | pulse adds | lean adds | pulse / lean | beyond the no-op: pulse / lean |%s\n' "$other_head"
printf '|---|---|---|---|---|---|---|---|---|---|%s\n' "$other_rule"
for statement in insert update; do
    declare -n measured="$statement"
    awk -v s="$statement" -v none="$(med "${measured[none]}")" -v no_op="$(med "${measured[no_op]}")" \
        -v pulse="$(med "${measured[pulse]}")" -v lean="$(med "${measured[lean]}")" \
        -v other="$([[ -n "$REV" ]] && med "${measured[other]}")" 'BEGIN {
        f = '"$per_row"'; none *= f; no_op *= f; pulse *= f; lean *= f
        o = no_op - none; p = pulse - none; l = lean - none
        printf "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f |", s, none, no_op, pulse, lean,
               o, p, l, (l > 0 ? p / l : 0), (l > o ? (p - o) / (l - o) : 0)
        if (other != "") printf " %.1f | %.1f |", other * f, other * f - none
        printf "\n" }'
    unset -n measured
done
