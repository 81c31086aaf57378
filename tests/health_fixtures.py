"""Loopback servers for the health and wait_for_db tests (imported by those modules).

Every server listens on 127.0.0.1 only, and every loop here is bounded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import pytest

ROOT = Path(__file__).resolve().parent.parent
MARIADB_URL = os.environ.get("DEPLOYKIT_TEST_MARIADB_URL", "")
POSTGRES_URL = os.environ.get("DEPLOYKIT_TEST_POSTGRES_URL", "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HungServer:
    """Accepts TCP connections and never sends a byte (a black-holed service)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        deadline = time.monotonic() + 600  # never outlive a test session by much
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def hung_port() -> Iterator[int]:
    server = HungServer()
    yield server.port
    server.close()


@pytest.fixture
def closed_port() -> int:
    return free_port()  # nothing listens there: connections are refused


def db_config(url: str, **changes: object) -> dict:
    config = dict(dj_database_url.parse(url))
    config.update(changes)
    return config


def sqlite_config() -> dict:
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}


# -- a throwaway PostgreSQL cluster that starts late --------------------------------

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


class LatePostgres:
    """A PostgreSQL cluster under /tmp on a free port, run as the ``postgres`` user."""

    def __init__(self, base: Path) -> None:
        if PG_BIN is None or shutil.which("runuser") is None:
            pytest.skip("PostgreSQL server binaries (pg_ctl) are not installed")
        self.base = base
        self.data = base / "data"
        self.port = free_port()
        base.mkdir(parents=True, exist_ok=True)
        shutil.chown(base, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / tool), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.base / "log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@pytest.fixture(scope="session")
def late_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LatePostgres]:
    base = Path("/tmp") / f"deploykit-pg-{os.getpid()}"
    server = LatePostgres(base)
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


# -- gunicorn serving the health test site ------------------------------------------


class Gunicorn:
    def __init__(self, env: dict[str, str], workers: int = 2, threads: int = 1) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "tests.health_site",
            **env,
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "tests.health_site_wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                self.get("/health/live/", timeout=2)
                return  # a worker has booted and answers (any status)
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("gunicorn did not start within 30 s")

    def get(self, path: str, host: str = "10.1.2.3", timeout: float = 5) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers={"Host": host}
        )
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def database_host(url: str) -> str:
    return urlsplit(url).hostname or ""
