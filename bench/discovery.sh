#!/usr/bin/env bash
# Discovery benchmark (issue 7), on a throwaway cluster: the first page of a document search
# with its facets, through pulse (pulse.authenticate, documents.search_documents and
# documents.document_facets as the application role; row-level security filters) against the
# same queries written by hand without row-level security (as the table owner: the session
# check and `project_id = ANY (<the reader's 10 projects>)`). Target: at most 1.5x at 1M
# documents. Two searches (bench/pgbench/discovery_*.sql):
#   - filtered: MIME categories, phases, a size range and custom_properties containment;
#   - words: words in titles and file names, ranked, and priorities.
# Data (bench/sql/discovery_data.sql): 50 documents per project, a user per 10 documents
# (1M documents: 20,000 projects, 100,000 users); the reader is an editor in 10 projects.
# pgbench, 2 clients, prepared statements; per size the four contestants run interleaved,
# ROUNDS times (the order alternates between rounds), and medians with min-max are reported.
#   ./bench/discovery.sh [ROUNDS] [SECONDS_PER_RUN]
# PULSE_BENCH_DISCOVERY_SIZES: the sizes in documents (default "10000 100000 1000000"; a quick
# run: PULSE_BENCH_DISCOVERY_SIZES="1000 5000" ./bench/discovery.sh 5 2).
# PULSE_BENCH_NO_INSTALL=1 PULSE_BENCH_PORT=<port>: use the installed pulse and a running
# cluster on 127.0.0.1:<port> (its database "bench" is dropped and made again per size).
# PG_BIN and PG_CONFIG in the environment: install into and run another PostgreSQL 15.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROUNDS="${1:-5}"
SECONDS_PER_RUN="${2:-5}"
read -r -a SIZES <<<"${PULSE_BENCH_DISCOVERY_SIZES:-10000 100000 1000000}"
SEARCHES=(filtered words)

if [[ -n "${PULSE_BENCH_NO_INSTALL:-}" ]]; then
    PORT="${PULSE_BENCH_PORT:?PULSE_BENCH_NO_INSTALL needs PULSE_BENCH_PORT}"
    say "Using the installed pulse and the cluster on 127.0.0.1:${PORT}"
else
    bench_cluster discovery 55603
fi
psql_on() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
psql_on -d postgres -c "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_app') THEN CREATE ROLE bench_app LOGIN; END IF;
END \$\$"

tps() { # $1: role, $2: script name
    "$PG_BIN/pgbench" -n -M prepared -c 2 -j 2 -T "$SECONDS_PER_RUN" -h 127.0.0.1 -p "$PORT" -U "$1" \
        -D token="$TOKEN" -D projects="$PROJECTS" -f "bench/pgbench/discovery_$2.sql" bench 2>/dev/null |
        awk '/^tps/ { print $3 }'
}
# The rows a pgbench script returns as psql prints them, first four columns, sorted; the first
# statement (authentication) left out.
output() { # $1: role, $2: script name
    "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$1" -d bench -v token="'${TOKEN}'" \
        -v projects="'${PROJECTS}'" -f "bench/pgbench/discovery_$2.sql" | tail -n +2 | cut -d '|' -f 1-4 | sort
}
med() { tr ' ' '\n' <<<"${results[$1]}" | grep . | median; }
range() { tr ' ' '\n' <<<"${results[$1]}" | grep . | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "–" hi }'; }

declare -A results
for size in "${SIZES[@]}"; do
    projects=$((size / 50)) users=$((size / 10))
    say "${size} documents: ${projects} projects, ${users} users (bench/sql/discovery_data.sql)"
    psql_on -d postgres -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench'
    psql_on -d bench -c 'CREATE EXTENSION pulse' -v projects="$projects" -v users="$users" \
        -f bench/sql/discovery_data.sql -c "SELECT pulse.grant_application_role('bench_app')" >/dev/null
    READER="$(psql_on -d bench -At -c "SELECT user_id FROM users.users WHERE email = 'reader@bench.example'")"
    TOKEN="$(psql_on -d bench -At -c "SELECT token FROM users.open_session(${READER})")"
    PROJECTS="$(psql_on -d bench -At -c "SELECT array_agg(project_id ORDER BY project_id) FROM projects.project_member
                                          WHERE user_id = ${READER}")"
    # Equal work: every document (id, project, its name, title) and every facet count pulse
    # returns, the hand-written queries return too (they fetch one row more: whether a next
    # page exists).
    for search in "${SEARCHES[@]}"; do
        missing="$(comm -23 <(output bench_app "${search}_rls") <(output postgres "${search}_hand"))"
        if [[ -n "$missing" ]]; then
            printf 'pulse and the hand-written %s search differ, pulse has:\n%s\n' "$search" "$missing" >&2
            exit 1
        fi
    done
    for round in $(seq "$ROUNDS"); do
        say "${size} documents, round ${round}/${ROUNDS}"
        order=(hand rls)
        ((round % 2)) || order=(rls hand)
        for search in "${SEARCHES[@]}"; do
            for side in "${order[@]}"; do
                role=postgres
                [[ $side == rls ]] && role=bench_app
                results[$size $search $side]+="$(tps "$role" "${search}_${side}") "
            done
        done
    done
done
if [[ -n "${PULSE_BENCH_NO_INSTALL:-}" ]]; then
    psql_on -d postgres -c 'DROP DATABASE IF EXISTS bench'
fi

say "Results (medians of ${ROUNDS} interleaved rounds, ${SECONDS_PER_RUN} s each, 2 clients, min–max in brackets)"
printf '| documents | search | by hand, tps | pulse, tps | pulse ms per search | pulse time / by-hand time | target |\n'
printf '|---|---|---|---|---|---|---|\n'
for size in "${SIZES[@]}"; do
    for search in "${SEARCHES[@]}"; do
        hand="$(med "$size $search hand")" rls="$(med "$size $search rls")"
        awk -v size="$size" -v s="$search" -v h="$hand" -v r="$rls" -v hr="$(range "$size $search hand")" \
            -v rr="$(range "$size $search rls")" -v target="$([[ $size == 1000000 ]] && echo '<= 1.5')" 'BEGIN {
            printf "| %d | %s | %.0f (%s) | %.0f (%s) | %.2f | **%.2f** | %s |\n", size, s, h, hr, r, rr, 2000 / r, h / r, target }'
    done
done
