#!/usr/bin/env bash
# Runs the whole test suite; installs what it needs first (skipping what is present).
#   ./scripts/test.sh
# Stages: formatting and lints, Rust unit tests and in-database #[pg_test]s (cargo pgrx
# test), then the extension is installed and packed into a tarball (scripts/package.sh), the
# previous release's install script (frozen in sql/released/) is installed beside it, and a
# throwaway cluster runs the SQL golden tests (pg_regress, on a fresh and on an upgraded
# database) and the integration tests (pytest).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$PULSE_ROOT"

PORT="${PULSE_TEST_PORT:-55499}"
S3_PORT="${PULSE_TEST_S3_PORT:-55498}"
WORK="${PULSE_TEST_DIR:-/tmp/pulse-test}"
# The release this one upgrades from (sql/pulse--<previous>--<this>.sql).
PREVIOUS_RELEASE=0.1.0

# Graphviz renders the ER diagram the tests compare with docs/er-diagram.svg (with the font it
# was drawn in).
ensure_debian_packages graphviz fonts-liberation2
ensure_cargo_pgrx
ensure_venv "$PULSE_ROOT/tests/requirements.txt"
ensure_s3s_fs

# A test run builds each feature set once: incremental caches would only take disk.
export CARGO_INCREMENTAL=0

say "cargo fmt --check"
cargo fmt --all --check

say "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

say "Pure-logic unit tests (cargo test -p pulse-core)"
cargo test -p pulse-core

say "In-database #[pg_test]s (cargo pgrx test)"
install -d -o postgres -g postgres "$WORK"
rm -rf "$WORK/pgrx-data"
install -d -o postgres -g postgres -m 700 "$WORK/pgrx-data"
cargo pgrx test pg${PG_MAJOR} --runas postgres --pgdata "$WORK/pgrx-data"

# cargo pgrx test installed a build with the test-only schema; replace it with the real one.
install_extension debug

# tests/integration/test_upgrade.py and the upgraded golden run below install the previous
# release first, from its install script as released (sql/released/).
say "Installing the install script of release ${PREVIOUS_RELEASE} (sql/released/)"
install_released_install_script "$PREVIOUS_RELEASE"

# tests/integration/test_package.py installs this tarball into a clean copy of PostgreSQL. A
# debug build reuses what install_extension just compiled (a release build costs minutes).
say "Packing pulse into a tarball (scripts/package.sh --debug)"
PACKAGE="$("$PULSE_ROOT/scripts/package.sh" --debug --pg-config "$PG_CONFIG" --out-dir "$WORK/package")"

say "Starting a throwaway cluster on 127.0.0.1:${PORT}"
trap 'stop_cluster "$WORK/cluster"; stop_s3s_fs "$WORK/s3"' EXIT
# pg_stat_statements observes the statements pulse runs itself (tests/integration/test_identity.py);
# pulse preloaded keeps the session monitor in shared memory (tests/integration/test_session_monitor.py).
start_cluster "$WORK/cluster" "$PORT" pulse,pg_stat_statements

say "SQL golden tests (pg_regress)"
rm -rf "$WORK/regress" && install -d -o postgres "$WORK/regress"
# pg_regress runs as postgres, who may not be able to read the checkout (a clone in a
# private directory): it reads a copy.
cp -r "$PULSE_ROOT/tests/regress" "$WORK/regress/input" && chown -R postgres "$WORK/regress/input"
psql_test() { "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
tests=$(cd tests/regress/sql && ls -- *.sql | sed 's/\.sql$//' | sort)
golden() { # $1: database
    # shellcheck disable=SC2086
    runuser -u postgres -- "$PG_BIN/../lib/pgxs/src/test/regress/pg_regress" \
        --use-existing --host=127.0.0.1 --port="$PORT" --user=postgres \
        --inputdir="$WORK/regress/input" --outputdir="$WORK/regress" \
        --dbname="$1" $tests \
        || { cat "$WORK/regress/regression.diffs" 2>/dev/null; exit 1; }
}
psql_test -d postgres -c 'CREATE DATABASE pulse_regress'
psql_test -d pulse_regress -c 'CREATE EXTENSION pulse'
golden pulse_regress

say "SQL golden tests on a database upgraded from ${PREVIOUS_RELEASE} (ALTER EXTENSION pulse UPDATE)"
psql_test -d postgres -c 'CREATE DATABASE pulse_regress_upgraded'
psql_test -d pulse_regress_upgraded -c "CREATE EXTENSION pulse VERSION '${PREVIOUS_RELEASE}'" \
    -c 'ALTER EXTENSION pulse UPDATE'
golden pulse_regress_upgraded

say "Starting a throwaway S3 server (s3s-fs) on 127.0.0.1:${S3_PORT}"
# tests/integration/test_documents_s3.py uploads and downloads through pulse's presigned URLs.
S3_ACCESS_KEY="pulse-test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
S3_SECRET_KEY="$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')"
start_s3s_fs "$WORK/s3" "$S3_PORT" "$S3_ACCESS_KEY" "$S3_SECRET_KEY"

pytest_run() { # $@: pytest arguments
    PULSE_TEST_DSN="host=127.0.0.1 port=${PORT} user=postgres dbname=postgres" \
    PULSE_PG_BIN="$PG_BIN" \
    PULSE_TEST_S3_ENDPOINT="http://127.0.0.1:${S3_PORT}" \
    PULSE_TEST_S3_ACCESS_KEY="$S3_ACCESS_KEY" \
    PULSE_TEST_S3_SECRET_KEY="$S3_SECRET_KEY" \
    PULSE_TEST_S3_DIR="$WORK/s3" \
    PULSE_PACKAGE="$PACKAGE" \
        "$PULSE_ROOT/.venv/bin/python" -m pytest -q "$@"
}

say "Integration tests (pytest)"
pytest_run "$PULSE_ROOT/tests/integration"

# With pulse.direct_access off pulse reads its tables and appends history through SQL, as it
# does for the tables Citus distributes (src/through_sql.rs, docs/scaling.md): the tests that
# go through those reads and appends run again so.
say "Integration tests of the SQL path (pulse.direct_access = off)"
PULSE_TEST_DIRECT_ACCESS=off pytest_run \
    "$PULSE_ROOT"/tests/integration/test_{identity,access,history,discovery,document_lifecycle,documents_s3,persona_matrix}.py
