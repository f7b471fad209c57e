#!/usr/bin/env bash
# Access suite (issue 3), run by bench/run.sh:
#   - pulse.authenticate and the policy helpers per call, inside the server (target for
#     authenticate: under 10 us);
#   - a user's documents (1M documents in 20k projects, the user in 10 of them; quick: 1k in
#     20) and a point lookup, through pulse (authenticate + row-level security, as the
#     application role) against the same work written by hand without row-level security
#     (session check and membership filter, as the table owner). Target: pulse time / by-hand
#     time at most 1.2.
# In a round each pair runs by hand then through pulse (the order swapped every other round),
# then the helpers are timed.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
source "$PULSE_ROOT/bench/access_data.sh"

PROJECTS=20000 CALLS=20000
[[ "$BENCH_QUICK" == 1 ]] && PROJECTS=20 CALLS=200
record_scale "$((PROJECTS * 50)) documents in ${PROJECTS} projects, 1,000 users; the reader is an editor in 10 projects ($((10 * 50)) documents); ${CALLS} calls per helper timing"
load_access_data "$PROJECTS"

declare -A results
for round in $(seq "$BENCH_ROUNDS"); do
    say "Round ${round}/${BENCH_ROUNDS}"
    pairs=(postgres:list_hand bench_app:list_rls postgres:point_hand bench_app:point_rls)
    ((round % 2)) || pairs=(bench_app:list_rls postgres:list_hand bench_app:point_rls postgres:point_hand)
    for pair in "${pairs[@]}"; do
        read -r t _ < <(pgbench_run "${pair%%:*}" "bench/pgbench/${pair#*:}.sql" -D token="$TOKEN" -D uid="$READER" -D doc="$DOC")
        results[${pair#*:}]+="$t "
    done
    while read -r name us; do
        results[$name]+="$us "
    done < <(helper_calls "$CALLS")
done

record --name "list a user's documents (500 of $((PROJECTS * 50))): pulse time / by-hand time" --variant "row-level security" \
    --baseline "by hand" --unit tps --values "${results[list_rls]}" --baseline-values "${results[list_hand]}" \
    --ratio baseline/variant --target "<= 1.2"
record --name "point lookup: pulse time / by-hand time" --variant "row-level security" --baseline "by hand" --unit tps \
    --values "${results[point_rls]}" --baseline-values "${results[point_hand]}" --ratio baseline/variant --target "<= 1.2"
record --name "pulse.authenticate per call" --variant pulse.authenticate --unit "µs per call" \
    --values "${results[pulse.authenticate]}" --target "< 10" \
    --note "a PL/pgSQL loop of calls minus the same loop around a trivial expression"
for helper in pulse.current_user_id pulse.caller_project_ids pulse.caller_all_projects_from pulse.caller_is_auditor; do
    record --name "${helper} per call" --variant "$helper" --unit "µs per call" --values "${results[$helper]}"
done
