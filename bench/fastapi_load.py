"""A bounded load run of the example FastAPI service (examples/fastapi), issue 8.

Sets up a database with pulse (the example's setup.sql, one user per client with an
argon2id hash, a project per user, a storage on an s3s-fs bucket), starts the service under
uvicorn on a free loopback port, and runs CLIENTS concurrent clients for DURATION seconds,
each signed in as its own user and alternating two requests on its project:

  list      GET  /projects/{id}/documents?limit=50
  register  POST /projects/{id}/documents          (documents.register_document: a new
                                                    document and a signed upload URL)

Then it checks that history is complete (every document registered has its INSERT in
audit.document_history, and there are no other documents) and that audit.verify() finds
no broken link, and prints requests per second and p50/p99 latencies as a Markdown table.
Exits non-zero if any request failed or a check did not hold.

    python bench/fastapi_load.py --dsn "host=127.0.0.1 port=55603 user=postgres dbname=bench" \\
        --s3-endpoint http://127.0.0.1:55604 --s3-access-key K --s3-secret-key S --s3-bucket pulse-bench

bench/fastapi.sh sets all of this up (cluster, s3s-fs, bucket) and calls it.
"""

import argparse
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_DIR = os.path.join(ROOT, "examples", "fastapi")
sys.path.insert(0, EXAMPLE_DIR)
from pulse_api.passwords import hash_password  # noqa: E402

PASSWORD = "load test passphrase"


def with_user(dsn: str, user: str) -> str:
    params = dict(part.split("=", 1) for part in dsn.split())
    params["user"] = user
    return " ".join(f"{k}={v}" for k, v in params.items())


def set_up(args) -> dict:
    """pulse, the example's roles, users, their projects and the storage, as the DBA does."""
    with psycopg.connect(args.dsn, autocommit=True) as su:
        su.execute("CREATE EXTENSION pulse")
    psql = os.path.join(os.environ.get("PULSE_PG_BIN", "/usr/lib/postgresql/15/bin"), "psql")
    subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", args.dsn, "-v", "app_role=pulse_bench_app",
                    "-v", "signin_role=pulse_bench_signin", "-f", os.path.join(EXAMPLE_DIR, "setup.sql")],
                   check=True, stdout=subprocess.DEVNULL)
    password_hash = hash_password(PASSWORD)
    users = []
    with psycopg.connect(args.dsn, autocommit=True) as su:
        for i in range(args.clients):
            user_id = su.execute("SELECT users.create_user(%s, %s, %s, false)",
                                 (f"client{i}@example.com", f"Client {i}", password_hash)).fetchone()[0]
            project_id = su.execute(
                """INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                   SELECT %s, %s, ph.phase_id, pr.priority_id FROM pulse.phase_reference ph, pulse.priority_reference pr
                    WHERE ph.code = 'build' AND pr.code = 'medium' RETURNING project_id""",
                (f"Load {i}", user_id)).fetchone()[0]
            su.execute("""INSERT INTO projects.project_member (project_id, user_id, access_role_id)
                          SELECT %s, %s, access_role_id FROM pulse.access_role_reference WHERE code = 'owner'""",
                       (project_id, user_id))
            users.append({"email": f"client{i}@example.com", "project_id": project_id})
        storage_id = su.execute(
            """INSERT INTO pulse.storage_reference (code, label, provider, bucket, region, endpoint, addressing_style)
               VALUES ('bench', 'Load run', 'minio', %s, 'us-east-1', %s, 'path') RETURNING storage_id""",
            (args.s3_bucket, args.s3_endpoint)).fetchone()[0]
        su.execute("""INSERT INTO pulse.storage_credential (storage_id, access_key_id, secret_access_key)
                      VALUES (%s, %s, %s)""", (storage_id, args.s3_access_key, args.s3_secret_key))
    return {"users": users}


