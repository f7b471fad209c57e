#!/usr/bin/env bash
# Documents suite (issue 5), run by bench/run.sh:
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
# Needs botocore: the .venv of the integration tests (tests/requirements.txt).
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

if [[ "$BENCH_QUICK" == 1 ]]; then
    N32=1000 N8K=100 N1M=2 SQL_URLS=1000 BOTOCORE_URLS=50
else
    N32=100000 N8K=20000 N1M=200 SQL_URLS=100000 BOTOCORE_URLS=2000
fi
record_scale "presign: ${SQL_URLS} URLs per SQL run, ${BOTOCORE_URLS} per botocore run; SHA-256: ${N32} × 32 B, ${N8K} × 8 KiB, ${N1M} × 1 MiB random values"
ensure_venv "$PULSE_ROOT/tests/requirements.txt"
PYTHON="$PULSE_ROOT/.venv/bin/python"
"$PYTHON" -c 'import botocore' 2>/dev/null || die "botocore is not in .venv (tests/requirements.txt)"

bench_database
say "Loading ${N32} x 32 B, ${N8K} x 8 KiB and ${N1M} x 1 MiB random values (bench/sql/documents_data.sql)"
psql_as postgres -v n32="$N32" -v n8k="$N8K" -v n1m="$N1M" -c 'CREATE EXTENSION pulse' \
    -f bench/sql/documents_storage.sql -f bench/sql/documents_data.sql >/dev/null

# Equal work: pulse's URLs must be botocore's, byte for byte, for the same inputs and time.
pulse_urls="$(value "SELECT pulse.s3_presign('bench', 'GET', 'p1/sha256/' || h, 3600, '2026-01-01 00:00:00+00')
                      || E'\n' || pulse.s3_presign('bench', 'PUT', 'p1/sha256/' || h, 3600, '2026-01-01 00:00:00+00',
                                                   h, 'application/pdf')
                       FROM (SELECT lpad(to_hex(1), 64, '0') AS h) s")"
botocore_urls="$("$PYTHON" bench/presign_botocore.py --check)"
if [[ "$pulse_urls" != "$botocore_urls" ]]; then
    printf 'pulse:\n%s\nbotocore:\n%s\n' "$pulse_urls" "$botocore_urls" >&2
    die "pulse and botocore sign differently: the presign comparison would not be of equal work"
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

for round in $(seq "$BENCH_ROUNDS"); do
    say "Round ${round}/${BENCH_ROUNDS}"
    if ((round % 2)); then
        record_round < <(sql_round "$round"; botocore_round)
    else
        record_round < <(botocore_round; sql_round "$round")
    fi
done

for request in get put; do
    label="GET"
    [[ $request == put ]] && label="PUT (checksum and content type signed)"
    record --name "presign ${label}: pulse.s3_presign per URL, net" --variant pulse.s3_presign --unit "µs per URL" \
        --values "${results[presign/$request net]}" --target "<= 5" \
        --note "SQL, inside the server, minus the same statement making the keys without signing"
    record --name "presign ${label}: botocore time / pulse time, net" --variant pulse.s3_presign \
        --baseline "botocore generate_presigned_url" --unit "µs per URL" --values "${results[presign/$request net]}" \
        --baseline-values "${results[botocore/$request net]}" --ratio baseline/variant --target ">= 50"
done
for size in 32 8k 1m; do
    case "$size" in 32) label='32 B' ;; 8k) label='8 KiB' ;; 1m) label='1 MiB' ;; esac
    # Raw times (reading the value included, as a caller sees it): built-in time / pulse time.
    for builtin in sha256 digest; do
        name="sha256()" && [[ $builtin == digest ]] && name="pgcrypto digest()"
        record --name "SHA-256 ${label}: ${name} time / pulse.sha256_bytes time" --variant pulse.sha256_bytes \
            --baseline "$name" --unit "µs per value" --values "${results[$size/pulse.sha256_bytes]}" \
            --baseline-values "${results[$size/$builtin]}" --ratio baseline/variant --target ">= 1"
        record --name "SHA-256 ${label}, hex: encode(${name}) time / pulse.sha256_hex time" --variant pulse.sha256_hex \
            --baseline "encode(${name}, 'hex')" --unit "µs per value" --values "${results[$size/pulse.sha256_hex]}" \
            --baseline-values "${results[$size/encode($builtin)]}" --ratio baseline/variant
    done
    record --name "SHA-256 ${label}: reading the value alone (get_byte)" --variant read --unit "µs per value" \
        --values "${results[$size/read]}"
done
