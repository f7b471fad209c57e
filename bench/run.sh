#!/usr/bin/env bash
# The benchmark harness (issue 9): one throwaway cluster with durable settings (fsync and
# synchronous_commit on; the write suites make a second pass with synchronous_commit = off,
# the CPU-bound case), the suites run one after the other on it, each loading its data at a
# stated scale and running every variant interleaved with its baseline (A B A B ...,
# pgbench -M prepared, 2 clients), then bench/report.py writes the results.
#
#   ./bench/run.sh [--quick] [--suites audit,access,...] [--rounds N] [--seconds S]
#                  [--out FILE] [--page | --no-page]
#
#   --quick      every suite once at a tiny scale, a few transactions per run: checks that the
#                harness works (the test suite runs it), measures nothing worth reading
#   --suites     a comma-separated subset of the suites in bench/suites/ (default: all of them)
#   --rounds     interleaved rounds (default 5; quick: 1)
#   --seconds    seconds per pgbench run (default 5)
#   --out        the results JSON (default bench/results/full.json, quick: bench/results/quick.json)
#   --page       write the generated part of docs/benchmarks.md and docs/benchmarks.svg (the
#                default in full mode); --no-page: only the JSON (the default in quick mode)
#
# The environment of bench/common.sh applies: PG_CONFIG/PG_BIN (another PostgreSQL 15 to
# install into and run), PULSE_BENCH_NO_INSTALL=1 (no build: the installed pulse, and the
# running cluster on PULSE_BENCH_PORT if one answers), PULSE_BENCH_PORT, PULSE_BENCH_DIR.
#
# A suite is bench/suites/<name>.sh, run with bash once the cluster is up. It reads PORT,
# BENCH_QUICK (0 or 1), BENCH_ROUNDS, BENCH_SECONDS; makes the database "bench" anew
# (bench_database), loads its data, and records its scale (record_scale) and each
# measurement (record, bench/measurement.py) as JSON lines into BENCH_OUT.

# The exact command, with what the caller set of the environment (read before
# scripts/common.sh fills in its defaults).
COMMAND="./bench/run.sh${*:+ $*}"
for var in PULSE_BENCH_NO_INSTALL PULSE_BENCH_PORT PULSE_BENCH_DIR PG_BIN PG_CONFIG; do
    if [[ -n "${!var:-}" ]]; then COMMAND="${var}=${!var} ${COMMAND}"; fi
done
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

QUICK=0 ROUNDS="" SECONDS_PER_RUN=5 OUT="" PAGE="" WANTED=""
while (($#)); do
    case "$1" in
        --quick) QUICK=1 ;;
        --suites) WANTED="${2:?--suites needs a list}"; shift ;;
        --rounds) ROUNDS="${2:?--rounds needs a number}"; shift ;;
        --seconds) SECONDS_PER_RUN="${2:?--seconds needs a number}"; shift ;;
        --out) OUT="${2:?--out needs a file}"; shift ;;
        --page) PAGE=1 ;;
        --no-page) PAGE=0 ;;
        -h | --help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see ./bench/run.sh --help)" ;;
    esac
    shift
done
if ((QUICK)); then
    ROUNDS="${ROUNDS:-1}" OUT="${OUT:-bench/results/quick.json}" PAGE="${PAGE:-0}" MODE=quick
else
    ROUNDS="${ROUNDS:-5}" OUT="${OUT:-bench/results/full.json}" PAGE="${PAGE:-1}" MODE=full
fi

# The suites in the order the page shows them, then any other suite file.
ALL=()
for name in audit access documents history scale discovery sql_path; do
    [[ -f "bench/suites/$name.sh" ]] && ALL+=("$name")
done
for file in bench/suites/*.sh; do
    name="$(basename "$file" .sh)"
    [[ " ${ALL[*]} " == *" $name "* ]] || ALL+=("$name")
done
if [[ -n "$WANTED" ]]; then
    IFS=, read -r -a SUITES <<<"$WANTED"
    for name in "${SUITES[@]}"; do
        [[ -f "bench/suites/$name.sh" ]] || die "no suite $name (bench/suites/ has: ${ALL[*]})"
    done
else
    SUITES=("${ALL[@]}")
fi

bench_cluster harness 55610
WORK="$(mktemp -d /tmp/bench-run.XXXXXX)"
cleanup() {
    if [[ -n "$DIR" ]]; then stop_cluster "$DIR"; else drop_bench_database; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
LINES="$WORK/measurements.jsonl"
: >"$LINES"

export PORT BENCH_QUICK="$QUICK" BENCH_ROUNDS="$ROUNDS" BENCH_SECONDS="$SECONDS_PER_RUN" BENCH_OUT="$LINES"
declare -A ELAPSED
for suite in "${SUITES[@]}"; do
    say "Suite ${suite} (${MODE}, ${ROUNDS} rounds)"
    started="$(date +%s)"
    BENCH_SUITE="$suite" bash "bench/suites/$suite.sh"
    ELAPSED[$suite]=$(($(date +%s) - started))
done

# What the results were measured on.
elapsed_json="$(for s in "${SUITES[@]}"; do printf '"%s": %s\n' "$s" "${ELAPSED[$s]}"; done | paste -sd, -)"
cat >"$WORK/meta.json" <<JSON
{
  "command": $(python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$COMMAND"),
  "mode": "$MODE",
  "rounds": $ROUNDS,
  "seconds_per_run": $(if ((QUICK)); then echo null; else echo "$SECONDS_PER_RUN"; fi),
  "suites": [$(printf '"%s",' "${SUITES[@]}" | sed 's/,$//')],
  "suite_seconds": {${elapsed_json}},
  "finished_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "cpu": $(python3 -c 'import json; print(json.dumps(next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")))'),
  "cores": $(nproc),
  "ram_gib": $(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo),
  "os": $(python3 -c 'import json, platform; print(json.dumps(platform.freedesktop_os_release().get("PRETTY_NAME", "") + ", Linux " + platform.release()))'),
  "postgresql": $(python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$(psql_db postgres -At -c 'SELECT version()')"),
  "cluster_settings": $(python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$(psql_db postgres -At -F '=' -c "SELECT string_agg(name || ' = ' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'wal_level', 'max_wal_size', 'shared_preload_libraries')")"),
  "pulse_commit": "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src core sql Cargo.toml Cargo.lock pulse.control || echo '+changes')",
  "pulse_build": "$([[ -n "${PULSE_BENCH_NO_INSTALL:-}" ]] && echo "the installed build (not rebuilt)" || echo "release, built by this run")",
  "rust": "$(rustc --version 2>/dev/null || echo unknown)",
  "pgrx": "$(cargo pgrx --version 2>/dev/null || echo unknown)"
}
JSON

say "Report"
report=(python3 bench/report.py --measurements "$LINES" --meta "$WORK/meta.json" --out "$OUT")
((PAGE)) && report+=(--page docs/benchmarks.md --svg docs/benchmarks.svg)
"${report[@]}"
