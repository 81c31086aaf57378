"""File operations on the stack's volumes, run by ``python -c`` in a one-off container.

Standard library only, and independent of the rest of the package: the source of
this file is what runs, so it works whatever deploykit version the server image
has. It prints one JSON line on success; errors go to stderr with exit code 1.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable
from typing import Any


def _fail(message: str) -> None:
    sys.stderr.write(message + "\n")
    raise SystemExit(1)


def _applied(path: str) -> list[list[str]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            _fail(f"{path} is damaged (quick_check: {check})")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "django_migrations" not in tables:
            return []
        return [list(r) for r in conn.execute("SELECT app, name FROM django_migrations")]
    finally:
        conn.close()


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: str, dest: str) -> bool:
    """Give ``tmp`` the name ``dest`` unless that name exists (a backup is never replaced)."""
    try:
        os.link(tmp, dest)
    except FileExistsError:
        return False
    finally:
        os.remove(tmp)
    _fsync_dir(os.path.dirname(dest))
    return True


def copy_database(src: str, dest: str) -> None:
    """A consistent single-file copy of a live SQLite database, WAL included (SQLite's
    online backup API). deploy/sqlite.py uses it on the operator's machine too."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dest)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _snapshot(src: str, dest: str) -> bool:
    """A consistent copy of a live database, then publish."""
    tmp = dest + ".part"
    copy_database(src, tmp)
    os.chmod(tmp, 0o600)
    return _publish(tmp, dest)


def inspect(path: str) -> dict:
    if not os.path.exists(path):
        return {"exists": False}
    return {"exists": True, "size": os.path.getsize(path), "applied": _applied(path)}


def backup(db: str, directory: str, name: str) -> dict:
    if not os.path.exists(db):
        return {"skipped": f"{db} does not exist"}
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if not _snapshot(db, os.path.join(directory, name)):
        return {"exists": name}
    return {"name": name, "size": os.path.getsize(os.path.join(directory, name))}


def publish(tmp: str, dest: str) -> dict:
    """An uploaded dump (``tmp``) becomes the backup ``dest``, never replacing one."""
    os.chmod(tmp, 0o600)
    return {"name": dest} if _publish(tmp, dest) else {"exists": dest}


def listing(directory: str) -> dict:
    entries = []
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            full = os.path.join(directory, name)
            if os.path.isfile(full) and not name.endswith(".part"):
                entries.append(
                    {"name": name, "size": os.path.getsize(full), "mtime": os.path.getmtime(full)}
                )
    return {"backups": sorted(entries, key=lambda e: e["name"])}


def prune(directory: str, prefix: str, keep: str) -> dict:
    names = sorted(e["name"] for e in listing(directory)["backups"] if e["name"].startswith(prefix))
    removed = names[: max(len(names) - int(keep), 0)]
    for name in removed:
        os.remove(os.path.join(directory, name))
    return {"removed": removed}


def swap(incoming: str, db: str) -> dict:
    """Put ``incoming`` in place of ``db`` atomically (same directory, os.replace)."""
    _applied(incoming)  # refuses a damaged file
    directory = os.path.dirname(db)
    owner = os.stat(directory)
    # A WAL left by the old database would be replayed into the new file: drop it
    # (the services are stopped and the old database is backed up).
    for suffix in ("-wal", "-shm", "-journal"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    os.chown(incoming, owner.st_uid, owner.st_gid)
    os.chmod(incoming, 0o640)
    os.replace(incoming, db)
    _fsync_dir(directory)
    return {"swapped": db}


def restore(backup_path: str, db: str) -> dict:
    if not os.path.exists(backup_path):
        _fail(f"no backup {backup_path}")
    incoming = db + ".restoring"
    shutil.copyfile(backup_path, incoming)
    return swap(incoming, db)


def remove(path: str) -> dict:
    if os.path.exists(path):
        os.remove(path)
    return {"removed": path}


OPS: dict[str, Callable[..., Any]] = {
    "remove": remove,
    "inspect": inspect,
    "backup": backup,
    "publish": publish,
    "list": listing,
    "prune": prune,
    "swap": swap,
    "restore": restore,
}

if __name__ == "__main__":
    try:
        print(json.dumps(OPS[sys.argv[1]](*sys.argv[2:])))
    except (OSError, sqlite3.Error) as exc:
        _fail(f"{type(exc).__name__}: {exc}")
