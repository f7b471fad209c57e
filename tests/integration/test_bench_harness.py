"""The benchmark harness cannot rot: bench/run.sh --quick runs every suite once at a tiny
scale on the test cluster, with the pulse the suite installed (no release build), and writes
its results JSON with every suite's measurements. Never a timing assertion: quick runs
measure nothing worth reading; this checks that the harness completes and what it writes.
"""

import importlib.util
import json
import os
import subprocess

import psycopg
import pytest

from conftest import admin_dsn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "bench", "suites")) if f.endswith(".sh"))

# Every target the issues name that the suites on this branch measure: (suite, a part of the
# measurement's name, the target). The page and the chart show these.
TARGETS = [
    ("audit", "single-row UPDATE, durable: pulse / no trigger", ">= 0.9"),
    ("audit", "single-row UPDATE, CPU-bound: pulse / no trigger", ">= 0.6"),
    ("audit", "single-row UPDATE, CPU-bound: pulse / supa_audit-style", ">= 3.5"),
    ("audit", "single-row INSERT, durable: pulse / no trigger", ">= 0.9"),
    ("audit", "1000-row INSERT, durable: pulse / no trigger", ">= 0.6"),
    ("audit", "1000-row INSERT, CPU-bound: pulse / no trigger", ">= 0.6"),
    ("audit", "single-row UPDATE, durable: added µs per row, pulse / lean PL/pgSQL", "<= 0.5"),
    ("access", "pulse.authenticate per call", "< 10"),
    ("access", "list a user's documents", "<= 1.2"),
    ("access", "point lookup: pulse time / by-hand time", "<= 1.2"),
    ("documents", "presign GET: pulse.s3_presign per URL", "<= 5"),
    ("documents", "presign GET: botocore time / pulse time", ">= 50"),
    ("documents", "presign PUT (checksum and content type signed): botocore time / pulse time", ">= 50"),
    ("documents", "SHA-256 32 B: sha256() time / pulse.sha256_bytes time", ">= 1"),
    ("documents", "SHA-256 1 MiB: pgcrypto digest() time / pulse.sha256_bytes time", ">= 1"),
    ("discovery", "filtered search, first page with facets", "<= 1.5"),
    ("discovery", "words search, first page with facets", "<= 1.5"),
]
# Measurements per suite in a run: audit 2 commit modes x 3 workloads x 5 comparisons + WAL of
# 3 variants x 3 workloads + 2 commit modes x (5 comparisons with the owner's UPDATE + 2 on a
# plain table) + after checkpoints (3 comparisons + WAL); access 2 comparisons + 5 functions;
# documents 2 x 2 presign + 3 sizes x (2 x 2 hashes + reading); history and scale 4 reads or
# operations x (3 sizes + the growth); discovery 2 searches at the one quick size; sql_path 4
# helpers and 2 transactions, SQL path against direct.
COUNTS = {"audit": 57, "access": 7, "documents": 19, "history": 16, "scale": 16, "discovery": 2, "sql_path": 6}


CHECKPOINT_SETTINGS = ("SELECT name, setting, source FROM pg_settings"
                       " WHERE name IN ('checkpoint_timeout', 'max_wal_size') ORDER BY name")


