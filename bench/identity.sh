#!/usr/bin/env bash
# Identity and row-level security benchmarks (issue 3), on a throwaway cluster:
#   - pulse.authenticate and the policy helpers per call, inside the server (target for
#     authenticate: under 10 us);
#   - a user's documents (1M documents in 20k projects, the user in 10 of them) and a point
#     lookup, through pulse (authenticate + row-level security, as the application role)
#     against the same work written by hand without row-level security (session check and
#     membership filter, as the table owner). Target: at most 1.2x.
# pgbench, 2 clients, prepared statements; the scripts run interleaved, ROUNDS times each,
# and the medians are reported.
#   ./bench/identity.sh [ROUNDS] [SECONDS_PER_RUN]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROUNDS="${1:-5}"
SECONDS_PER_RUN="${2:-5}"

bench_cluster identity 55600

say "Loading 20,000 projects and 1,000,000 documents (bench/sql/rls_data.sql)"
psql_as postgres -c 'CREATE EXTENSION pulse' -f bench/sql/rls_data.sql \
    -c 'CREATE ROLE bench_app LOGIN' -c "SELECT pulse.grant_application_role('bench_app')" >/dev/null
READER="$(psql_as postgres -At -c "SELECT user_id FROM users.users WHERE email = 'reader@bench.example'")"
TOKEN="$(psql_as postgres -At -c "SELECT token FROM users.open_session(${READER})")"
# A document in one of the reader's projects, in the middle of it.
DOC="$(psql_as postgres -At -c "SELECT d.document_id FROM documents.documents d
    WHERE d.project_id = (SELECT min(project_id) FROM projects.project_member WHERE user_id = ${READER})
    ORDER BY d.document_id OFFSET 25 LIMIT 1")"

tps() { # $1: role, $2: script name
    pgbench -n -M prepared -c 2 -j 2 -T "$SECONDS_PER_RUN" -h 127.0.0.1 -p "$PORT" -U "$1" \
        -D token="$TOKEN" -D uid="$READER" -D doc="$DOC" -f "bench/pgbench/$2.sql" bench 2>/dev/null |
        awk '/^tps/ { print $3 }'
}

declare -A results
for round in $(seq "$ROUNDS"); do
    say "Round ${round}/${ROUNDS}"
    for pair in postgres:list_hand bench_app:list_rls postgres:point_hand bench_app:point_rls; do
        results[${pair#*:}]+="$(tps "${pair%%:*}" "${pair#*:}") "
    done
    while read -r name us; do
        results[$name]+="$us "
    done < <(PGOPTIONS="-c bench.token=${TOKEN}" psql_as bench_app -f bench/sql/identity_calls.sql 2>&1 |
        awk '/NOTICE:  call / { print $(NF - 1), $NF }')
done

med() { tr ' ' '\n' <<<"${results[$1]}" | grep . | median; }
say "Results (medians of ${ROUNDS} interleaved rounds, ${SECONDS_PER_RUN} s each, 2 clients)"
printf '| measurement | by hand, tps | pulse, tps | pulse time / by-hand time | target |\n|---|---|---|---|---|\n'
for q in list point; do
    hand="$(med "${q}_hand")" rls="$(med "${q}_rls")"
    printf '| %s | %s | %s | %.2f | <= 1.2 |\n' "$q" "$hand" "$rls" "$(awk -v h="$hand" -v r="$rls" 'BEGIN { print h / r }')"
done
printf '\n| function | microseconds per call, median | runs | target |\n|---|---|---|---|\n'
for f in pulse.authenticate pulse.current_user_id pulse.caller_project_ids pulse.caller_all_projects_from pulse.caller_is_auditor; do
    printf '| `%s` | %s | %s | %s |\n' "$f" "$(med "$f")" "${results[$f]% }" "$([[ $f == pulse.authenticate ]] && echo '< 10' || echo '')"
done