def start_service(args) -> tuple[subprocess.Popen, str]:
    """uvicorn on a listening socket made here (--fd): no race for a free port."""
    listener = socket.create_server(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = {**os.environ, "PULSE_APP_DSN": with_user(args.dsn, "pulse_bench_app"),
           "PULSE_SIGNIN_DSN": with_user(args.dsn, "pulse_bench_signin"), "PULSE_STORAGE": "bench",
           "PULSE_POOL_SIZE": str(args.pool_size)}
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", EXAMPLE_DIR, "--fd",
                                str(listener.fileno()), "--log-level", "warning", "--no-access-log",
                                "pulse_api.app:app"], env=env, pass_fds=[listener.fileno()])
    listener.close()
    deadline = time.monotonic() + 30
    while True:  # until the port answers
        if process.poll() is not None:
            sys.exit(f"the service exited with status {process.returncode}")
        try:
            if httpx.get(base_url + "/openapi.json", timeout=2, trust_env=False).status_code == 200:
                return process, base_url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            sys.exit("the service did not answer within 30 s")
        time.sleep(0.1)


class Clock:
    """Starts the measured period once every client has signed in (a barrier), and ends it
    DURATION seconds later."""

    def __init__(self, clients: int, duration: float, service_pid: int):
        self.duration, self.service_pid = duration, service_pid
        self.barrier = threading.Barrier(clients, action=self.start)
        self.started = None

    def start(self):
        self.cpu_at_start = cpu_seconds(self.service_pid), cpu_seconds()
        self.started = time.monotonic()
        self.stop_at = self.started + self.duration

    def finish(self) -> tuple[float, float, float]:
        """Wall time since the start, and the CPU time the service and this process used."""
        return (time.monotonic() - self.started, cpu_seconds(self.service_pid) - self.cpu_at_start[0],
                cpu_seconds() - self.cpu_at_start[1])


