# shellcheck shell=bash
# Set-up shared by scripts/demo.sh, scripts/test.sh and bench/: install what is missing
# (skipping what is present), build and install the extension, and run throwaway clusters.
# Everything here must work as root on a fresh Debian 12 machine with only the package
# registries reachable.

set -euo pipefail

PULSE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGRX_VERSION="0.18.1"
PG_MAJOR="15"
S3S_FS_VERSION="0.14.1"
# The PostgreSQL to build against, install into and run: the system one unless the caller
# names another (e.g. a relocated copy, so that a benchmark never replaces the system build).
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config}"
PG_BIN="${PG_BIN:-$(dirname "$PG_CONFIG")}"
export USER="${USER:-$(id -un)}"
export PATH="${HOME}/.cargo/bin:${PATH}"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages the build and the tests need.
ensure_debian_packages() {
    local wanted=(postgresql-${PG_MAJOR} postgresql-server-dev-${PG_MAJOR} libclang-dev sudo "$@")
    local missing=()
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        say "Installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    # Debian's postgresql package starts a cluster of its own on 5432; pulse never uses it.
}

ensure_cargo_pgrx() {
    if [[ "$(cargo pgrx --version 2>/dev/null || true)" != "cargo-pgrx ${PGRX_VERSION}" ]]; then
        say "Installing cargo-pgrx ${PGRX_VERSION} (about 4 minutes)"
        cargo install --locked "cargo-pgrx@${PGRX_VERSION}"
    fi
    if ! grep -q "^pg${PG_MAJOR} *=" "${PGRX_HOME:-$HOME/.pgrx}/config.toml" 2>/dev/null; then
        say "Pointing pgrx at the system PostgreSQL ${PG_MAJOR}"
        cargo pgrx init --pg${PG_MAJOR} "${PG_CONFIG}"
    fi
}

# s3s-fs, a small S3-compatible server keeping objects in a local directory: the object store of
# the integration tests (it checks SigV4 presigned URLs, their expiry and signed checksums).
ensure_s3s_fs() {
    if ! command -v s3s-fs >/dev/null 2>&1; then
        say "Installing s3s-fs ${S3S_FS_VERSION} (a few minutes)"
        cargo install --locked "s3s-fs@${S3S_FS_VERSION}" --features binary
    fi
}

# Build the extension and install it into the PostgreSQL of $PG_CONFIG (root writes its libdir).
# $1: "release" or "debug".
install_extension() {
    local profile_flag=()
    [[ "${1:-debug}" == "release" ]] && profile_flag=(--release)
    say "Building and installing pulse (${1:-debug})"
    # The braces keep grep's "nothing left to print" from failing the pipeline, and nothing else:
    # a failed build fails it (pipefail), rather than leave an earlier build installed.
    (cd "$PULSE_ROOT" && cargo pgrx install --pg-config "$PG_CONFIG" "${profile_flag[@]}" 2>&1 | { grep -vE '^\s*(Compiling|Checking)' || true; })
    test -f "$("$PG_CONFIG" --sharedir)/extension/pulse.control"
}

# A Python virtual environment for the integration tests and examples.
# $1: requirements file.
ensure_venv() {
    local venv="$PULSE_ROOT/.venv" req="$1"
    if [[ ! -x "$venv/bin/python" ]]; then
        say "Creating Python virtual environment in .venv"
        python3 -m venv "$venv" 2>/dev/null || { ensure_debian_packages python3-venv; rm -rf "$venv"; python3 -m venv "$venv"; }
    fi
    local stamp="$venv/.req-$(sha256sum "$req" | cut -c1-16)"
    if [[ ! -f "$stamp" ]]; then
        say "Installing Python packages from ${req#"$PULSE_ROOT"/}"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
        touch "$stamp"
    fi
}

# Start a throwaway cluster owned by the unprivileged OS user postgres.
# $1: data directory (created, must not exist or be a previous throwaway cluster), $2: port,
# $3 (optional): shared_preload_libraries.
start_cluster() {
    local dir="$1" port="$2" preload="${3:-}"
    if [[ -f "$dir/postmaster.pid" ]]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    install -d -o postgres -g postgres -m 700 "$dir"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$dir" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
shared_preload_libraries = '$preload'
fsync = on
log_min_messages = warning
CONF
    # Without RUST_BACKTRACE, as in production: pgrx would otherwise add a Rust backtrace to the
    # DETAIL of errors that cross its FFI boundary.
    runuser -u postgres -- env -u RUST_BACKTRACE "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w start >/dev/null
}

stop_cluster() {
    local dir="$1"
    [[ -f "$dir/postmaster.pid" ]] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
}

# Start a throwaway s3s-fs in the background on 127.0.0.1, serving a directory in which each
# bucket is a subdirectory. Its pid goes to DIR.pid and its log to DIR.log, beside the
# directory so that they never show up as buckets.
# $1: data directory (emptied and created), $2: port, $3: access key, $4: secret key.
start_s3s_fs() {
    local dir="$1" port="$2" access_key="$3" secret_key="$4" pid
    stop_s3s_fs "$dir"
    rm -rf "$dir"
    install -d -m 700 "$dir"
    # Something else answering there would pass for the server below.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port on 127.0.0.1 is already in use" >&2
        return 1
    fi
    s3s-fs --host 127.0.0.1 --port "$port" --access-key "$access_key" --secret-key "$secret_key" "$dir" \
        >"$dir.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir.pid"
    # Ready when the port accepts connections (about 10 ms); give up after 10 s.
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$dir.log" >&2
            echo "s3s-fs exited before listening on 127.0.0.1:$port" >&2
            return 1
        fi
        sleep 0.1
    done
    cat "$dir.log" >&2
    echo "s3s-fs did not listen on 127.0.0.1:$port within 10 s" >&2
    return 1
}

# Stop the s3s-fs started by start_s3s_fs on $1 (harmless when none runs). The pid is checked
# to still be an s3s-fs first: a stale pid file must not kill whatever reused the number.
stop_s3s_fs() {
    local dir="$1" pid
    [[ -f "$dir.pid" ]] || return 0
    pid="$(cat "$dir.pid")"
    if [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == "s3s-fs" ]]; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == "s3s-fs" ]] && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir.pid"
}

# The install script of an earlier release, as it was released (frozen in sql/released/ and
# listed in sql/released/SHA256SUMS), written into PostgreSQL's extension directory as
# pulse--$1.sql, so that `CREATE EXTENSION pulse VERSION '$1'` followed by `ALTER EXTENSION
# pulse UPDATE` can be tested against this build. It is kept as a file rather than rebuilt
# from the release's git tag: a clone need not carry tags, and pgrx does not emit a script's
# entities in a stable order, so a rebuild is not byte-for-byte what was released.
install_released_install_script() {
    local script="$PULSE_ROOT/sql/released/pulse--$1.sql"
    test -s "$script" || die "$script is missing: a release freezes its install script there"
    install -m 644 "$script" "$("$PG_CONFIG" --sharedir)/extension/pulse--$1.sql"
}
