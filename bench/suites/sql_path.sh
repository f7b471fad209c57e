#!/usr/bin/env bash
# SQL path suite (issue 10), run by bench/run.sh: what pulse pays for the tables Citus
# manages, which it reads and appends to through SQL instead of through the local relation
# (src/through_sql.rs, decision log D47). Measured without Citus by turning
# pulse.direct_access off for the database (the same code path), against it on:
#   - pulse.authenticate and the policy helpers per call, inside the server
#     (bench/sql/identity_calls.sql);
#   - a point lookup under row-level security and an audited single-row UPDATE, durable
#     (bench/pgbench/point_rls.sql, scale_update.sql), as the application role, 2 clients.
# The two settings alternate within each round (on off, off on, ...).
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
source "$PULSE_ROOT/bench/access_data.sh"

if [[ "$BENCH_QUICK" == 1 ]]; then PROJECTS=10 CALLS=200; else PROJECTS=200 CALLS=5000; fi
record_scale "$((PROJECTS * 50)) documents (50 per project); the reader is an editor in 10 projects"
load_access_data "$PROJECTS"
doc_count="$(value "SELECT cardinality('${READER_DOCS}'::bigint[])")"

HELPERS=(pulse.authenticate pulse.caller_project_ids pulse.caller_all_projects_from pulse.caller_is_auditor)
OPERATIONS=(point_rls scale_update)
declare -A results
for round in $(seq "$BENCH_ROUNDS"); do
    order=(on off)
    ((round % 2)) || order=(off on)
    for access in "${order[@]}"; do
        say "pulse.direct_access = ${access}, round ${round}/${BENCH_ROUNDS}"
        # New connections take the database's setting; the application role cannot set it.
        psql_as postgres -c "ALTER DATABASE bench SET pulse.direct_access = ${access}"
        while read -r name us; do
            [[ " ${HELPERS[*]} " == *" $name "* ]] && results[$access/$name]+="$us "
        done < <(helper_calls "$CALLS")
        for operation in "${OPERATIONS[@]}"; do
            read -r _ l _ < <(pgbench_run bench_app "bench/pgbench/$operation.sql" -D token="$TOKEN" -D doc="$DOC" \
                -D docs="$READER_DOCS" -D doc_count="$doc_count")
            results[$access/$operation]+="$(awk -v l="$l" 'BEGIN { print l * 1000 }') "
        done
    done
done
psql_as postgres -c "ALTER DATABASE bench RESET pulse.direct_access"
problems="$(value "SELECT count(*) FROM audit.verify()")"
[[ "$problems" == 0 ]] || die "audit.verify() found ${problems} broken links in the history the runs wrote"

label() {
    case "$1" in
        point_rls) echo "point lookup under row-level security" ;;
        scale_update) echo "audited single-row UPDATE, durable" ;;
        *) echo "$1 per call" ;;
    esac
}
unit() { [[ $1 == pulse.* ]] && echo "µs per call" || echo "µs per transaction"; }
for measure in "${HELPERS[@]}" "${OPERATIONS[@]}"; do
    record --name "$(label "$measure"): SQL path / direct" --variant "direct_access off" \
        --baseline "direct_access on" --unit "$(unit "$measure")" \
        --values "${results[off/$measure]}" --baseline-values "${results[on/$measure]}" --ratio variant/baseline
done
