"""``manage.py wait_for_db`` against real servers, closed ports, hung listeners and late starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.health_fixtures import (
    MARIADB_URL,
    POSTGRES_URL,
    ROOT,
    closed_port,  # noqa: F401
    db_config,
    hung_port,  # noqa: F401
    late_postgres,  # noqa: F401
    sqlite_config,
)

pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


def wait(databases, *args):
    out = StringIO()
    started = time.monotonic()
    with override_settings(DATABASES={"default": sqlite_config(), **databases}):
        try:
            call_command("wait_for_db", *args, stdout=out, stderr=out)
        except CommandError as exc:
            return exc.returncode, f"{out.getvalue()}{exc}", time.monotonic() - started
    return 0, out.getvalue(), time.monotonic() - started


@pytest.mark.mariadb
@pytest.mark.postgres
def test_ready_servers_return_at_once():
    code, out, elapsed = wait(
        {"maria": db_config(MARIADB_URL), "pg": db_config(POSTGRES_URL)}, "--cache"
    )
    assert code == 0, out
    assert "Ready after" in out and "database:maria" in out and "cache:default" in out
    assert elapsed < 1


@pytest.mark.mariadb
@pytest.mark.postgres
def test_wrong_password_fails_fast_with_exit_2_and_no_secret():
    for url in (MARIADB_URL, POSTGRES_URL):
        config = db_config(url, USER="deploykit_nobody", PASSWORD="Very-Secret-1")
        code, out, elapsed = wait({"x": config}, "--timeout", "30")
        assert code == 2, out
        assert elapsed < 1
        assert "auth" in out and "USER/PASSWORD" in out
        assert "Very-Secret-1" not in out


@pytest.mark.mariadb
@pytest.mark.postgres
def test_unknown_database_exits_2():
    for url in (MARIADB_URL, POSTGRES_URL):
        code, out, elapsed = wait(
            {"x": db_config(url, NAME="deploykit_no_such")}, "--timeout", "30"
        )
        assert code == 2 and "unknown_db" in out and elapsed < 1, out


@pytest.mark.postgres
def test_closed_port_times_out_with_exit_1_and_status_lines(closed_port):  # noqa: F811
    config = db_config(POSTGRES_URL, HOST="127.0.0.1", PORT=closed_port)
    code, out, elapsed = wait({"x": config}, "--database", "x", "--timeout", "1.5")
    assert code == 1, out
    assert "Timed out after 1.5 s waiting for database:x (refused)" in out
    assert out.count("database:x: refused") >= 2  # a status line per second at -v1
    assert 1.5 <= elapsed < 2.5


@pytest.mark.mariadb
@pytest.mark.postgres
def test_hung_servers_honour_the_timeout(hung_port):  # noqa: F811
    databases = {
        "maria": db_config(MARIADB_URL, HOST="127.0.0.1", PORT=hung_port),
        "pg": db_config(POSTGRES_URL, HOST="127.0.0.1", PORT=hung_port),
    }
    code, out, elapsed = wait(
        databases, "--database", "maria", "--database", "pg", "--timeout", "1.5"
    )
    assert code == 1, out
    assert "timeout" in out
    assert 1.5 <= elapsed < 2.5


def test_misconfiguration_exits_2():
    code, out, _ = wait({}, "--database", "nope")
    assert code == 2 and "No database alias 'nope'" in out
    with override_settings(DEPLOYKIT_MEILISEARCH_URL=None):
        code, out, _ = wait({}, "--search")
    assert code == 2 and "MEILISEARCH_URL" in out
    code, out, _ = wait({"bad": {"ENGINE": "django.db.backends.postgresql", "NAME": ""}})
    assert code == 2 and "misconfigured" in out
    code, out, _ = wait({}, "--then", "  ")
    assert code == 2


@pytest.mark.mariadb
def test_missing_driver_exits_2_in_a_fresh_process():
    # A real missing module: block MySQLdb's import before Django loads the backend.
    script = (
        "import sys; sys.modules['MySQLdb'] = None\n"
        "import django; django.setup()\n"
        "from django.core.management import execute_from_command_line\n"
        "execute_from_command_line(['manage.py', 'wait_for_db', '--database', 'mariadb'])\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "missing_driver" in proc.stderr and "pip install mysqlclient" in proc.stderr
    assert time.monotonic() - started < 5


def test_then_runs_commands_after_ready():
    code, out, _ = wait({}, "--then", "healthcheck --tier live --json")
    assert code == 0, out
    assert json.loads(out[out.index("{") :])["tier"] == "live"


@pytest.mark.postgres
def test_late_postgres_is_detected_soon_after_it_starts(late_postgres):  # noqa: F811
    config = db_config(late_postgres.url)
    starter = threading.Timer(1.0, late_postgres.start)
    started = time.monotonic()
    starter.start()
    try:
        code, out, elapsed = wait({"late": config}, "--database", "late", "--timeout", "40")
    finally:
        starter.join()
    up_after = time.monotonic() - started  # pg_ctl -w returned: the server accepts queries
    assert code == 0, out
    assert "database:late: refused" in out or "database:late: starting" in out
    assert "Ready after" in out
    # Returned within a second of pg_ctl's own readiness wait (pg_ctl polls too).
    assert elapsed < up_after + 1
    late_postgres.stop()
