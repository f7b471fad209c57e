#!/usr/bin/env bash
# History suite (issues 4 and 9), run by bench/run.sh: how the cost of reading history grows
# with its size. At three sizes of audit.document_history (full: 100k, 1M and 10M rows;
# quick: 1k, 2k, 4k), with audit.project_history a tenth of that, it times, for a random
# entity of the whole history each transaction:
#   - audit.document_as_of and audit.project_as_of (the version of a time);
#   - audit.document_diff and audit.project_diff (versions 3 to 8);
# as an administrator through the application role (authenticate, row-level security on),
# minus the same transaction with only the authentication (the baseline, same round).
# The history is a captured seed (bench/sql/history_seed.sql: 10 versions per document and
# project) grown by copying it in bulk (bench/sql/history_grow.sql, clearly not captured
# history: see there). Reported: net microseconds per read at each size, and the growth
# from the smallest to the largest size.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

STRIDE=10000000 # copy c of entity id i is i + c * STRIDE
if [[ "$BENCH_QUICK" == 1 ]]; then
    SEED_DOCUMENTS=50 SEED_PROJECTS=4 SIZES=(1000 2000 4000)
else
    # A document history row with its snapshot and indexes takes about 1.4 kB: 10M rows need
    # about 15 GB of disk for the table and as much WAL passing through while it grows.
    SEED_DOCUMENTS=1000 SEED_PROJECTS=99 SIZES=(100000 1000000 10000000)
fi
VERSIONS=10
record_scale "audit.document_history at ${SIZES[*]} rows (audit.project_history a tenth): a seed of ${SEED_DOCUMENTS} documents and $((SEED_PROJECTS + 1)) projects with ${VERSIONS} captured versions each, copied in bulk (not captured) to each size"

bench_database
say "Seeding history through capture: ${SEED_DOCUMENTS} documents and $((SEED_PROJECTS + 1)) projects, ${VERSIONS} versions each"
psql_as postgres -v seed_documents="$SEED_DOCUMENTS" -v seed_projects="$SEED_PROJECTS" -c 'CREATE EXTENSION pulse' \
    -f bench/sql/history_seed.sql -c "SELECT pulse.grant_application_role('bench_app')" >/dev/null
HISTORIAN="$(value "SELECT user_id FROM users.users WHERE email = 'historian@bench.example'")"
TOKEN="$(value "SELECT token FROM users.open_session(${HISTORIAN})")"
DOCUMENTS_SEEDED="$(value "SELECT count(DISTINCT document_id) FROM audit.document_history")"
PROJECTS_SEEDED="$(value "SELECT count(DISTINCT project_id) FROM audit.project_history")"
DEFINES=(
    -D token="$TOKEN" -D stride="$STRIDE"
    -D first_doc="$(value "SELECT min(document_id) FROM audit.document_history")" -D seed_documents="$DOCUMENTS_SEEDED"
    -D first_project="$(value "SELECT min(project_id) FROM audit.project_history")" -D seed_projects="$PROJECTS_SEEDED"
    -D at="$(value "SELECT extract(epoch FROM changed_at) FROM audit.document_history WHERE version = 5 LIMIT 1")"
)
[[ "$(value "SELECT count(*) FROM audit.verify()")" == 0 ]] || die "the captured seed does not verify"
[[ "$(value "SELECT count(*) FROM audit.document_history")" == $((DOCUMENTS_SEEDED * VERSIONS)) ]] ||
    die "the seed does not have ${VERSIONS} versions per document"

READS=(document_as_of document_diff project_as_of project_diff)
declare -A net
copies_done=1
for size in "${SIZES[@]}"; do
    copies=$((size / (DOCUMENTS_SEEDED * VERSIONS)))
    ((copies >= copies_done)) || die "size ${size} is smaller than the seed"
    say "Growing audit.document_history to $((copies * DOCUMENTS_SEEDED * VERSIONS)) rows (bench/sql/history_grow.sql)"
    psql_as postgres -v first_copy="$copies_done" -v copies="$copies" -v stride="$STRIDE" -f bench/sql/history_grow.sql >/dev/null
    copies_done="$copies"
    rows="$(value "SELECT count(*) FROM audit.document_history")"
    entities=(-D document_entities=$((copies * DOCUMENTS_SEEDED)) -D project_entities=$((copies * PROJECTS_SEEDED)))
    for round in $(seq "$BENCH_ROUNDS"); do
        say "${rows} history rows, round ${round}/${BENCH_ROUNDS}"
        order=(auth "${READS[@]}")
        ((round % 2)) || order=(project_diff project_as_of document_diff document_as_of auth)
        declare -A latency=()
        for read in "${order[@]}"; do
            read -r _ l _ < <(pgbench_run bench_app "bench/pgbench/history_$read.sql" "${DEFINES[@]}" "${entities[@]}")
            latency[$read]="$l"
        done
        for read in "${READS[@]}"; do
            net[$size/$read]+="$(awk -v a="${latency[$read]}" -v b="${latency[auth]}" 'BEGIN { print (a - b) * 1000 }') "
        done
    done
    for read in "${READS[@]}"; do
        record --name "audit.${read} at ${rows} history rows" --variant "audit.${read}" --unit "µs per call" \
            --values "${net[$size/$read]}" --note "transaction latency minus an authenticate-only transaction, same round"
    done
done
first="${SIZES[0]}" last="${SIZES[-1]}"
for read in "${READS[@]}"; do
    record --name "audit.${read}: time at ${last} / time at ${first} history rows" --variant "${last} rows" \
        --baseline "${first} rows" --unit "µs per call" --values "${net[$last/$read]}" \
        --baseline-values "${net[$first/$read]}" --ratio variant/baseline
done
