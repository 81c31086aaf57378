"""One small adapter per database engine: what differs between vendors lives here."""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

from django_deploykit.dbcopy.backends.base import Adapter
from django_deploykit.exceptions import ConfigError

__all__ = ["Adapter", "adapter_for"]


def adapter_for(connection: BaseDatabaseWrapper) -> Adapter:
    cls: type[Adapter]
    if connection.vendor == "sqlite":
        from django_deploykit.dbcopy.backends.sqlite import SQLiteAdapter as cls
    elif connection.vendor == "mysql":
        from django_deploykit.dbcopy.backends.mysql import MySQLAdapter as cls
    elif connection.vendor == "postgresql":
        from django_deploykit.dbcopy.backends.postgresql import PostgreSQLAdapter as cls
    else:
        raise ConfigError(
            f"dbcopy supports SQLite, MariaDB/MySQL and PostgreSQL, not {connection.vendor!r}."
        )
    return cls(connection)
