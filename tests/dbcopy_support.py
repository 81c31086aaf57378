"""Fixtures and data for the dbcopy tests: scratch databases on the real servers."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import dj_database_url
import pytest
from django.core.management import call_command
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
        call_command("migrate", database=alias, verbosity=0)
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
            call_command("migrate", database=alias, verbosity=0)
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
