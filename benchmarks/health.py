"""Health benchmarks: endpoint latency under gunicorn, probe cost, wait_for_db time-to-ready.

Run: .venv/bin/python benchmarks/health.py   (needs `ab` from apache2-utils; uses MariaDB and
PostgreSQL from DEPLOYKIT_TEST_MARIADB_URL / DEPLOYKIT_TEST_POSTGRES_URL when set, and
pg_ctl for the late-start figure). All traffic goes to 127.0.0.1.

Goals (issue #4): probe ≤ 0.1 s and ≤ 25 MB per run; wait_for_db returns ≤ 0.2 s after the
database comes up; live/ready latency reported as p50/p99.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.health_fixtures import Gunicorn, LatePostgres  # noqa: E402

PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'example_project'}"}


def ab(port: int, path: str, requests: int = 3000, concurrency: int = 16) -> str:
    out = subprocess.run(
        [
            "ab",
            "-q",
            "-n",
            str(requests),
            "-c",
            str(concurrency),
            "-H",
            "Host: 10.1.2.3",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\d+)", out, re.M))
    rps = re.search(r"Requests per second:\s+([\d.]+)", out).group(1)
    # ab counts bodies of another length as failures; the JSON's timings vary in length.
    broken = re.search(r"Connect: (\d+), Receive: (\d+), Length: \d+, Exceptions: (\d+)", out)
    failed = sum(int(n) for n in broken.groups()) if broken else 0
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    return (
        f"p50 {pct['50']} ms, p99 {pct['99']} ms, max {pct['100']} ms, {rps} req/s, "
        f"failed {failed}, non-2xx {non2xx.group(1) if non2xx else 0}"
    )


def endpoint_latency() -> None:
    databases = {"default": "sqlite:///:memory:"}
    if os.environ.get("DEPLOYKIT_TEST_MARIADB_URL"):
        databases["maria"] = os.environ["DEPLOYKIT_TEST_MARIADB_URL"]
    if os.environ.get("DEPLOYKIT_TEST_POSTGRES_URL"):
        databases["pg"] = os.environ["DEPLOYKIT_TEST_POSTGRES_URL"]
    print(f"gunicorn, 2 sync workers × 4 threads, checks: {', '.join(databases)} + locmem cache")
    for ttl in ("2", "0"):
        server = Gunicorn(
            {"HEALTH_SITE_DATABASES": json.dumps(databases), "HEALTH_SITE_CACHE_SECONDS": ttl},
            workers=2,
            threads=4,
        )
        try:
            ab(server.port, "/health/live/", 500)  # warm-up
            ab(server.port, "/health/", 200)
            if ttl == "2":
                print(f"  live                  : {ab(server.port, '/health/live/')}")
            print(f"  ready (cache {ttl} s)     : {ab(server.port, '/health/')}")
        finally:
            server.stop()


def _run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    # GNU time reports the probe's own peak RSS (a child forked from this big process
    # would count the parent's pages until exec).
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    seconds, kbytes = proc.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kbytes) / 1024, proc.returncode


def probe_cost() -> None:
    server = Gunicorn({})
    try:
        port = str(server.port)
        rows = {
            "python -m django_deploykit.health.probe": [
                PY,
                "-m",
                "django_deploykit.health.probe",
                "--port",
                port,
            ],
            "manage.py healthcheck --tier live (for comparison)": [
                PY,
                "-m",
                "django",
                "healthcheck",
                "--tier",
                "live",
                "-v0",
            ],
        }
        env = {**ENV, "DJANGO_SETTINGS_MODULE": "tests.health_site"}
        for label, argv in rows.items():
            runs = [_run_measured(argv, env) for _ in range(15)]
            assert all(code == 0 for _, _, code in runs), runs
            times = sorted(t for t, _, _ in runs)
            peak = max(m for _, m, _ in runs)
            print(
                f"  {label}: median {times[len(times) // 2] * 1000:.0f} ms, "
                f"max {times[-1] * 1000:.0f} ms, peak RSS {peak:.1f} MB"
            )
    finally:
        server.stop()


def wait_for_db_time_to_ready(rounds: int = 3) -> None:
    if not shutil.which("runuser") or not list(Path("/usr/lib/postgresql").glob("*/bin")):
        print("  skipped: no pg_ctl")
        return
    import psycopg

    base = Path(tempfile.gettempdir()) / f"deploykit-bench-pg-{os.getpid()}"
    pg = LatePostgres(base)
    try:
        for n in range(rounds):
            databases = json.dumps({"default": pg.url})
            env = {
                **ENV,
                "DJANGO_SETTINGS_MODULE": "tests.health_site",
                "HEALTH_SITE_DATABASES": databases,
            }
            proc = subprocess.Popen(
                [PY, "-m", "django", "wait_for_db", "--timeout", "60", "-v2"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(1.5)  # wait_for_db is running and retrying "refused"
            up: list[float] = []

            def watch(up: list[float] = up) -> None:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        psycopg.connect(pg.url, connect_timeout=2).close()
                        up.append(time.monotonic())
                        return
                    except psycopg.OperationalError:
                        time.sleep(0.005)

            watcher = threading.Thread(target=watch)
            watcher.start()
            pg.start()
            proc.wait(60)
            exited = time.monotonic()
            watcher.join()
            lines = proc.stdout.read().splitlines()
            print("    last attempts:", " | ".join(lines[-3:]))
            print(
                f"  round {n + 1}: exit {proc.returncode}, returned "
                f"{(exited - up[0]) * 1000:+.0f} ms after the server first accepted a query"
            )
            pg.stop()
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    print("== endpoint latency (ab, 3000 requests, concurrency 16, Host: 10.1.2.3)")
    endpoint_latency()
    print("== container probe cost (15 runs each, against gunicorn)")
    probe_cost()
    print("== wait_for_db: time from 'PostgreSQL accepts queries' to exit")
    wait_for_db_time_to_ready()


if __name__ == "__main__":
    main()
