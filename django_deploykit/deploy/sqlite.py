"""Validate an SQLite database before it is shipped: a real, intact Django database
whose migrations the code knows. Nothing on the server changes before this passes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from django_deploykit.deploy.remote_ops import copy_database
from django_deploykit.exceptions import ConfigError

__all__ = ["HEADER", "ahead", "check_not_ahead", "snapshot", "validate"]

HEADER = b"SQLite format 3\x00"
Migration = tuple[str, str]


def validate(path: Path) -> set[Migration]:
    """The migrations applied in the file; ConfigError saying what is wrong otherwise."""
    if not path.is_file():
        raise ConfigError(
            f"{path} does not exist or is not a file: give the SQLite database "
            "file to ship (e.g. db.sqlite3)."
        )
    with open(path, "rb") as f:
        header = f.read(len(HEADER))
    if header != HEADER:
        raise ConfigError(
            f"{path} is not an SQLite database (it does not start with the SQLite header). "
            "Give the database file itself, not a dump or a JSON fixture."
        )
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            check = [r[0] for r in conn.execute("PRAGMA quick_check")]
            if check != ["ok"]:
                raise ConfigError(
                    f"{path} is damaged (SQLite quick_check: {'; '.join(check[:3])}). Ship a "
                    "good copy, or recover it with `sqlite3 {path} .recover`."
                )
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            if "django_migrations" not in tables:
                raise ConfigError(
                    f"{path} has no django_migrations table: it is not a Django database, or "
                    "it was never migrated. Run `manage.py migrate` against it first."
                )
            return {(a, n) for a, n in conn.execute("SELECT app, name FROM django_migrations")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path} cannot be read as an SQLite database ({exc}).") from None


def ahead(
    applied: Iterable[Migration], known: Iterable[Migration], *, other_apps: bool = True
) -> list[str]:
    """Applied migrations the code does not have; with ``other_apps=False``, only those
    of apps the code has (a backup may predate an app's removal).
    """
    known = set(known)
    apps = {app for app, _ in known}
    return sorted(f"{a}.{n}" for a, n in set(applied) - known if other_apps or a in apps)


def check_not_ahead(
    what: str,
    applied: Iterable[Migration],
    known: Iterable[Migration],
    code: str,
    *,
    other_apps: bool = True,
) -> None:
    extra = ahead(applied, known, other_apps=other_apps)
    if extra:
        apps = {app for app, _ in known}
        foreign = sorted({m.split(".", 1)[0] for m in extra} - apps)
        shown = ", ".join(extra[:8]) + (f" and {len(extra) - 8} more" if len(extra) > 8 else "")
        why = (
            f"It has apps that {code} does not have ({', '.join(foreign)}): is it the "
            "database of another project, or of code not deployed yet? If so, "
            if foreign
            else "Its schema is newer than the code; "
        )
        raise ConfigError(
            f"{what} has migrations that {code} does not have: {shown}. {why}deploy the "
            "code that has these migrations first (`manage.py deploy code`, or `deploy full`)."
        )


def snapshot(path: Path, dest: Path) -> Path:
    """A consistent single-file copy (reads through a WAL; SQLite's online backup API).

    The routine is remote_ops's: that module must stay standard-library only (its
    source runs in a one-off container), so this one borrows it, not the other way.
    """
    copy_database(str(path), str(dest))
    return dest
