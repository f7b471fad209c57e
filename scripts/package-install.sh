#!/bin/sh
# Installs pulse @VERSION@ (PostgreSQL @PG_MAJOR@, @ARCH@) from this package into a PostgreSQL:
#   ./install.sh [--pg-config PATH]
# PATH defaults to the pg_config found on PATH. Copies lib/pulse.so into its pkglibdir and
# extension/* into its sharedir/extension; refuses a PostgreSQL of another major version or
# a machine of another architecture. Then, in each database, as a superuser:
#   CREATE EXTENSION pulse;
# (scripts/package.sh fills in the version, major and architecture when it packs this file.)
set -eu

pg_config=pg_config
while [ $# -gt 0 ]; do
    case "$1" in
        --pg-config) [ $# -ge 2 ] || { echo "install.sh: --pg-config needs a path" >&2; exit 2; }
                     pg_config="$2"; shift 2 ;;
        --pg-config=*) pg_config="${1#*=}"; shift ;;
        -h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v "$pg_config" >/dev/null 2>&1; then
    echo "install.sh: pg_config not found ($pg_config); pass --pg-config /path/to/pg_config" >&2
    exit 1
fi
server="$("$pg_config" --version)"
case "$server" in
    "PostgreSQL @PG_MAJOR@."*) ;;
    *) echo "install.sh: this package of pulse @VERSION@ is built for PostgreSQL @PG_MAJOR@, but $pg_config is $server" >&2
       exit 1 ;;
esac
machine="$(uname -m)"
if [ "$machine" != "@ARCH@" ]; then
    echo "install.sh: this package is built for @ARCH@, but this machine is $machine" >&2
    exit 1
fi

libdir="$("$pg_config" --pkglibdir)"
extdir="$("$pg_config" --sharedir)/extension"
for dir in "$libdir" "$extdir"; do
    if [ ! -d "$dir" ] || [ ! -w "$dir" ]; then
        echo "install.sh: cannot write $dir (run as the owner of the PostgreSQL installation, often root)" >&2
        exit 1
    fi
done
install -m 755 "$here/lib/pulse.so" "$libdir/pulse.so"
install -m 644 "$here"/extension/* "$extdir/"
echo "pulse @VERSION@ installed into $server: $libdir/pulse.so and $extdir/pulse.control"
echo "next, in each database, as a superuser: CREATE EXTENSION pulse;"
