#!/usr/bin/env bash
# Documents benchmarks (issue 5), on a throwaway cluster:
#   - presigned URLs: pulse.s3_presign in SQL against botocore's generate_presigned_url on
#     the same machine, for a GET and for a PUT with a signed checksum and content type
#     (targets: at most 5 us per URL in SQL, at least 50x botocore);
#   - SHA-256 of 32 B, 8 KiB and 1 MiB values: pulse.sha256_bytes and pulse.sha256_hex
#     against the built-in sha256() (and encode(sha256(), 'hex')) and pgcrypto's digest()
#     (target: at least as fast as both).
# The SQL side is timed inside the server (bench/sql/documents_data.sql: clock_timestamp()
# around `SELECT count(f(...)) FROM <rows>`, after a warm-up, no client in the measurement),
# minus baselines doing the same without the function (making the keys; reading the values).
# The botocore side is timed with timeit in one Python process per round
# (bench/presign_botocore.py), the client made beforehand. A round runs every contestant
# once; SQL and Python alternate which goes first, and the SQL contestants alternate order.
# Medians of ROUNDS rounds are reported.
#   ./bench/documents.sh [ROUNDS] [PRESIGN_URLS_SQL] [PRESIGN_URLS_BOTOCORE]
# PULSE_BENCH_NO_INSTALL=1 PULSE_BENCH_PORT=<port>: use the pulse installed in the system
# PostgreSQL and a running cluster on 127.0.0.1:<port> (its database "bench" is dropped and
# made again) instead of building, installing and starting a throwaway cluster.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROUNDS="${1:-7}"
SQL_URLS="${2:-100000}"
BOTOCORE_URLS="${3:-2000}"

if [[ -n "${PULSE_BENCH_NO_INSTALL:-}" ]]; then
    PORT="${PULSE_BENCH_PORT:?PULSE_BENCH_NO_INSTALL needs PULSE_BENCH_PORT}"
    say "Using the installed pulse and the cluster on 127.0.0.1:${PORT} (database bench made anew)"
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
        -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench'
else
    bench_cluster documents 55602
fi
ensure_venv "$PULSE_ROOT/tests/requirements.txt"
PYTHON="$PULSE_ROOT/.venv/bin/python"
"$PYTHON" -c 'import botocore' 2>/dev/null || { echo "botocore is not in .venv (tests/requirements.txt)" >&2; exit 1; }

say "Loading 100,000 x 32 B, 20,000 x 8 KiB and 200 x 1 MiB random values (bench/sql/documents_data.sql)"
psql_as postgres -c 'CREATE EXTENSION pulse' -f bench/sql/documents_storage.sql -f bench/sql/documents_data.sql >/dev/null
value() { psql_as postgres -At -c "$1"; }
missing="$(value "SELECT string_agg(f, ', ') FROM unnest(ARRAY['pulse.s3_presign', 'pulse.sha256_hex', 'pulse.sha256_bytes']) f
                  WHERE to_regproc(f) IS NULL")"
[[ -n "$missing" ]] && say "Not in the installed pulse, left out: ${missing}"

# Equal work: pulse's URLs must be botocore's, byte for byte, for the same inputs and time.
same_urls="n/a (no pulse.s3_presign)"
if [[ "$missing" != *s3_presign* ]]; then
    pulse_urls="$(value "SELECT pulse.s3_presign('bench', 'GET', 'p1/sha256/' || h, 3600, '2026-01-01 00:00:00+00')
                          || E'\n' || pulse.s3_presign('bench', 'PUT', 'p1/sha256/' || h, 3600, '2026-01-01 00:00:00+00',
                                                       h, 'application/pdf')
                           FROM (SELECT lpad(to_hex(1), 64, '0') AS h) s")"
    botocore_urls="$("$PYTHON" bench/presign_botocore.py --check)"
    if [[ "$pulse_urls" == "$botocore_urls" ]]; then
        same_urls="yes, identical GET and PUT URLs at a fixed time"
    else
        same_urls="NO: pulse and botocore sign differently, see above"
        printf 'pulse:\n%s\nbotocore:\n%s\n' "$pulse_urls" "$botocore_urls" >&2
    fi
fi

