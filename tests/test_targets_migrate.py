"""Migrations on several machines: the locked migrate and the wait for migrations.

Two runners started together on a fresh database: the lock is held by the test
first, so both are provably waiting at the same time; when it is released
exactly one applies the migrations and the other finds nothing to do.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dj_database_url
import pytest

from django_deploykit.migrate.lock import _pg_key

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="example_site.settings",
        DATABASE_URL=database_url,
        SECRET_KEY="migrate-test-not-secret",
        DEBUG="false",
    )
    return env


def _manage(database_url: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE,
        env=_env(database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


class _Server:
    """A fresh database on a real server, and a connection that can hold the lock."""

    def __init__(self, vendor: str, url: str):
        self.vendor, self.config = vendor, dj_database_url.parse(url)
        self.name = f"dk_migrate_{uuid.uuid4().hex[:8]}"
        self.admin = self._connect(self.config["NAME"] or "postgres")
        with self.admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {self.name}")
        scheme = "mysql" if vendor == "mariadb" else "postgres"
        user = self.config["USER"] or ""
        password = f":{self.config['PASSWORD']}" if self.config["PASSWORD"] else ""
        host = self.config["HOST"] or "127.0.0.1"
        port = self.config["PORT"] or (3306 if vendor == "mariadb" else 5432)
        self.url = f"{scheme}://{user}{password}@{host}:{port}/{self.name}"

    def _connect(self, dbname: str):
        c = self.config
        if self.vendor == "mariadb":
            import MySQLdb

            conn = MySQLdb.connect(
                host=c["HOST"] or "127.0.0.1",
                port=int(c["PORT"] or 3306),
                user=c["USER"],
                password=c["PASSWORD"] or "",
                database=dbname,
            )
            conn.autocommit(True)
            return conn
        import psycopg

        return psycopg.connect(
            host=c["HOST"] or "127.0.0.1",
            port=int(c["PORT"] or 5432),
            user=c["USER"] or None,
            password=c["PASSWORD"] or None,
            dbname=dbname,
            autocommit=True,
        )

    def hold_lock(self):
        conn = self._connect(self.name)
        name = f"deploykit-migrate:{self.name}"
        with conn.cursor() as cur:
            if self.vendor == "mariadb":
                cur.execute("SELECT GET_LOCK(%s, 5)", [name])
            else:
                cur.execute("SELECT pg_advisory_lock(%s)", [_pg_key(name)])
            cur.fetchone()
        return conn

    def applied(self) -> list[tuple[str, str]]:
        conn = self._connect(self.name)
        with conn.cursor() as cur:
            cur.execute("SELECT app, name FROM django_migrations")
            rows = [tuple(r) for r in cur.fetchall()]
        conn.close()
        return rows

    def drop(self):
        with self.admin.cursor() as cur:
            if self.vendor == "postgres":
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    [self.name],
                )
            cur.execute(f"DROP DATABASE IF EXISTS {self.name}")
        self.admin.close()


def _race(database_url: str, holder) -> list[str]:
    """Start two runners while the lock is held, release it, return both outputs."""
    runners = [_manage(database_url, "migrate_locked", "--noinput") for _ in range(2)]
    try:
        deadline = time.monotonic() + 20
        # Both must be blocked on the lock (alive) well past their start-up.
        time.sleep(2.5)
        assert all(r.poll() is None for r in runners), [r.communicate()[0] for r in runners]
        holder.close()  # closing the session releases the lock
        outputs = [r.communicate(timeout=max(1, deadline - time.monotonic()))[0] for r in runners]
    finally:
        for r in runners:
            if r.poll() is None:
                r.kill()
    assert [r.returncode for r in runners] == [0, 0], outputs
    return outputs


def _assert_once(outputs: list[str]) -> None:
    assert all("Another migrate holds the lock" in out for out in outputs), outputs
    applying = [out for out in outputs if "Applying blog.0001_initial" in out]
    assert len(applying) == 1, outputs
    assert sum("No migrations to apply" in out for out in outputs) == 1, outputs


@pytest.mark.parametrize(
    "vendor",
    [
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_two_concurrent_migrates_do_not_both_migrate(vendor):
    url = os.environ[f"DEPLOYKIT_TEST_{vendor.upper()}_URL"]
    server = _Server(vendor, url)
    try:
        outputs = _race(server.url, server.hold_lock())
        _assert_once(outputs)
        applied = server.applied()
        assert len(applied) == len(set(applied)) and ("blog", "0001_initial") in applied
    finally:
        server.drop()


def test_sqlite_file_lock_serializes_runners(tmp_path):
    import fcntl

    db = tmp_path / "db.sqlite3"
    fd = os.open(f"{db}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)

    class Holder:
        def close(self):
            os.close(fd)

    outputs = _race(f"sqlite:///{db}", Holder())
    _assert_once(outputs)


def test_lock_timeout_fails_clearly(tmp_path):
    import fcntl

    db = tmp_path / "db.sqlite3"
    fd = os.open(f"{db}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        proc = _manage(f"sqlite:///{db}", "migrate_locked", "--noinput", "--lock-timeout", "1")
        out = proc.communicate(timeout=30)[0]
    finally:
        os.close(fd)
    assert proc.returncode == 1, out
    assert "held the lock" in out and "--lock-timeout" in out
    assert not db.exists() or db.stat().st_size == 0 or "Applying" not in out


def test_wait_for_migrations_blocks_until_migrated_then_passes(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    waiter = _manage(url, "wait_for_migrations", "--timeout", "60", "--interval", "0.3")
    time.sleep(2)
    assert waiter.poll() is None, waiter.communicate()[0]  # still pending: it must wait
    migrate = _manage(url, "migrate_locked", "--noinput", "-v0")
    assert migrate.wait(timeout=60) == 0, migrate.communicate()[0]
    out = waiter.communicate(timeout=30)[0]
    assert waiter.returncode == 0, out
    assert "pending" in out and "Migrations are up to date" in out


def test_wait_for_migrations_gives_up_at_the_deadline(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    proc = _manage(url, "wait_for_migrations", "--timeout", "1", "--interval", "0.2")
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 1, out
    assert "Gave up after 1 s" in out and "still pending (contenttypes.0001_initial" in out
