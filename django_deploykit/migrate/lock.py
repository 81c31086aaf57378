"""A database-wide lock around ``migrate`` so two runners never migrate at once.

Two deploys (a retried Job, a Swarm job and a stray ``manage.py migrate``) that
migrate at the same moment both see the same pending migrations and both apply
them: on PostgreSQL one fails with ``DuplicateTable``, on MariaDB (non-
transactional DDL) the schema can be left half-applied. The lock serializes
them; the second runner then finds nothing to do.

The lock lives in the database itself, on a connection of its own (so closing
or reopening Django's connection during ``migrate`` cannot drop it):

* PostgreSQL: ``pg_try_advisory_lock`` (session lock, released when the
  connection closes, also when the process dies);
* MariaDB/MySQL: ``GET_LOCK`` (same lifetime);
* SQLite: an exclusive ``flock`` on a file next to the database file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.db import connections

from django_deploykit.exceptions import ConfigError, ServiceUnavailable

__all__ = ["lock_name", "migration_lock"]

POLL_SECONDS = 0.5


def lock_name(alias: str) -> str:
    """A stable name per database: runners of different projects on one server do not
    block each other."""
    name = str(connections[alias].settings_dict.get("NAME") or alias)
    return f"deploykit-migrate:{name}"[:64]


def _pg_key(name: str) -> int:
    # pg advisory locks take a signed 64-bit key.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def migration_lock(
    alias: str = "default",
    timeout: float = 600.0,
    on_wait: Callable[[float], None] | None = None,
) -> Iterator[str]:
    """Hold the migration lock of ``alias`` for the body; yields how it is held.

    Raises ServiceUnavailable when another runner holds it for longer than
    ``timeout`` seconds.
    """
    vendor = connections[alias].vendor
    name = lock_name(alias)
    if vendor == "sqlite":
        with _file_lock(alias, timeout, on_wait) as how:
            yield how
        return
    if vendor not in ("postgresql", "mysql"):
        # No portable lock on other backends: migrate as Django would.
        yield f"no lock on {vendor}"
        return
    conn: Any = connections.create_connection(alias)
    try:
        with conn.cursor() as cursor:
            acquire, release, params = _statements(vendor, name)
            _poll(lambda: _fetch(cursor, acquire, params), timeout, on_wait, name)
            try:
                yield f"{vendor} lock {name!r}"
            finally:
                cursor.execute(release, params)
    finally:
        conn.close()


def _statements(vendor: str, name: str) -> tuple[str, str, list[Any]]:
    if vendor == "postgresql":
        key = _pg_key(name)
        return "SELECT pg_try_advisory_lock(%s)", "SELECT pg_advisory_unlock(%s)", [key]
    # GET_LOCK with timeout 0 tries once; polling keeps the deadline ours.
    return "SELECT GET_LOCK(%s, 0)", "SELECT RELEASE_LOCK(%s)", [name]


def _fetch(cursor: Any, sql: str, params: list[Any]) -> bool:
    cursor.execute(sql, params)
    row = cursor.fetchone()
    return bool(row and row[0])


def _poll(
    attempt: Callable[[], bool],
    timeout: float,
    on_wait: Callable[[float], None] | None,
    name: str,
) -> None:
    start = time.monotonic()
    while not attempt():
        waited = time.monotonic() - start
        if waited >= timeout:
            raise ServiceUnavailable(
                f"Another migrate has held the lock {name!r} for {timeout:g} s. Wait for it "
                "to finish (or find and stop it), or raise --lock-timeout."
            )
        if on_wait:
            on_wait(waited)
        time.sleep(POLL_SECONDS)


@contextlib.contextmanager
def _file_lock(
    alias: str, timeout: float, on_wait: Callable[[float], None] | None
) -> Iterator[str]:
    name = str(connections[alias].settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        yield "no lock (in-memory SQLite)"
        return
    try:
        import fcntl
    except ImportError:  # Windows: no concurrent runners to guard against there.
        yield "no lock (no fcntl)"
        return
    path = Path(f"{name}.migrate-lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the migration lock file {path} ({exc.strerror}): the directory "
            "of the SQLite database must be writable."
        ) from None
    try:

        def attempt() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        _poll(attempt, timeout, on_wait, str(path))
        yield f"file lock {path}"
    finally:
        os.close(fd)  # closing drops the flock
