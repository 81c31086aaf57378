"""The database probe against real MariaDB, PostgreSQL and SQLite servers."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from django_deploykit.exceptions import ConfigError
from django_deploykit.services.db import classify, database_settings, probe_database
from tests.health_fixtures import (
    MARIADB_URL,
    POSTGRES_URL,
    closed_port,  # noqa: F401
    db_config,
    hung_port,  # noqa: F401
    sqlite_config,
)

pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")

SERVERS = [
    pytest.param("mariadb", marks=pytest.mark.mariadb),
    pytest.param("postgres", marks=pytest.mark.postgres),
]
URLS = {"mariadb": MARIADB_URL, "postgres": POSTGRES_URL}


def probe(config, timeout=2.0):
    with override_settings(DATABASES={"default": sqlite_config(), "probe": config}):
        return probe_database("probe", timeout)


@pytest.mark.parametrize("server", SERVERS)
def test_healthy_server_answers_ok_with_version(server):
    result = probe(db_config(URLS[server]))
    assert result.reason == "ok", result.detail
    assert result.ok and not result.permanent
    assert result.info["server_version"]


@pytest.mark.parametrize("server", SERVERS)
def test_wrong_password_is_auth_and_password_never_in_detail(server):
    config = db_config(URLS[server], USER="deploykit_nobody", PASSWORD="s3cr3t-Pa55")
    started = time.monotonic()
    result = probe(config)
    assert time.monotonic() - started < 1
    assert result.reason == "auth", result.detail
    assert result.permanent
    assert "s3cr3t-Pa55" not in result.detail


@pytest.mark.parametrize("server", SERVERS)
def test_unknown_database(server):
    result = probe(db_config(URLS[server], NAME="deploykit_no_such_db"))
    assert result.reason == "unknown_db", result.detail
    assert result.permanent


@pytest.mark.parametrize("server", SERVERS)
def test_closed_port_is_refused(server, closed_port):  # noqa: F811
    result = probe(db_config(URLS[server], HOST="127.0.0.1", PORT=closed_port))
    assert result.reason == "refused", result.detail
    assert not result.permanent


@pytest.mark.parametrize("server", SERVERS)
def test_hung_server_times_out_within_the_driver_timeout(server, hung_port):  # noqa: F811
    started = time.monotonic()
    result = probe(db_config(URLS[server], HOST="127.0.0.1", PORT=hung_port), timeout=1)
    elapsed = time.monotonic() - started
    assert result.reason == "timeout", result.detail
    # MySQL's smallest timeout is 1 s and libpq's is 2 s.
    assert elapsed < {"mariadb": 2.5, "postgres": 3.5}[server]


def test_sqlite_memory_file_and_missing_directory(tmp_path):
    assert probe(sqlite_config()).ok
    # A file that does not exist yet is ready when its directory is writable
    # (migrate creates it), and the probe must not create it.
    missing = tmp_path / "db.sqlite3"
    assert probe({"ENGINE": "django.db.backends.sqlite3", "NAME": str(missing)}).ok
    assert not missing.exists()
    bad = probe({"ENGINE": "django.db.backends.sqlite3", "NAME": "/nonexistent/dir/db.sqlite3"})
    assert bad.reason == "misconfigured"


def test_unknown_alias_and_unknown_engine():
    with pytest.raises(ConfigError, match="No database alias 'nope'"):
        database_settings("nope")
    result = probe({"ENGINE": "django.db.backends.no_such_engine", "NAME": "x"})
    assert result.reason == "misconfigured"


@pytest.mark.parametrize(
    "error, reason",
    [
        (ImportError("No module named MySQLdb"), "missing_driver"),
        (OSError("[Errno 111] Connection refused"), "refused"),
        (Exception("connection failed: FATAL:  the database system is starting up"), "starting"),
        (Exception("FATAL: sorry, too many clients already"), "busy"),
        (Exception('could not translate host name "db" to address'), "dns"),
        (Exception("something new"), "unknown"),
    ],
)
def test_classify_driver_messages(error, reason):
    assert classify(error) == reason