@pytest.fixture(scope="module")
def checkpoint_settings_before():
    """The audit suite holds checkpoints off with ALTER SYSTEM while it runs."""
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        return conn.execute(CHECKPOINT_SETTINGS).fetchall()


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory, checkpoint_settings_before):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    page = os.path.join(ROOT, "docs", "benchmarks.md")
    with open(page, encoding="utf-8") as f:
        page_before = f.read()
    params = dict(part.split("=", 1) for part in admin_dsn().split())
    pg_bin = os.environ.get("PULSE_PG_BIN", "/usr/lib/postgresql/15/bin")
    env = dict(os.environ, PULSE_BENCH_NO_INSTALL="1", PULSE_BENCH_PORT=params["port"],
               PG_BIN=pg_bin, PG_CONFIG=os.path.join(pg_bin, "pg_config"))
    run = subprocess.run([os.path.join(ROOT, "bench", "run.sh"), "--quick", "--out", str(out)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"bench/run.sh --quick failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    with open(page, encoding="utf-8") as f:
        assert f.read() == page_before, "a quick run must not rewrite docs/benchmarks.md"
    with open(out, encoding="utf-8") as f:
        return json.load(f)


def test_every_suite_ran_and_is_described(quick_results):
    meta = quick_results["meta"]
    assert sorted(meta["suites"]) == SUITES
    assert meta["mode"] == "quick" and meta["rounds"] == 1
    assert "./bench/run.sh --quick --out " in meta["command"]
    for key in ("cpu", "cores", "ram_gib", "postgresql", "pulse_commit", "rust", "cluster_settings"):
        assert meta[key], key
    assert "PostgreSQL 15" in meta["postgresql"]
    assert sorted(quick_results["scales"]) == SUITES


def test_every_measurement_is_there(quick_results):
    by_suite = {}
    for m in quick_results["measurements"]:
        by_suite.setdefault(m["suite"], []).append(m)
    for suite, count in COUNTS.items():
        names = [m["name"] for m in by_suite.get(suite, [])]
        assert len(names) == count, f"{suite}: {len(names)} measurements, want {count}: {names}"
        assert len(set(names)) == count, f"{suite}: duplicate names"
    for suite, part, target in TARGETS:
        found = [m for m in by_suite[suite] if part in m["name"]]
        assert found, f"{suite}: no measurement named like {part!r}"
        assert all(m["target"] == target for m in found), (part, [m["target"] for m in found])


def test_measurements_are_complete(quick_results):
    for m in quick_results["measurements"]:
        assert len(m["values"]) == 1, m["name"]  # one round in quick mode
        assert m["min"] <= m["median"] <= m["max"], m["name"]
        if m["ratio_definition"]:
            assert len(m["baseline_values"]) == len(m["values"]) and m["baseline"], m["name"]
        if not m["target"]:
            assert m["met"] is None, m["name"]
        elif m["ratio_definition"] and m["ratio"] is None:
            # A difference at or below zero (added time per row in the noise): no verdict.
            assert m["met"] is None and min(m["median"], m["baseline_median"]) <= 0, m["name"]
        else:
            assert isinstance(m["met"], bool), m["name"]


def test_the_cluster_is_left_as_it_was(quick_results, checkpoint_settings_before):
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'bench'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'bench_app'").fetchone()[0] == 0
        assert conn.execute(CHECKPOINT_SETTINGS).fetchall() == checkpoint_settings_before


def test_capture_profile_sorts_samples_into_the_parts_of_a_capture():
    """bench/capture_profile.py (bench/profile_capture.sh) on `perf script` text written here:
    only backends count, a sample goes to the first part whose patterns match its frames in order, and
    what no part names is "other", never dropped."""
    # Loaded by its path: putting bench/ on sys.path would let its report.py and measurement.py
    # shadow other modules of those names for the rest of the session.
    spec = importlib.util.spec_from_file_location("capture_profile", os.path.join(ROOT, "bench", "capture_profile.py"))
    capture_profile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(capture_profile)

    def sample(command, *frames):  # frames outermost first, as a stack reads downwards
        return [command] + [f"  {i:x} {frame}" for i, frame in enumerate(reversed(frames))] + [""]

    backend = ["main", "PostgresMain", "AfterTriggerEndQuery", "capture_document_wrapper"]
    text = (
        sample("postgres", "main", "WalWriterMain", "XLogBackgroundFlush")  # not a backend
        + sample("postgres", "main", "PostgresMain", "ExecUpdate")  # a backend, not capture
        + sample("postgres", *backend, "pulse::history::append::append",
                 "pulse::direct_read::with_snapshot", "systable_getnext")
        # with_snapshot again, but under the rendering of the row, not under an append
        + sample("postgres", *backend, "pulse::history::snapshot::update_objects",
                 "pulse::direct_read::with_snapshot")
        + sample("postgres", *backend, "pulse::history::append::append", "heap_insert")
        + sample("postgres", *backend, "pulse::history::capture::write_document_history",
                 "core::ptr::drop_in_place<serde_json::value::Value>")
        # a drop, but not of the snapshot's values
        + sample("postgres", *backend, "core::ptr::drop_in_place<pulse::direct_read::Table>")
        + sample("postgres", *backend, "some_function_no_part_names")
        + sample("pgbench", "main", "PQexecPrepared")
    )
    backends, capture, parts = capture_profile.profile(text)
    assert (backends, capture) == (7, 6)
    assert parts == {
        "the chain head: read": 1,
        "the snapshot: rendering the row": 1,
        "the history row: heap insert": 1,
        "dropping the snapshot's values": 1,
        "other": 2,
    }
