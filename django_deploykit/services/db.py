"""Database probe: a probe-only connection to one ``DATABASES`` alias.

The connection is opened with the backend's own parameters (so ``OPTIONS``,
SSL, unix sockets and services work as they do for Django) plus the driver's
own connect/read timeouts, never through Django's thread-local connection, and
is closed before the probe returns: probes leave no connection behind.
"""

from __future__ import annotations

import copy
import math
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import load_backend

from django_deploykit.conf import conf
from django_deploykit.exceptions import ConfigError
from django_deploykit.services.net import classify_os_error
from django_deploykit.services.result import ProbeResult, timed

__all__ = ["classify", "classify_text", "database_settings", "probe_connection", "probe_database"]

# Driver error codes → reasons. MySQL/MariaDB client and server error numbers:
_MYSQL_CODES = {
    1044: "auth",  # access denied for user to database
    1045: "auth",  # access denied (wrong user or password)
    1698: "auth",  # access denied (auth plugin, e.g. unix_socket)
    1049: "unknown_db",
    1040: "busy",  # too many connections
    1203: "busy",  # max_user_connections
    1226: "busy",  # user resource limit
    1053: "starting",  # server shutdown in progress
    1129: "unavailable",  # host blocked because of many connection errors
    2005: "dns",  # unknown server host
    2006: "unavailable",  # server has gone away
    2059: "misconfigured",  # authentication plugin cannot be loaded
    2061: "misconfigured",  # auth plugin requires a secure connection
}
# PostgreSQL SQLSTATEs, when the driver exposes one:
_PG_SQLSTATES = {
    "28P01": "auth",
    "28000": "auth",
    "3D000": "unknown_db",
    "57P03": "starting",  # cannot connect now (starting up, recovery)
    "57P01": "starting",  # admin shutdown
    "53300": "busy",  # too many connections
}
# libpq reports connection failures as text only; match its (English) messages.
_TEXT_RULES = (
    ("password authentication failed", "auth"),
    ("no pg_hba.conf entry", "auth"),
    ("authentication failed", "auth"),
    ("no password supplied", "auth"),
    ('role "', "auth"),  # role "x" does not exist
    ('database "', "unknown_db"),  # database "x" does not exist
    ("unknown database", "unknown_db"),
    ("starting up", "starting"),
    ("shutting down", "starting"),
    ("not yet accepting connections", "starting"),
    ("recovery mode", "starting"),
    ("too many clients", "busy"),
    ("too many connections", "busy"),
    ("remaining connection slots", "busy"),
    ("connection refused", "refused"),
    ("(111)", "refused"),
    ("timeout expired", "timeout"),
    ("timed out", "timeout"),
    ("timeout connecting", "timeout"),
    ("timeout reading", "timeout"),
    ("(110)", "timeout"),
    ("could not translate host name", "dns"),
    ("name or service not known", "dns"),
    ("temporary failure in name resolution", "dns"),
    ("nodename nor servname", "dns"),
    ("unknown server host", "dns"),
    ("server closed the connection unexpectedly", "unavailable"),
    ("lost connection", "unavailable"),
    ("wrongpass", "auth"),  # Redis
    ("noauth", "auth"),
    ("invalid password", "auth"),
    ("invalid username-password", "auth"),
)


def database_settings(alias: str) -> dict[str, Any]:
    """A private copy of the alias's settings with Django's defaults filled in."""
    databases = settings.DATABASES
    if alias not in databases:
        known = ", ".join(sorted(databases)) or "none"
        raise ConfigError(f"No database alias {alias!r} in DATABASES (configured: {known}).")
    config = copy.deepcopy(databases[alias])
    # configure_settings() fills ENGINE/OPTIONS/HOST... defaults in place; give it a copy.
    return connections.configure_settings({DEFAULT_DB_ALIAS: config})[DEFAULT_DB_ALIAS]


def _driver_timeout(vendor: str, timeout: float) -> int:
    # Drivers take whole seconds; libpq treats anything below 2 as 2.
    return max(2 if vendor == "postgresql" else 1, math.ceil(timeout))


