#!/usr/bin/env bash
# Discovery suite (issue 7), run by bench/run.sh: the first page of a document search with
# its facets, through pulse (pulse.authenticate, documents.search_documents and
# documents.document_facets as the application role; row-level security filters) against the
# same queries written by hand without row-level security (as the table owner: the session
# check and `project_id = ANY (<the reader's 10 projects>)`). Target: pulse time / by-hand
# time at most 1.5 at 1M documents (the target is set on the largest size run). Two searches (bench/pgbench/discovery_*.sql):
#   - filtered: MIME categories, phases, a size range and custom_properties containment;
#   - words: words in titles and file names, ranked, and priorities.
# Data (bench/sql/discovery_data.sql): 50 documents per project, a user per 10 documents;
# the reader is an editor in 10 projects. Sizes: full 10k, 100k and 1M documents; quick 1k.
# Before timing, each size checks that the hand-written queries return every row and count
# pulse returns (equal work).
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

if [[ "$BENCH_QUICK" == 1 ]]; then SIZES=(1000); else SIZES=(10000 100000 1000000); fi
SEARCHES=(filtered words)
record_scale "$(printf '%s ' "${SIZES[@]}")documents (50 per project, a user per 10 documents); the reader is an editor in 10 projects"

# The rows a pgbench script returns as psql prints them, first four columns, sorted; the first
# statement (authentication) left out. $1: role, $2: script name.
output() {
    psql_as "$1" -At -v token="'${TOKEN}'" -v projects="'${PROJECTS}'" -f "bench/pgbench/discovery_$2.sql" |
        tail -n +2 | cut -d '|' -f 1-4 | sort
}

declare -A results
for size in "${SIZES[@]}"; do
    bench_database
    say "${size} documents: $((size / 50)) projects, $((size / 10)) users (bench/sql/discovery_data.sql)"
    psql_as postgres -c 'CREATE EXTENSION pulse' -v projects=$((size / 50)) -v users=$((size / 10)) \
        -f bench/sql/discovery_data.sql -c "SELECT pulse.grant_application_role('bench_app')" >/dev/null
    READER="$(value "SELECT user_id FROM users.users WHERE email = 'reader@bench.example'")"
    TOKEN="$(value "SELECT token FROM users.open_session(${READER})")"
    PROJECTS="$(value "SELECT array_agg(project_id ORDER BY project_id) FROM projects.project_member
                        WHERE user_id = ${READER}")"
    for search in "${SEARCHES[@]}"; do
        missing="$(comm -23 <(output bench_app "${search}_rls") <(output postgres "${search}_hand"))"
        [[ -z "$missing" ]] || die "pulse and the hand-written ${search} search differ, pulse has: ${missing}"
    done
    for round in $(seq "$BENCH_ROUNDS"); do
        say "${size} documents, round ${round}/${BENCH_ROUNDS}"
        pairs=(postgres:hand bench_app:rls)
        ((round % 2)) || pairs=(bench_app:rls postgres:hand)
        for search in "${SEARCHES[@]}"; do
            for pair in "${pairs[@]}"; do
                read -r t _ < <(pgbench_run "${pair%%:*}" "bench/pgbench/discovery_${search}_${pair#*:}.sql" \
                    -D token="$TOKEN" -D projects="$PROJECTS")
                results[$size/$search/${pair#*:}]+="$t "
            done
        done
    done
done

for size in "${SIZES[@]}"; do
    target=()
    [[ $size == "${SIZES[-1]}" ]] && target=(--target "<= 1.5")
    for search in "${SEARCHES[@]}"; do
        record --name "${search} search, first page with facets, ${size} documents: pulse time / by-hand time" \
            --variant "row-level security" --baseline "by hand" --unit tps --values "${results[$size/$search/rls]}" \
            --baseline-values "${results[$size/$search/hand]}" --ratio baseline/variant "${target[@]}"
    done
done
