#!/usr/bin/env bash
# Builds pulse and packs it as an installable tarball:
#   ./scripts/package.sh [--pg-config PATH] [--debug] [--out-dir DIR]
# runs `cargo pgrx package` against the PostgreSQL of PATH (default: the system
# PostgreSQL 15) and turns its output into DIR/pulse-<version>-pg15-<arch>.tar.gz (DIR
# defaults to target/package), holding the library, the control file, the SQL scripts,
# META.json, the README and install.sh (see "Installing from a package" in README.md).
# The version comes from Cargo.toml. Progress goes to stderr; the last line on stdout is
# the tarball's path. Installs nothing: cargo pgrx package only writes under target/.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$PULSE_ROOT"

profile=(--release)
out_dir="$PULSE_ROOT/target/package"
while (($#)); do
    case "$1" in
        --pg-config) PG_CONFIG="$2"; shift 2 ;;
        --pg-config=*) PG_CONFIG="${1#*=}"; shift ;;
        --debug) profile=(--debug); shift ;;
        --out-dir) out_dir="$2"; shift 2 ;;
        --out-dir=*) out_dir="${1#*=}"; shift ;;
        -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "package.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "${profile[0]}" == "--release" ]] && profile=()  # cargo pgrx package builds release by default

# The version of the [package] section of Cargo.toml (the [workspace] section has none).
version="$(awk -F'"' '/^\[/ { in_package = ($0 == "[package]") } in_package && /^version *=/ { print $2; exit }' Cargo.toml)"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "package.sh: no version in Cargo.toml's [package]" >&2; exit 1; }
meta_version="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' META.json)"
if [[ "$meta_version" != "$version" ]]; then
    echo "package.sh: META.json says version $meta_version but Cargo.toml says $version; update META.json" >&2
    exit 1
fi

[[ -x "$PG_CONFIG" ]] || { echo "package.sh: no pg_config at $PG_CONFIG (pass --pg-config PATH)" >&2; exit 1; }
pg_version="$("$PG_CONFIG" --version)"
if [[ "$pg_version" != "PostgreSQL ${PG_MAJOR}."* ]]; then
    echo "package.sh: pulse is built for PostgreSQL ${PG_MAJOR}, but $PG_CONFIG is $pg_version" >&2
    exit 1
fi
arch="$(uname -m)"
name="pulse-${version}-pg${PG_MAJOR}-${arch}"

ensure_cargo_pgrx >&2
work="$(mktemp -d "${TMPDIR:-/tmp}/pulse-package.XXXXXX")"
trap 'rm -rf "$work"' EXIT

say "cargo pgrx package (${profile[*]:-release}) against $pg_version" >&2
cargo pgrx package --pg-config "$PG_CONFIG" "${profile[@]}" --out-dir "$work/pgrx" >&2

# cargo pgrx package mirrors the target installation's absolute paths under --out-dir:
# pick the files by name, wherever that put them.
libdir="$work/pgrx$("$PG_CONFIG" --pkglibdir)"
extdir="$work/pgrx$("$PG_CONFIG" --sharedir)/extension"
[[ -f "$libdir/pulse.so" && -f "$extdir/pulse.control" && -f "$extdir/pulse--${version}.sql" ]] || {
    echo "package.sh: cargo pgrx package did not produce pulse.so, pulse.control and pulse--${version}.sql" >&2
    find "$work/pgrx" -type f >&2
    exit 1
}
grep -q "^default_version = '${version}'" "$extdir/pulse.control" || {
    echo "package.sh: the packaged pulse.control is not for version $version" >&2
    exit 1
}

stage="$work/$name"
install -d "$stage/lib" "$stage/extension"
install -m 755 "$libdir/pulse.so" "$stage/lib/"
install -m 644 "$extdir/pulse.control" "$extdir"/pulse--*.sql "$stage/extension/"
install -m 644 META.json README.md "$stage/"
sed -e "s/@VERSION@/${version}/g" -e "s/@PG_MAJOR@/${PG_MAJOR}/g" -e "s/@ARCH@/${arch}/g" \
    scripts/package-install.sh >"$stage/install.sh"
chmod 755 "$stage/install.sh"

install -d "$out_dir"
tarball="$(cd "$out_dir" && pwd)/${name}.tar.gz"
tar -C "$work" --owner=0 --group=0 --sort=name -czf "$tarball" "$name"
say "Packed $(tar -tzf "$tarball" | wc -l) entries into $tarball" >&2
echo "$tarball"
