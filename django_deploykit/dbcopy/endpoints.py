"""Turn ``--from``/``--to`` (a DATABASES alias or a database URL) into a connection alias.

The source is always opened under a private alias whose sessions are read-only
(SQLite ``PRAGMA query_only``, a read-only session on MariaDB and PostgreSQL): no
stray write, ours or a project's, can reach it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.signals import connection_created

from django_deploykit.exceptions import ConfigError

__all__ = ["SOURCE_ALIAS", "TARGET_ALIAS", "describe", "open_source", "resolve", "shown"]

SOURCE_ALIAS = "dbcopy_from"
TARGET_ALIAS = "dbcopy_to"
# No collation is forced: the connection then gets the server's default collation for
# utf8mb4, which is also what a database made as the docs say (CHARACTER SET utf8mb4)
# gets. The pre-flight warns when the two differ ("Illegal mix of collations").
MYSQL_OPTIONS = {"charset": "utf8mb4"}

_READ_ONLY_SQL = {
    "sqlite": "PRAGMA query_only = ON",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
    "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
}


def _read_only_session(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.alias == SOURCE_ALIAS:
        with connection.cursor() as cursor:
            cursor.execute(_READ_ONLY_SQL[connection.vendor])


connection_created.connect(_read_only_session, dispatch_uid="deploykit-dbcopy-read-only")


def _settings_for(spec: str, role: str) -> dict[str, Any]:
    if spec in connections.settings:
        return dict(connections.settings[spec])
    if "://" not in spec:
        known = ", ".join(sorted(a for a in connections.settings if not a.startswith("dbcopy_")))
        raise ConfigError(
            f"--{role} {spec!r} is neither a DATABASES alias (known: {known or 'none'}) nor a "
            "database URL such as sqlite:///db.sqlite3 or mysql://user:password@host/name."
        )
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(spec))
    except ValueError as exc:  # unknown scheme
        raise ConfigError(f"--{role}: cannot parse the database URL ({exc}).") from exc
    if config["ENGINE"].endswith("mysql"):
        # 4-byte characters (emoji) need utf8mb4 on the connection too.
        options = config.setdefault("OPTIONS", {})
        for key, value in MYSQL_OPTIONS.items():
            options.setdefault(key, value)
    # configure_settings fills the defaults Django expects of every alias.
    return connections.configure_settings({DEFAULT_DB_ALIAS: config})[DEFAULT_DB_ALIAS]


def _register(alias: str, settings: dict[str, Any]) -> str:
    if alias in connections.settings:
        connections[alias].close()
        del connections[alias]
    connections.settings[alias] = settings
    return alias


def open_source(spec: str) -> str:
    """The read-only alias of the source named by ``spec``."""
    return _register(SOURCE_ALIAS, _settings_for(spec, "from"))


def resolve(spec: str, role: str) -> str:
    """Return the alias for ``spec``; a URL is registered as alias ``dbcopy_<role>``."""
    if spec in connections.settings:
        return spec
    return _register(f"dbcopy_{role}", _settings_for(spec, role))


def shown(spec: str) -> str:
    """What the user typed, without a password: names the database in messages."""
    if "://" not in spec:
        return spec
    parts = urlsplit(spec)
    if parts.password is None:
        return spec
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def describe(alias: str) -> str:
    """A printable name of the database behind ``alias``, without credentials."""
    settings = connections[alias].settings_dict
    vendor = connections[alias].vendor
    host = settings.get("HOST") or ""
    port = settings.get("PORT") or ""
    where = f"{host}:{port}/" if host else ""
    return f"{vendor} {where}{settings.get('NAME')}"
