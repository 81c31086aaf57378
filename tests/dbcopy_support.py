"""Fixtures and data for the dbcopy tests: scratch databases on the real servers."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import dj_database_url
import pytest
from django.db import DEFAULT_DB_ALIAS, connections

_ids = itertools.count()


def register(url: str, prefix: str = "scratch") -> str:
    alias = f"{prefix}_{next(_ids)}"
    config = dict(dj_database_url.parse(url))
    if config["ENGINE"].endswith("mysql"):
        config.setdefault("OPTIONS", {})["charset"] = "utf8mb4"
    connections.settings[alias] = connections.configure_settings({DEFAULT_DB_ALIAS: config})[
        DEFAULT_DB_ALIAS
    ]
    return alias


def migrate_database(alias: str) -> None:
    """Migrate like ``manage.py migrate`` run against that database: the test app's data
    migration writes through the default connection, as careless real ones do."""
    from django_deploykit.dbcopy.migrate import migrate_target

    migrate_target(alias, verbosity=0)


def fingerprint(alias: str) -> str:
    """A digest of everything in a database: the file's bytes (SQLite), or every table's
    rows, every sequence and the table list (servers). Equal digests: nothing was written."""
    connection = connections[alias]
    if connection.vendor == "sqlite":
        connection.close()  # nothing of ours holds the file open while it is read
        path = Path(connection.settings_dict["NAME"])
        digest = hashlib.sha256(path.read_bytes())
        for extra in (Path(f"{path}-wal"), Path(f"{path}-journal")):
            digest.update(extra.read_bytes() if extra.exists() else b"-")
        return digest.hexdigest()
    parts = []
    with connection.cursor() as cursor:
        tables = sorted(connection.introspection.table_names(cursor))
        parts.append(",".join(tables))
        if connection.vendor == "mysql":
            cursor.execute(
                "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME"
            )
            parts.append(repr(cursor.fetchall()))
            if tables:
                cursor.execute(
                    "CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables) + " EXTENDED"
                )
                parts.append(repr(cursor.fetchall()))
        else:
            for table in tables:
                cursor.execute(
                    "SELECT COUNT(*), md5(string_agg(t::text, '|' ORDER BY t::text)) "
                    f'FROM "{table}" t'
                )
                parts.append(f"{table}:{cursor.fetchone()}")
            cursor.execute("SELECT sequencename, last_value FROM pg_sequences ORDER BY 1")
            parts.append(repr(cursor.fetchall()))
    connection.close()
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@pytest.fixture
def untouched(db_access: None) -> Iterator[Callable[[str], None]]:
    """untouched(alias): fingerprint the database now and fail the test if it changed by
    its end (every dbcopy test calls it on its source)."""
    watched: list[tuple[str, str]] = []

    def watch(alias: str) -> None:
        watched.append((alias, fingerprint(alias)))

    yield watch
    for alias, before in watched:
        assert fingerprint(alias) == before, f"{alias} was written to"


def forget(alias: str) -> None:
    connections[alias].close()
    del connections.settings[alias]


@pytest.fixture
def db_access(django_db_blocker: pytest.FixtureRequest) -> Iterator[None]:
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, django_db_blocker) -> Path:
    path = tmp_path_factory.mktemp("dbcopy") / "template.sqlite3"
    with django_db_blocker.unblock():
        alias = register(f"sqlite:///{path}")
        migrate_database(alias)
        forget(alias)
    return path


@pytest.fixture
def make_sqlite(tmp_path: Path, sqlite_template: Path, db_access: None) -> Iterator:
    """Fresh migrated SQLite databases: make_sqlite() -> (alias, url)."""
    made = []

    def make() -> tuple[str, str]:
        path = tmp_path / f"db{len(made)}.sqlite3"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
        made.append(register(url, "sqlite"))
        return made[-1], url

    yield make
    for alias in made:
        forget(alias)


def _server(kind: str) -> tuple[str, str]:
    url = os.environ[f"DEPLOYKIT_TEST_{kind.upper()}_URL"]
    return url, url.rsplit("/", 1)[0]


@pytest.fixture
def make_server_db(db_access: None) -> Iterator:
    """Fresh databases on MariaDB/PostgreSQL: make_server_db(kind, migrate=True)."""
    made: list[tuple[str, str, str]] = []

    def make(kind: str, migrate: bool = True, charset: str = "utf8mb4") -> tuple[str, str]:
        url, base = _server(kind)
        name = f"deploykit_dbcopy_{os.getpid()}_{next(_ids)}"
        admin = register(url, "admin")
        with connections[admin].cursor() as cursor:
            if kind == "mariadb":
                cursor.execute(f"DROP DATABASE IF EXISTS {name}")
                cursor.execute(f"CREATE DATABASE {name} CHARACTER SET {charset}")
            else:
                connections[admin].connection.autocommit = True
                cursor.execute(f"DROP DATABASE IF EXISTS {name}")
                cursor.execute(f"CREATE DATABASE {name}")
        forget(admin)
        alias = register(f"{base}/{name}", kind)
        made.append((kind, name, alias))
        if migrate:
            migrate_database(alias)
        return alias, f"{base}/{name}"

    yield make
    for kind, name, alias in made:
        forget(alias)
        admin = register(_server(kind)[0], "admin")
        with connections[admin].cursor() as cursor:
            if kind == "postgres":
                connections[admin].connection.autocommit = True
                cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        forget(admin)
