"""Turn ``--from``/``--to`` (a DATABASES alias or a database URL) into a connection alias."""

from __future__ import annotations

from typing import Any

import dj_database_url
from django.db import DEFAULT_DB_ALIAS, connections

from django_deploykit.exceptions import ConfigError

__all__ = ["describe", "resolve"]


def resolve(spec: str, role: str) -> str:
    """Return the alias for ``spec``; a URL is registered as alias ``dbcopy_<role>``."""
    if spec in connections.settings:
        return spec
    if "://" not in spec:
        known = ", ".join(sorted(connections.settings)) or "none"
        raise ConfigError(
            f"--{role} {spec!r} is neither a DATABASES alias (known: {known}) nor a database "
            "URL such as sqlite:///db.sqlite3 or mysql://user:password@host/name."
        )
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(spec))
    except ValueError as exc:  # unknown scheme
        raise ConfigError(f"--{role}: cannot parse the database URL ({exc}).") from exc
    if config["ENGINE"].endswith("mysql"):
        # 4-byte characters (emoji) need utf8mb4 on the connection too.
        config.setdefault("OPTIONS", {}).setdefault("charset", "utf8mb4")
    alias = f"dbcopy_{role}"
    # configure_settings fills the defaults Django expects of every alias.
    connections.settings[alias] = connections.configure_settings({DEFAULT_DB_ALIAS: config})[
        DEFAULT_DB_ALIAS
    ]
    return alias


def describe(alias: str) -> str:
    """A printable name of the database behind ``alias``, without credentials."""
    settings = connections[alias].settings_dict
    vendor = connections[alias].vendor
    host = settings.get("HOST") or ""
    port = settings.get("PORT") or ""
    where = f"{host}:{port}/" if host else ""
    return f"{alias} ({vendor} {where}{settings.get('NAME')})"
