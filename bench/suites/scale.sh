#!/usr/bin/env bash
# Scale suite (issue 9), run by bench/run.sh: the cost of the main operations at three data
# sizes (full: 10k, 100k and 1M documents, 50 per project; quick: 500, 1k, 2k), so that the
# page shows how each grows:
#   - pulse.authenticate per call (inside the server, bench/sql/identity_calls.sql);
#   - listing the reader's documents and a point lookup under row-level security
#     (bench/pgbench/list_rls.sql, point_rls.sql);
#   - an audited single-row UPDATE of one of the reader's documents, durable
#     (bench/pgbench/scale_update.sql).
# Transactions as the application role, 2 pgbench clients; reported per size as
# microseconds per transaction (pgbench's average latency), and the growth from the
# smallest to the largest size. The reader is an editor in 10 projects at every size, so
# the work per transaction is the same and only the data around it grows.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
source "$PULSE_ROOT/bench/access_data.sh"

if [[ "$BENCH_QUICK" == 1 ]]; then
    PROJECT_SIZES=(10 20 40) CALLS=200
else
    PROJECT_SIZES=(200 2000 20000) CALLS=20000
fi
sizes_in_documents="$(for p in "${PROJECT_SIZES[@]}"; do printf '%s ' $((p * 50)); done)"
record_scale "${sizes_in_documents% } documents (50 per project, 1,000 users); the reader is an editor in 10 projects"

OPERATIONS=(list_rls point_rls scale_update)
declare -A results
for projects in "${PROJECT_SIZES[@]}"; do
    load_access_data "$projects"
    doc_count="$(value "SELECT cardinality('${READER_DOCS}'::bigint[])")"
    for round in $(seq "$BENCH_ROUNDS"); do
        say "$((projects * 50)) documents, round ${round}/${BENCH_ROUNDS}"
        order=("${OPERATIONS[@]}")
        ((round % 2)) || order=(scale_update point_rls list_rls)
        for operation in "${order[@]}"; do
            read -r _ l _ < <(pgbench_run bench_app "bench/pgbench/$operation.sql" -D token="$TOKEN" -D doc="$DOC" \
                -D docs="$READER_DOCS" -D doc_count="$doc_count")
            results[$projects/$operation]+="$(awk -v l="$l" 'BEGIN { print l * 1000 }') "
        done
        while read -r name us; do
            [[ "$name" == pulse.authenticate ]] && results[$projects/authenticate]+="$us "
        done < <(helper_calls "$CALLS")
    done
done

label() {
    case "$1" in
        authenticate) echo "pulse.authenticate per call" ;;
        list_rls) echo "list the reader's 500 documents" ;;
        point_rls) echo "point lookup" ;;
        scale_update) echo "audited single-row UPDATE, durable" ;;
    esac
}
unit() { [[ $1 == authenticate ]] && echo "µs per call" || echo "µs per transaction"; }
for operation in authenticate "${OPERATIONS[@]}"; do
    for projects in "${PROJECT_SIZES[@]}"; do
        record --name "$(label "$operation") at $((projects * 50)) documents" --variant "$operation" \
            --unit "$(unit "$operation")" --values "${results[$projects/$operation]}"
    done
    first="${PROJECT_SIZES[0]}" last="${PROJECT_SIZES[-1]}"
    record --name "$(label "$operation"): time at $((last * 50)) / time at $((first * 50)) documents" \
        --variant "$((last * 50)) documents" --baseline "$((first * 50)) documents" --unit "$(unit "$operation")" \
        --values "${results[$last/$operation]}" --baseline-values "${results[$first/$operation]}" --ratio variant/baseline
done
