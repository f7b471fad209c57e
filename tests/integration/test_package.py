"""Installing from a package: the tarball scripts/package.sh makes (README, "Installing from
a package") installs with its install.sh into a PostgreSQL that has never seen pulse, and
CREATE EXTENSION pulse works there.

scripts/test.sh packs the tarball once before pytest and passes its path in PULSE_PACKAGE.
The PostgreSQL is a relocated copy of the one in PULSE_PG_BIN (PostgreSQL finds its share
and lib directories relative to its binaries) with every pulse file removed; it runs a
cluster of its own on a free loopback port, and is deleted afterwards.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import tarfile
import tempfile

import psycopg
import pytest

from conftest import pg_bin
from test_replica import as_postgres, free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cargo_version():
    section, version = None, None
    for line in (ROOT / "Cargo.toml").read_text().splitlines():
        if line.startswith("["):
            section = line.strip()
        elif section == "[package]" and (m := re.match(r'version\s*=\s*"([^"]+)"', line)):
            version = m.group(1)
    assert version, "no version in Cargo.toml's [package]"
    return version


@pytest.fixture(scope="module")
def package():
    path = os.environ.get("PULSE_PACKAGE")
    if not path:
        pytest.fail("PULSE_PACKAGE is not set: scripts/test.sh packs pulse with scripts/package.sh and passes the "
                    "tarball's path in PULSE_PACKAGE (run ./scripts/package.sh --debug and set it to the path printed)")
    if not os.path.isfile(path):
        pytest.fail(f"PULSE_PACKAGE={path} is not a file")
    return pathlib.Path(path)


@pytest.fixture(scope="module")
def workdir():
    path = tempfile.mkdtemp(prefix="pulse-package-")
    os.chmod(path, 0o755)  # the cluster runs as postgres and reads the copy's binaries
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def unpacked(package, workdir):
    with tarfile.open(package) as tar:
        names = tar.getnames()
        tar.extractall(workdir / "unpacked", filter="tar")
    (top,) = {name.split("/")[0] for name in names}
    return workdir / "unpacked" / top


@pytest.fixture(scope="module")
def clean_postgres(workdir):
    """A copy of the PostgreSQL of PULSE_PG_BIN without pulse: its pg_config."""
    source_config = pg_bin("pg_config")

    def ask(config, option):
        return subprocess.run([config, option], check=True, capture_output=True, text=True).stdout.strip()

    root = workdir / "postgres"
    bindir, sharedir = ask(source_config, "--bindir"), ask(source_config, "--sharedir")
    libroot = os.path.dirname(bindir)  # .../lib/postgresql/15: bin, lib
    for path in (libroot, sharedir):
        shutil.copytree(path, f"{root}{path}", symlinks=True)
    config = f"{root}{bindir}/pg_config"
    # Relocated: the copy's pg_config answers with the copy's directories.
    pkglibdir, extdir = ask(config, "--pkglibdir"), ask(config, "--sharedir") + "/extension"
    assert pkglibdir.startswith(str(root)) and extdir.startswith(str(root)), (pkglibdir, extdir)
    for leftover in [f"{pkglibdir}/pulse.so", *(str(p) for p in pathlib.Path(extdir).glob("pulse*"))]:
        if os.path.exists(leftover):
            os.remove(leftover)
    assert not os.path.exists(f"{pkglibdir}/pulse.so") and list(pathlib.Path(extdir).glob("pulse*")) == []
    for directory, _, _ in os.walk(root):
        os.chmod(directory, 0o755)
    return config


def install(unpacked, config):
    return subprocess.run(["sh", str(unpacked / "install.sh"), "--pg-config", config], capture_output=True, text=True)


def test_meta_json_is_a_pgxn_1_0_0_document_for_the_cargo_version():
    meta = json.loads((ROOT / "META.json").read_text())
    version = cargo_version()
    assert meta["version"] == version, "META.json's version must equal Cargo.toml's"
    assert meta["provides"]["pulse"]["version"] == version
    assert meta["meta-spec"] == {"version": "1.0.0", "url": "https://pgxn.org/meta/spec.txt"}
    for required in ("name", "abstract", "maintainer", "license", "provides", "version"):
        assert meta[required], required
    assert meta["name"] == "pulse" and meta["license"] == "postgresql"  # Cargo.toml: license = "PostgreSQL"
    assert meta["prereqs"]["runtime"]["requires"]["PostgreSQL"] == ">= 15.0.0, < 16.0.0"
    assert (ROOT / meta["provides"]["pulse"]["file"]).is_file() and (ROOT / meta["provides"]["pulse"]["docfile"]).is_file()


def test_the_package_holds_what_install_sh_needs(package, unpacked):
    version = cargo_version()
    assert package.name == f"pulse-{version}-pg15-{os.uname().machine}.tar.gz"
    files = sorted(str(p.relative_to(unpacked)) for p in unpacked.rglob("*") if p.is_file())
    assert {"install.sh", "META.json", "README.md", "lib/pulse.so", "extension/pulse.control",
            f"extension/pulse--{version}.sql"} <= set(files), files
    assert os.access(unpacked / "install.sh", os.X_OK)
    assert f"default_version = '{version}'" in (unpacked / "extension/pulse.control").read_text()
    assert json.loads((unpacked / "META.json").read_text())["version"] == version
    assert "@VERSION@" not in (unpacked / "install.sh").read_text()


def test_install_sh_refuses_another_postgresql_major(unpacked, workdir):
    fake = workdir / "pg16_config"
    fake.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'PostgreSQL 16.4' && exit 0\necho /nonexistent\n")
    fake.chmod(0o755)
    refused = install(unpacked, str(fake))
    assert refused.returncode != 0
    assert "built for PostgreSQL 15, but" in refused.stderr and "PostgreSQL 16.4" in refused.stderr
    missing = install(unpacked, str(workdir / "no-such-pg_config"))
    assert missing.returncode != 0 and "pg_config not found" in missing.stderr


def test_installed_from_the_package_create_extension_works(unpacked, clean_postgres, workdir):
    config = clean_postgres
    bindir = os.path.dirname(config)
    data, port = workdir / "data", free_port()
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")  # initdb writes the data directory as postgres
    as_postgres(f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8")
    with open(data / "postgresql.auto.conf", "a") as conf:
        conf.write(f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{workdir}'\n")
    env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
    as_postgres(f"{bindir}/pg_ctl", "-D", str(data), "-l", str(workdir / "log"), "-w", "start", env=env)
    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            # The copy really is without pulse.
            with pytest.raises(psycopg.errors.FeatureNotSupported, match="extension \"pulse\" is not available"):
                conn.execute("CREATE EXTENSION pulse")
            installed = install(unpacked, config)
            assert installed.returncode == 0, installed.stderr
            assert "pulse " + cargo_version() + " installed into PostgreSQL 15." in installed.stdout
            conn.execute("CREATE EXTENSION pulse")
            assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pulse'").fetchone() == (
                cargo_version(),)
            assert conn.execute("SELECT count(*) > 0 FROM pulse.phase_reference").fetchone() == (True,)
            user = conn.execute("SELECT users.create_user('pkg@example.com', 'Package')").fetchone()[0]
            conn.execute("""INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                            SELECT 'Packaged', %s, ph.phase_id, pr.priority_id
                              FROM pulse.phase_reference ph, pulse.priority_reference pr
                             WHERE ph.code = 'idea' AND pr.code = 'low'""", (user,))
            assert conn.execute("SELECT count(*) FROM audit.project_history").fetchone() == (1,)
            assert conn.execute("SELECT * FROM audit.verify()").fetchall() == []
    finally:
        as_postgres(f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
