"""Gunicorn serving a strict site: the container probe, reachability, and a probe stampede."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import MySQLdb
import psycopg
import pytest

from tests.health_fixtures import MARIADB_URL, POSTGRES_URL, ROOT, Gunicorn, db_config, free_port

PROBE = [sys.executable, "-m", "django_deploykit.health.probe"]


@pytest.fixture(scope="module")
def strict_site():
    server = Gunicorn({})
    yield server
    server.stop()


def run_probe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def test_probe_exit_codes(strict_site):
    port = str(strict_site.port)
    for tier in ("ready", "live", "startup"):
        result = run_probe("--tier", tier, "--port", port)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("healthy: 200")
    # PORT from the environment, as in the generated image.
    assert run_probe(env={"PORT": port}).returncode == 0
    # Redirects are failures, never followed: "/" sends LoginRequiredMiddleware's 302.
    login = {"DEPLOYKIT_HEALTH_PATH": "/", "ALLOWED_HOSTS": "example.com"}
    redirected = run_probe("--port", port, env=login)
    assert redirected.returncode == 1 and "302" in redirected.stderr
    assert "HealthCheckMiddleware" in redirected.stderr
    other = run_probe("--port", port, env={"DEPLOYKIT_HEALTH_PATH": "/other/"})
    assert other.returncode == 1 and "unhealthy: 4" in other.stderr
    assert run_probe("--port", str(free_port()), "--timeout", "1").returncode == 1
    assert run_probe("--no-such-flag").returncode == 1  # never Docker's reserved 2
    assert run_probe("--tier", "nope").returncode == 1


def test_probe_never_imports_django(strict_site, tmp_path: Path):
    poisoned = tmp_path / "django"
    poisoned.mkdir()
    (poisoned / "__init__.py").write_text("raise ImportError('the probe must not import Django')")
    result = run_probe(
        "--port", str(strict_site.port), env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    )
    assert result.returncode == 0, result.stderr


def test_orchestrator_style_requests_reach_the_checks(strict_site):
    for path in ("/health/", "/health/live/", "/health/ready/", "/health/startup/"):
        status, body = strict_site.get(path, host="10.1.2.3")
        assert status == 200, body
        assert json.loads(body)["status"] == "ok"
    assert strict_site.get("/", host="10.1.2.3")[0] == 400
    assert strict_site.get("/", host="example.com")[0] == 301


def test_without_the_middleware_probes_fail():
    server = Gunicorn({"HEALTH_SITE_NO_MIDDLEWARE": "1"}, workers=1)
    try:
        assert server.get("/health/", host="10.1.2.3")[0] == 400
        assert run_probe("--port", str(server.port), "--host", "example.com").returncode == 1
    finally:
        server.stop()


# -- stampede: connection count and memory stay flat -------------------------------

PROBE_DB = "deploykit_health_probe"


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _workers(server: Gunicorn) -> list[int]:
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text()
    return [int(pid) for pid in children.split()]


def _hammer(server: Gunicorn, count: int, threads: int = 8) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()

    def loop(n: int) -> None:
        for _ in range(n):
            status = server.get("/health/", host="10.1.2.3")[0]
            with lock:
                statuses.append(status)

    workers = [threading.Thread(target=loop, args=(count // threads,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    return statuses


@pytest.mark.mariadb
@pytest.mark.postgres
def test_probe_stampede_keeps_connections_and_memory_flat():
    maria = db_config(MARIADB_URL)
    admin = MySQLdb.connect(
        host=maria["HOST"],
        port=int(maria["PORT"] or 3306),
        user=maria["USER"],
        password=maria["PASSWORD"],
    )
    admin.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {PROBE_DB}")
    pg = psycopg.connect(POSTGRES_URL, autocommit=True)
    app_name = "deploykit-health-stampede"
    maria_url = MARIADB_URL.rsplit("/", 1)[0] + "/" + PROBE_DB
    pg_url = POSTGRES_URL + ("&" if "?" in POSTGRES_URL else "?") + f"application_name={app_name}"

    def counts() -> tuple[int, int]:
        cursor = admin.cursor()
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s", (PROBE_DB,)
        )
        maria_count = cursor.fetchone()[0]
        pg_count = pg.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app_name,)
        ).fetchone()[0]
        return maria_count, pg_count

    # No result cache: every probe really connects (the worst case for leaks).
    server = Gunicorn(
        {
            "HEALTH_SITE_DATABASES": json.dumps(
                {"default": "sqlite:///:memory:", "maria": maria_url, "pg": pg_url}
            ),
            "HEALTH_SITE_CACHE_SECONDS": "0",
            "HEALTH_SITE_DEADLINE": "0.8",
        },
        workers=2,
        threads=4,
    )
    try:
        assert counts() == (0, 0)
        warm = _hammer(server, 160)
        rss_before = sum(_rss_kb(pid) for pid in _workers(server))
        statuses = _hammer(server, 800)
        rss_after = sum(_rss_kb(pid) for pid in _workers(server))
        assert set(warm) | set(statuses) == {200}
        assert counts() == (0, 0)  # every probe connection was closed
        assert rss_after - rss_before < 5 * 1024  # KB, both workers together
    finally:
        server.stop()
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {PROBE_DB}")
        admin.close()
        pg.close()
