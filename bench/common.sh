# shellcheck shell=bash
# Shared by the benchmark scripts: a release build of pulse on a throwaway cluster with a
# database "bench", stopped when the script exits; helpers to load data, run pgbench and
# record measurements.
#
# Environment (all optional):
#   PG_CONFIG, PG_BIN        the PostgreSQL 15 to install into and run (default: the system one)
#   PULSE_BENCH_NO_INSTALL=1 use the pulse already installed there instead of building one
#   PULSE_BENCH_PORT         the port; with PULSE_BENCH_NO_INSTALL=1 and a server answering
#                            there, that running cluster is used (its database "bench" is
#                            dropped and made again) instead of a throwaway one
#   PULSE_BENCH_DIR          where throwaway clusters live (default /tmp/pulse-bench)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
cd "$PULSE_ROOT"

# $1: the benchmark's name (its cluster directory), $2: default port. Sets PORT and DIR.
bench_cluster() {
    PORT="${PULSE_BENCH_PORT:-$2}"
    DIR="${PULSE_BENCH_DIR:-/tmp/pulse-bench}/$1"
    if [[ -n "${PULSE_BENCH_NO_INSTALL:-}" ]] && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
        say "Using the installed pulse and the running cluster on 127.0.0.1:${PORT}"
        DIR=""
    else
        if [[ -z "${PULSE_BENCH_NO_INSTALL:-}" ]]; then
            ensure_debian_packages
            ensure_cargo_pgrx
            install_extension release
        fi
        say "Starting a throwaway cluster in $DIR on 127.0.0.1:${PORT}"
        install -d "$(dirname "$DIR")"
        start_cluster "$DIR" "$PORT"
        trap 'stop_cluster "$DIR"' EXIT
    fi
    bench_database
}

# The database "bench", made anew, and the login role bench_app. The role is the cluster's:
# on a running cluster it may be left from an earlier run, and it is dropped only by
# drop_bench_database.
bench_database() {
    psql_db postgres -c 'DROP DATABASE IF EXISTS bench WITH (FORCE)' -c 'CREATE DATABASE bench' \
        -c "DO \$\$ BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_app') THEN CREATE ROLE bench_app LOGIN; END IF;
            END \$\$"
}

# Leaves a running cluster as it was found (the test suite's, for one).
drop_bench_database() {
    psql_db postgres -c 'DROP DATABASE IF EXISTS bench WITH (FORCE)' -c 'DROP ROLE IF EXISTS bench_app'
}

# $1: database; the rest: psql arguments, as postgres.
psql_db() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$1" "${@:2}"; }
# $1: role; the rest: psql arguments.
psql_as() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$1" -d bench "${@:2}"; }
# Suites run under bench/run.sh, which exports PORT.
PORT="${PORT:-}"
# One value of a query run as postgres in "bench".
value() { psql_as postgres -At -c "$1"; }

# How long each pgbench run lasts: BENCH_SECONDS seconds, or in quick mode a few
# transactions per client (enough to exercise the script, not to time it).
pgbench_length() {
    if [[ "${BENCH_QUICK:-0}" == 1 ]]; then echo "-t 3"; else echo "-T ${BENCH_SECONDS:-5}"; fi
}

# One pgbench run in "bench", 2 clients, prepared statements. $1: role, $2: script path; the
# rest: more pgbench arguments (-D ...). PGOPTIONS passes settings such as synchronous_commit.
# Prints "tps latency_ms transactions wal_bytes_per_transaction". The WAL is the difference of
# pg_current_wal_lsn() around the run (the cluster's, so it includes whatever else wrote).
pgbench_run() {
    local role="$1" script="$2" before after out
    before="$(psql_db postgres -At -c 'SELECT pg_current_wal_lsn()')"
    # shellcheck disable=SC2046 # pgbench_length is two words on purpose
    out="$("$PG_BIN/pgbench" -n -M prepared -c 2 -j 2 $(pgbench_length) -h 127.0.0.1 -p "$PORT" -U "$role" \
        "${@:3}" -f "$script" bench 2>&1)" || { printf '%s\n' "$out" >&2; return 1; }
    after="$(psql_db postgres -At -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$before')")"
    awk -v wal="$after" '/^latency average/ { lat = $4 } /^tps/ { tps = $3 }
        /^number of transactions actually processed/ { split($0, f, ": "); split(f[2], n, "/"); txn = n[1] }
        END { if (tps == "" || txn == 0) exit 1; printf "%s %s %s %.1f\n", tps, lat, txn, wal / txn }' <<<"$out"
}

# Records one measurement: a JSON line appended to BENCH_OUT (bench/measurement.py, stdlib
# only, computes median, min, max, the ratio and whether the target is met; its arguments).
record() {
    python3 "$PULSE_ROOT/bench/measurement.py" --suite "$BENCH_SUITE" "$@" >>"${BENCH_OUT:?run the suites through bench/run.sh}"
}

# Records the scale the suite ran at, in words, for the page.
record_scale() {
    python3 -c 'import json, sys; print(json.dumps({"suite": sys.argv[1], "scale": sys.argv[2]}, ensure_ascii=False))' \
        "$BENCH_SUITE" "$1" >>"${BENCH_OUT:?run the suites through bench/run.sh}"
}

# The median of the numbers on standard input, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