@contextmanager
def probe_connection(alias: str, timeout: float | None = None) -> Iterator[Any]:
    """Yield a new raw DB-API connection to ``alias``; it is closed on exit.

    Raises ConfigError, ImproperlyConfigured or the driver's own errors; use
    :func:`classify` to turn them into a reason.
    """
    timeout = conf.SERVICE_TIMEOUT if timeout is None else timeout
    config = database_settings(alias)
    backend = load_backend(config["ENGINE"])
    wrapper = backend.DatabaseWrapper(config, alias)
    vendor = wrapper.vendor
    if vendor == "sqlite":
        raw = _sqlite_connect(config, timeout)
    else:
        params = wrapper.get_connection_params()
        seconds = _driver_timeout(vendor, timeout)
        if vendor == "mysql":
            # read/write timeouts bound a server that accepts and then never answers.
            params.update(connect_timeout=seconds, read_timeout=seconds, write_timeout=seconds)
            raw = wrapper.get_new_connection(params)
        elif vendor == "postgresql":
            params["connect_timeout"] = seconds
            # The driver directly: the backend would take a connection from its pool.
            raw = wrapper.Database.connect(**params)
        else:
            raw = wrapper.get_new_connection(params)
    try:
        yield raw
    finally:
        raw.close()


def _sqlite_connect(config: dict[str, Any], timeout: float) -> sqlite3.Connection:
    name = str(config["NAME"] or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        return sqlite3.connect(name or ":memory:", timeout=timeout, uri=name.startswith("file:"))
    path = Path(name)
    if not path.exists():
        # Django creates the file on first use (migrate): ready when it can.
        directory = path.parent
        if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
            raise ImproperlyConfigured(
                f"SQLite database directory {directory} does not exist or is not writable"
            )
        return sqlite3.connect(":memory:")
    # mode=rw: a probe must not create files.
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", timeout=timeout, uri=True)


def classify(exc: BaseException) -> str:
    """Map a connection error of any supported driver to a reason code."""
    if isinstance(exc, ConfigError):
        return "misconfigured"
    if isinstance(exc, ImproperlyConfigured):
        text = str(exc)
        if "Error loading" in text or "did you install" in text.lower():
            return "missing_driver"
        return "misconfigured"
    if isinstance(exc, ImportError):
        return "missing_driver"
    if isinstance(exc, OSError) and classify_os_error(exc) != "unknown":
        return classify_os_error(exc)  # socket-level: one classification for every probe
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if sqlstate in _PG_SQLSTATES:
        return _PG_SQLSTATES[sqlstate]
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        if args[0] in _MYSQL_CODES:
            return _MYSQL_CODES[args[0]]
        timed_out = "(110)" in str(exc) or "error: 110" in str(exc) or "timed out" in str(exc)
        if args[0] in (2002, 2003):  # can't connect: errno 110 is a timeout, else refused
            return "timeout" if timed_out else "refused"
        if args[0] == 2013:  # lost connection (e.g. during the handshake)
            return "timeout" if timed_out else "unavailable"
    if isinstance(exc, sqlite3.Error):
        text = str(exc).lower()
        if "locked" in text:
            return "busy"
        if "unable to open" in text:
            return "misconfigured"
    return classify_text(str(exc))


def classify_text(text: str) -> str:
    """Reason code from an error message (libpq, Redis and others report text only)."""
    text = text.lower()
    for needle, reason in _TEXT_RULES:
        if needle in text:
            return reason
    return "unknown"


def scrub(text: str, config: dict[str, Any] | None) -> str:
    """Private detail text, one line, without the configured password."""
    text = " ".join(str(text).split())
    password = (config or {}).get("PASSWORD")
    if password:
        text = text.replace(str(password), "********")
    return text[:500]


def probe_database(
    alias: str = DEFAULT_DB_ALIAS, timeout: float | None = None, query: str = "SELECT 1"
) -> ProbeResult:
    """Open a probe-only connection to ``alias``, run ``query``, close it."""
    info: dict[str, str] = {}

    def run() -> tuple[str, str]:
        config: dict[str, Any] | None = None
        try:
            config = database_settings(alias)
            with probe_connection(alias, timeout) as raw:
                cursor = raw.cursor()
                try:
                    cursor.execute(query)
                    cursor.fetchall()
                finally:
                    cursor.close()
                info.update(_server_info(raw))
        except Exception as exc:  # every failure becomes a reason; detail stays private
            return classify(exc), scrub(f"{type(exc).__name__}: {exc}", config)
        return "ok", ""

    result = timed(f"database:{alias}", run)
    return ProbeResult(result.name, result.reason, result.detail, result.duration_ms, info)


def _server_info(raw: Any) -> dict[str, str]:
    if hasattr(raw, "get_server_info"):  # MySQLdb
        return {"server_version": str(raw.get_server_info())}
    pg_info = getattr(raw, "info", None)
    if pg_info is not None and hasattr(pg_info, "server_version"):  # psycopg 3
        return {"server_version": str(pg_info.server_version)}
    if isinstance(raw, sqlite3.Connection):
        return {"server_version": sqlite3.sqlite_version}
    return {}