class Client(threading.Thread):
    def __init__(self, index: int, base_url: str, user: dict, clock: Clock):
        super().__init__(name=f"client{index}")
        self.index, self.base_url, self.user, self.clock = index, base_url, user, clock
        self.latencies = {"list": [], "register": []}
        self.errors: list[str] = []
        self.registered: list[int] = []
        self.sign_in_seconds = None

    def run(self):
        try:
            self.load()
        except Exception as error:  # a failed client must show in the report, not vanish
            self.errors.append(f"{type(error).__name__}: {error}")
            self.clock.barrier.abort()  # nobody waits for a client that will never come

    def load(self):
        with httpx.Client(base_url=self.base_url, timeout=30, trust_env=False,
                          headers={"user-agent": f"pulse-load/{self.index}"}) as http:
            began = time.perf_counter()
            response = http.post("/sessions", json={"email": self.user["email"], "password": PASSWORD})
            self.sign_in_seconds = time.perf_counter() - began
            if response.status_code != 201:
                raise RuntimeError(f"sign-in: {response.status_code} {response.text}")
            http.headers["authorization"] = "Bearer " + response.json()["token"]
            project = self.user["project_id"]
            self.clock.barrier.wait()
            n = 0
            while time.monotonic() < self.clock.stop_at:
                n += 1
                if n % 2:
                    kind, call = "list", lambda: http.get(f"/projects/{project}/documents", params={"limit": 50})
                else:
                    content = f"client {self.index} document {n} {time.time_ns()}".encode()
                    body = {"title": f"Load document {n}", "file_name": f"load-{n}.txt", "mime_type": "text/plain",
                            "size_bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
                    kind, call = "register", lambda: http.post(f"/projects/{project}/documents", json=body)
                began = time.perf_counter()
                response = call()
                elapsed = time.perf_counter() - began
                if response.status_code not in (200, 201):
                    self.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
                    continue
                self.latencies[kind].append(elapsed)
                if kind == "register":
                    self.registered.append(response.json()["document_id"])


def cpu_seconds(pid: int | None = None) -> float:
    """User and system CPU time of a process (Linux /proc), by default this one."""
    with open(f"/proc/{pid or 'self'}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def check_history(args, registered: list[int]) -> list[str]:
    problems = []
    with psycopg.connect(args.dsn) as su:
        missing = su.execute("""SELECT count(*) FROM unnest(%s::bigint[]) AS r(document_id)
                                 WHERE NOT EXISTS (SELECT FROM audit.document_history h
                                                    WHERE h.document_id = r.document_id AND h.operation = 'INSERT')""",
                             (registered,)).fetchone()[0]
        documents = su.execute("SELECT count(*) FROM documents.documents").fetchone()[0]
        history_inserts = su.execute("SELECT count(*) FROM audit.document_history WHERE operation = 'INSERT'").fetchone()[0]
        broken = su.execute("SELECT count(*) FROM audit.verify()").fetchone()[0]
    print(f"history: {len(registered)} documents registered, {documents} in documents.documents, "
          f"{history_inserts} INSERTs in audit.document_history, {missing} registered without one; "
          f"audit.verify(): {broken} broken links")
    if missing:
        problems.append(f"{missing} registered documents have no INSERT in audit.document_history")
    if documents != len(registered) or history_inserts != len(registered):
        problems.append("the numbers of documents, history INSERTs and registrations differ")
    if broken:
        problems.append(f"audit.verify() found {broken} broken links")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True, help="superuser DSN of an empty database (pulse is created in it)")
    parser.add_argument("--s3-endpoint", required=True)
    parser.add_argument("--s3-access-key", required=True)
    parser.add_argument("--s3-secret-key", required=True)
    parser.add_argument("--s3-bucket", required=True)
    parser.add_argument("--duration", type=float, default=20, help="seconds of load (default 20)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--pool-size", type=int, default=8, help="the service's connection pool (default 8)")
    args = parser.parse_args()
    if not 1 <= args.duration <= 600:
        sys.exit("--duration must be 1 to 600 seconds")

    setup = set_up(args)
    process, base_url = start_service(args)
    try:
        clock = Clock(args.clients, args.duration, process.pid)
        clients = [Client(i, base_url, user, clock) for i, user in enumerate(setup["users"])]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        if clock.started is None:
            sys.exit("the clients did not all sign in: " + "; ".join(e for c in clients for e in c.errors))
        elapsed, service_cpu, driver_cpu = clock.finish()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    errors = [f"{c.name}: {e}" for c in clients for e in c.errors]
    latencies = {kind: [x for c in clients for x in c.latencies[kind]] for kind in ("list", "register")}
    everything = latencies["list"] + latencies["register"]
    if not everything:
        sys.exit("no request succeeded: " + "; ".join(errors[:5]))
    sign_ins = [c.sign_in_seconds for c in clients if c.sign_in_seconds is not None]

    print(f"\n{args.clients} clients for {elapsed:.1f} s, service pool {args.pool_size} connections, one uvicorn "
          f"worker; {len(sign_ins)} concurrent sign-ins (argon2id + open_session) beforehand, "
          f"p50 {percentile(sign_ins, 50) * 1000:.0f} ms\n")
    print("| requests | count | requests/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    labels = {"list": "list documents (50 of a project)", "register": "register a document (signed PUT URL)"}
    for kind, values in (*latencies.items(), ("all", everything)):
        print(f"| {labels.get(kind, 'all')} | {len(values)} | {len(values) / elapsed:.0f} | "
              f"{percentile(values, 50) * 1000:.1f} | {percentile(values, 99) * 1000:.1f} |")
    print(f"\nCPU per request: service (uvicorn) {service_cpu / len(everything) * 1000:.2f} ms, "
          f"load clients (httpx) {driver_cpu / len(everything) * 1000:.2f} ms")
    print(f"\nfailed requests: {len(errors)}")
    for error in errors[:10]:
        print("  " + error)

    registered = [d for c in clients for d in c.registered]
    problems = check_history(args, registered)
    for problem in problems:
        print("CHECK FAILED: " + problem)
    sys.exit(1 if errors or problems else 0)


if __name__ == "__main__":
    main()
