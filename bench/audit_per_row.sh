#!/usr/bin/env bash
# Audit capture's added cost per row (issue 4), without pgbench: one backend runs an N-row
# INSERT and an N-row UPDATE of documents as an authenticated editor, with no audit trigger,
# pulse's capture and the lean PL/pgSQL to_jsonb trigger in turn (ROUNDS times each,
# interleaved; bench/sql/audit_baselines.sql). Each statement is measured by the CPU time
# the backend spent on it (/proc/self/schedstat, read through pg_read_file): unlike the
# clock, it does not count time the shared machine gave to other processes. Prints the
# medians and the added µs per row. It isolates capture from client round trips and commit,
# which the throughput ratios of the audit suite (bench/suites/audit.sh) include.
#
# With REV (a git revision), pulse's capture as built from REV runs as a fourth variant, on
# the same cluster and data: that build's library replaces this one's between runs (the
# cluster preloads nothing, so every new connection loads the library then present). Both
# builds must share their SQL (capture's triggers and tables); only the code differs.
#   ./bench/audit_per_row.sh [ROUNDS] [ROWS] [REV]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROUNDS="${1:-5}"
ROWS="${2:-3000}"
REV="${3:-}"

bench_cluster audit_per_row 55602

VARIANTS=(none pulse lean)
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

# One round: the INSERT and the UPDATE in one transaction (rolled back, so every round starts
# from the same table), each measured by the backend's CPU time; prints "insert_ms update_ms".
round() {
    psql_as bench_app -At -v rows="$ROWS" -v token="$TOKEN" -v project="$PROJECT" <<'SQL'
BEGIN;
SELECT pulse.authenticate(:'token') IS NOT NULL AS authenticated \gset
SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS t0 \gset
INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,
                                 checksum_sha256, priority_id, phase_id)
SELECT :project, 'Bulk ' || i, 'bulk.pdf', (SELECT filetype_id FROM pulse.filetype_reference WHERE code = 'pdf'),
       (SELECT storage_id FROM pulse.storage_reference WHERE code = 'bench'), 'p/bulk/' || i, i,
       encode(sha256(convert_to('bulk/' || i, 'UTF8')), 'hex'),
       (SELECT priority_id FROM pulse.priority_reference WHERE code = 'medium'),
       (SELECT phase_id FROM pulse.phase_reference WHERE code = 'build')
  FROM generate_series(1, :rows) i;
SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS t1 \gset
UPDATE documents.documents SET title = title || ' (edited)'
 WHERE project_id = :project AND document_id IN (SELECT document_id FROM documents.documents
                                                   WHERE project_id = :project ORDER BY document_id LIMIT :rows);
SELECT round((:t1 - :t0) / 1e6, 3) || ' ' ||
       round((split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - :t1) / 1e6, 3);
ROLLBACK;
SQL
}

use_variant() {
    local pulse=DISABLE lean=DISABLE
    case "$1" in pulse | other) pulse=ENABLE ;; lean) lean=ENABLE ;; esac
    use_library "$1"
    psql_as postgres -c "ALTER TABLE documents.documents $pulse TRIGGER history_capture,
                         $lean TRIGGER bench_lean, DISABLE TRIGGER bench_supa_style"
}

declare -A insert_ms update_ms
for r in $(seq "$ROUNDS"); do
    say "Round ${r}/${ROUNDS}"
    order=("${VARIANTS[@]}")
    # Every other round in reverse, so that no variant always follows the same one.
    if ((r % 2 == 0)); then mapfile -t order < <(printf '%s\n' "${VARIANTS[@]}" | tac); fi
    for variant in "${order[@]}"; do
        use_variant "$variant"
        read -r i u < <(round)
        insert_ms[$variant]+="$i " update_ms[$variant]+="$u "
        # The rolled-back rows would otherwise pile up, dead, in front of the next run.
        psql_as postgres -c "VACUUM documents.documents, documents.document_revision,
                             audit.document_history, audit.document_chain, bench_baseline.lean_log"
    done
done
use_variant pulse

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
say "Results (medians of ${ROUNDS} interleaved rounds, ${ROWS} rows per statement, backend CPU time)"
other_head="" other_rule=""
[[ -n "$REV" ]] && other_head=" pulse at ${REV}, ms | its added µs/row |" other_rule="---|---|"
printf '| statement | no trigger, ms | pulse, ms | lean, ms | pulse added µs/row | lean added µs/row | pulse / lean |%s\n' "$other_head"
printf '|---|---|---|---|---|---|---|%s\n' "$other_rule"
for statement in insert update; do
    declare -n times="${statement}_ms"
    awk -v s="$statement" -v none="$(med "${times[none]}")" -v pulse="$(med "${times[pulse]}")" \
        -v lean="$(med "${times[lean]}")" -v other="$([[ -n "$REV" ]] && med "${times[other]}")" \
        -v n="$ROWS" 'BEGIN {
        p = (pulse - none) * 1000 / n; l = (lean - none) * 1000 / n
        printf "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f |", s, none, pulse, lean, p, l, (l > 0 ? p / l : 0)
        if (other != "") printf " %.1f | %.1f |", other, (other - none) * 1000 / n
        printf "\n" }'
    unset -n times
done
