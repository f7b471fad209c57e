#!/usr/bin/env bash
# Audit capture's added time per row (issue 4), without pgbench: one backend runs an N-row
# INSERT and an N-row UPDATE of documents as an authenticated editor, with no audit trigger,
# pulse's capture and the lean PL/pgSQL to_jsonb trigger in turn (ROUNDS times each,
# interleaved; bench/sql/audit_baselines.sql), timed by the server
# (clock_timestamp() around each statement). Prints the medians and the added µs per row.
# It isolates capture from client round trips and commit, which the throughput ratios of
# the audit suite (bench/suites/audit.sh) include.
#   ./bench/audit_per_row.sh [ROUNDS] [ROWS]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROUNDS="${1:-5}"
ROWS="${2:-3000}"

bench_cluster audit_per_row 55602

say "Loading 100,000 documents (bench/sql/audit_data.sql)"
psql_as postgres -v documents=100000 -c 'CREATE EXTENSION pulse' -f bench/sql/audit_data.sql -f bench/sql/audit_baselines.sql \
    -c "SELECT pulse.grant_application_role('bench_app')" >/dev/null
WRITER="$(value "SELECT user_id FROM users.users WHERE email = 'writer@bench.example'")"
TOKEN="$(value "SELECT token FROM users.open_session(${WRITER})")"
PROJECT="$(value "SELECT project_id FROM projects.projects WHERE name = 'Bench'")"

# One round: the INSERT and the UPDATE in one transaction (rolled back, so every round starts
# from the same table), each timed in the server; prints "insert_ms update_ms".
round() {
    psql_as bench_app -At -v rows="$ROWS" -v token="$TOKEN" -v project="$PROJECT" <<'SQL'
BEGIN;
SELECT pulse.authenticate(:'token') IS NOT NULL AS authenticated \gset
SELECT clock_timestamp() AS t0 \gset
INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,
                                 checksum_sha256, priority_id, phase_id)
SELECT :project, 'Bulk ' || i, 'bulk.pdf', (SELECT filetype_id FROM pulse.filetype_reference WHERE code = 'pdf'),
       (SELECT storage_id FROM pulse.storage_reference WHERE code = 'bench'), 'p/bulk/' || i, i,
       encode(sha256(convert_to('bulk/' || i, 'UTF8')), 'hex'),
       (SELECT priority_id FROM pulse.priority_reference WHERE code = 'medium'),
       (SELECT phase_id FROM pulse.phase_reference WHERE code = 'build')
  FROM generate_series(1, :rows) i;
SELECT clock_timestamp() AS t1 \gset
UPDATE documents.documents SET title = title || ' (edited)'
 WHERE project_id = :project AND document_id IN (SELECT document_id FROM documents.documents
                                                   WHERE project_id = :project ORDER BY document_id LIMIT :rows);
SELECT round(extract(epoch FROM (:'t1'::timestamptz - :'t0'::timestamptz)) * 1000, 3) || ' ' ||
       round(extract(epoch FROM (clock_timestamp() - :'t1'::timestamptz)) * 1000, 3);
ROLLBACK;
SQL
}

VARIANTS=(none pulse lean)
use_variant() {
    local pulse=DISABLE lean=DISABLE
    case "$1" in pulse) pulse=ENABLE ;; lean) lean=ENABLE ;; esac
    psql_as postgres -c "ALTER TABLE documents.documents $pulse TRIGGER history_capture,
                         $lean TRIGGER bench_lean, DISABLE TRIGGER bench_supa_style"
}

declare -A insert_ms update_ms
for r in $(seq "$ROUNDS"); do
    say "Round ${r}/${ROUNDS}"
    for variant in "${VARIANTS[@]}"; do
        use_variant "$variant"
        read -r i u < <(round)
        insert_ms[$variant]+="$i " update_ms[$variant]+="$u "
    done
done
use_variant pulse

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
say "Results (medians of ${ROUNDS} interleaved rounds, ${ROWS} rows per statement)"
printf '| statement | no trigger, ms | pulse, ms | lean, ms | pulse added µs/row | lean added µs/row | pulse / lean |\n'
printf '|---|---|---|---|---|---|---|\n'
for statement in insert update; do
    declare -n times="${statement}_ms"
    awk -v s="$statement" -v none="$(med "${times[none]}")" -v pulse="$(med "${times[pulse]}")" \
        -v lean="$(med "${times[lean]}")" -v n="$ROWS" 'BEGIN {
        p = (pulse - none) * 1000 / n; l = (lean - none) * 1000 / n
        printf "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f |\n", s, none, pulse, lean, p, l, (l > 0 ? p / l : 0) }'
    unset -n times
done
