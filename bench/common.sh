# shellcheck shell=bash
# Shared by the benchmark scripts: a release build of pulse on a throwaway cluster with a
# database "bench", stopped when the script exits.
# PG_BIN and PG_CONFIG set by the caller (another PostgreSQL 15, e.g. a relocated copy) win
# over the system PostgreSQL that scripts/common.sh names: the build is installed there and
# the clusters and clients come from there.
caller_pg_bin="${PG_BIN:-}" caller_pg_config="${PG_CONFIG:-}"
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
PG_BIN="${caller_pg_bin:-$PG_BIN}" PG_CONFIG="${caller_pg_config:-$PG_CONFIG}"
cd "$PULSE_ROOT"

# $1: the benchmark's name (its cluster directory), $2: default port.
bench_cluster() {
    PORT="${PULSE_BENCH_PORT:-$2}"
    DIR="${PULSE_BENCH_DIR:-/tmp/pulse-bench}/$1"
    ensure_debian_packages
    ensure_cargo_pgrx
    install_extension release
    say "Starting a throwaway cluster in $DIR on 127.0.0.1:${PORT}"
    start_cluster "$DIR" "$PORT"
    trap 'stop_cluster "$DIR"' EXIT
    "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c 'CREATE DATABASE bench'
}

# $1: role; the rest: psql arguments.
psql_as() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$1" -d bench "${@:2}"; }

# The median of the numbers on standard input, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