# Contestant -> its baseline in the same round.
baseline_of() {
    case "$1" in
        */baseline | */read) ;;
        presign/*) echo presign/baseline ;;
        botocore/*) echo botocore/baseline ;;
        *) echo "${1%%/*}/read" ;;
    esac
}
declare -A results # name -> per-round microseconds; "name net" -> minus the round's baseline
record_round() {   # standard input: "name microseconds" lines of one round
    local -A round=()
    local name us base
    while read -r name us; do round[$name]="$us"; done
    for name in "${!round[@]}"; do
        results[$name]+="${round[$name]} "
        base="$(baseline_of "$name")"
        if [[ -n "$base" && -n "${round[$base]:-}" ]]; then
            results[$name net]+="$(awk -v a="${round[$name]}" -v b="${round[$base]}" 'BEGIN { print a - b }') "
        fi
    done
}
sql_round() { psql_as postgres -At -F ' ' -c "SELECT name, us_per_row FROM bench.run_round($1, ${SQL_URLS})"; }
botocore_round() { "$PYTHON" bench/presign_botocore.py "$BOTOCORE_URLS"; }

for round in $(seq "$ROUNDS"); do
    say "Round ${round}/${ROUNDS}"
    if ((round % 2)); then
        record_round < <(sql_round "$round"; botocore_round)
    else
        record_round < <(botocore_round; sql_round "$round")
    fi
done

med() { [[ -n "${results[$1]:-}" ]] && tr ' ' '\n' <<<"${results[$1]}" | grep . | median || true; }
say "Results (medians of ${ROUNDS} interleaved rounds; ${SQL_URLS} URLs per SQL run, ${BOTOCORE_URLS} per botocore run)"
printf '| request | pulse, µs/URL | pulse net, µs/URL | pulse net, URLs/s | botocore, µs/URL | botocore net, µs/URL | botocore / pulse, net | botocore / pulse, raw |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for request in get put; do
    awk -v r="$request" -v p="$(med "presign/$request")" -v pn="$(med "presign/$request net")" \
        -v b="$(med "botocore/$request")" -v bn="$(med "botocore/$request net")" 'BEGIN {
        label = (r == "get") ? "GET" : "PUT, checksum and content type signed"
        if (p == "") { printf "| %s | n/a | | | %.1f | %.1f | | |\n", label, b, bn; exit }
        printf "| %s | %.2f | %.2f | %.0f | %.1f | %.1f | %.0f | %.0f |\n", label, p, pn, 1e6 / pn, b, bn, bn / pn, b / p }'
done
printf '\nBaselines subtracted ("net"): SQL %s µs per row (making the key), Python %s µs per call.\n' \
    "$(med presign/baseline)" "$(med botocore/baseline)"
printf 'pulse URLs equal to botocore'"'"'s: %s. Targets: pulse net <= 5 µs/URL, botocore / pulse >= 50.\n' "$same_urls"

printf '\n| size | function | µs per value | MB/s | MB/s net of reading | this time / pulse time | same, net of reading |\n'
printf '|---|---|---|---|---|---|---|\n'
for size in 32 8k 1m; do
    case "$size" in 32) bytes=32 label='32 B' ;; 8k) bytes=8192 label='8 KiB' ;; 1m) bytes=1048576 label='1 MiB' ;; esac
    for f in read pulse.sha256_bytes sha256 digest pulse.sha256_hex 'encode(sha256)' 'encode(digest)'; do
        case "$f" in read) ref= ;; pulse.* ) ref=self ;; encode*) ref=pulse.sha256_hex ;; *) ref=pulse.sha256_bytes ;; esac
        t="$(med "$size/$f")"
        [[ -z "$t" ]] && { printf '| %s | `%s` | n/a | | | | |\n' "$label" "$f"; continue; }
        awk -v label="$label" -v f="$f" -v bytes="$bytes" -v ref="$ref" -v t="$t" -v tn="$(med "$size/$f net")" \
            -v rt="$([[ -n "$ref" && "$ref" != self ]] && med "$size/$ref")" \
            -v rtn="$([[ -n "$ref" && "$ref" != self ]] && med "$size/$ref net")" 'BEGIN {
            name = (f == "read") ? "read only: `get_byte(data, 0)`" : "`" f "`"
            if (f ~ /^digest|\(digest/) name = name " (pgcrypto)"
            net = (f == "read") ? "" : sprintf("%.0f", bytes / tn)
            ratio = (ref == "" || ref == "self" || rt == "") ? (ref == "self" ? "1" : "") : sprintf("%.2f", t / rt)
            ratio_net = (ref == "" || ref == "self" || rtn == "") ? (ref == "self" ? "1" : "") : sprintf("%.2f", tn / rtn)
            printf "| %s | %s | %.3f | %.0f | %s | %s | %s |\n", label, name, t, bytes / t, net, ratio, ratio_net }'
    done
done
printf '\n"this time / pulse time" compares each built-in with pulse in the same form (bytes or hex): above 1, pulse is faster.\n'
