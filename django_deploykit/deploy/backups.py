"""Consistent backups of the stack's database, retention, and what the code's schema is.

* SQLite: SQLite's online backup API, in a helper container on the data volume
  (consistent while the site runs).
* MariaDB: ``mariadb-dump --single-transaction``; PostgreSQL: ``pg_dump -Fc``; both
  run inside the db container (``docker compose exec``, so credentials stay in
  that container's environment), stream to a local temporary file, and are then
  stored with a ``.json`` sidecar listing the applied migrations.

Backups go to the ``<project>_deploykit-backups`` volume (``docker compose down
-v`` does not remove it), named ``<project>-<UTC time>[-<reason>].<ext>``; the
newest ``keep`` are kept. ``--output DIR`` also copies one to a local directory.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django_deploykit.deploy import images
from django_deploykit.deploy.helper import BACKUP_DIR, Helper
from django_deploykit.deploy.steps import StepFailed
from django_deploykit.deploy.target import Target, engine_name
from django_deploykit.exceptions import ConfigError, DeployKitError

__all__ = [
    "applied_on_server",
    "backup_stamp",
    "download",
    "known_by_code",
    "list_backups",
    "make_backup",
    "private_directory",
    "prune",
]

EXTENSIONS = {"sqlite": ".sqlite3", "mariadb": ".sql.gz", "postgres": ".pgdump"}
# Names a squashed migration replaces count as known: a database may have them recorded.
_KNOWN = (
    "import json, django; django.setup(); "
    "from django.db.migrations.loader import MigrationLoader; "
    "disk = MigrationLoader(None, ignore_no_migrations=True).disk_migrations; "
    "known = set(disk).union(*(m.replaces for m in disk.values())); "
    "print(json.dumps(sorted(known)))"
)
_APPLIED = (
    "import json, django; django.setup(); from django.db import connection; "
    "from django.db.migrations.recorder import MigrationRecorder; "
    "print(json.dumps(sorted(MigrationRecorder(connection).applied_migrations())))"
)
_DUMP = {
    "mariadb": 'MYSQL_PWD="${MARIADB_ROOT_PASSWORD:-$MYSQL_ROOT_PASSWORD}" exec mariadb-dump '
    "--user=root --single-transaction --routines --triggers --hex-blob "
    '"${MARIADB_DATABASE:-$MYSQL_DATABASE}"',
    "postgres": 'exec pg_dump --username="$POSTGRES_USER" --format=custom --no-owner '
    '"${POSTGRES_DB:-$POSTGRES_USER}"',
}
_LOAD = {
    "mariadb": 'MYSQL_PWD="${MARIADB_ROOT_PASSWORD:-$MYSQL_ROOT_PASSWORD}" exec mariadb '
    '--user=root "${MARIADB_DATABASE:-$MYSQL_DATABASE}"',
    "postgres": 'exec pg_restore --username="$POSTGRES_USER" --clean --if-exists --no-owner '
    '--single-transaction --dbname="${POSTGRES_DB:-$POSTGRES_USER}"',
}


def _python_in_app(target: Target, script: str) -> Any:
    """Run a Django snippet in the running web container, or a one-off one; parse its JSON."""
    web = target.running("web")
    if web is None and images.image_or_none(target, target.stack.app_image) is None:
        raise ConfigError(
            f"The app image {target.stack.app_image} is not on {engine_name()}: deploy the "
            "code first (`manage.py deploy code`, or `deploy full`)."
        )
    if web is not None:
        code, output = target.exec(web, ["python", "-c", script], stream=False)
        where = web.name
    else:
        result = target.compose.run(
            "run",
            "--rm",
            "--no-deps",
            "--no-TTY",
            "--entrypoint",
            "python",
            "web",
            "-c",
            script,
            check=False,
        )
        code, output, where = result.returncode, result.stdout + result.stderr, "web (one-off)"
    try:
        if code == 0:
            return json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pass
    raise StepFailed(
        f"asking the deployed code about migrations failed (exit code {code}): "
        f"{output.strip()[-300:]}",
        container=where,
        hint="Check that the web service starts (`manage.py deploy logs web`).",
    )


def known_by_code(target: Target) -> set[tuple[str, str]]:
    """Migrations the deployed code has on disk."""
    return {tuple(m) for m in _python_in_app(target, _KNOWN)}


def applied_on_server(target: Target) -> set[tuple[str, str]]:
    return {tuple(m) for m in _python_in_app(target, _APPLIED)}


def backup_stamp() -> str:
    """The UTC time to the microsecond, as backup names carry it (they sort by time)."""
    now = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


def backup_name(target: Target, reason: str = "") -> str:
    """``<project>-<UTC time to the microsecond>[-<reason>].<ext>``: names sort by time."""
    suffix = f"-{reason}" if reason else ""
    return f"{target.project}-{backup_stamp()}{suffix}{EXTENSIONS[target.stack.db_vendor]}"


#: Tries for a name nobody took (two backups in the same microsecond: a new time).
_NAME_TRIES = 5


def make_backup(target: Target, reason: str = "") -> str | None:
    """Back up the stack's database into the backups volume; its name (None: no database yet).

    A backup never replaces another: the file is published under its name only if
    that name is free, else it gets a new time.
    """
    for _ in range(_NAME_TRIES):
        name = _make_backup(target, backup_name(target, reason))
        if name != "":
            return name
    raise DeployKitError(
        f"Could not find a free backup name after {_NAME_TRIES} tries: is another backup "
        "running right now? Try again."
    )


def _make_backup(target: Target, name: str) -> str | None:
    """The backup's name; None: no database yet; "": the name was taken."""
    vendor = target.stack.db_vendor
    helper = Helper(target)
    if vendor == "sqlite":
        result = helper.run("backup", target.stack.sqlite_path, BACKUP_DIR, name)
        if "skipped" in result:
            target.out(f"      no database yet ({result['skipped']}): nothing to back up")
            return None
        if "exists" in result:
            return ""
        target.out(f"      {name} ({result['size']} bytes)")
        return name
    if vendor not in _DUMP:
        raise ConfigError(f"deploy cannot back up a {vendor} database.")
    applied = sorted(applied_on_server(target))
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / name
        opener = gzip.open if name.endswith(".gz") else open
        with opener(dump, "wb") as f:
            _compose_exec(target, "db", _DUMP[vendor], stdout=f)
        meta = Path(tmp) / f"{name}.json"
        meta.write_text(json.dumps({"applied": applied, "vendor": vendor}))
        # The sidecar first: a published backup always has its list of migrations.
        for local in (meta, dump):
            helper.upload(local, f"{BACKUP_DIR}/{local.name}.part")
            published = helper.run(
                "publish", f"{BACKUP_DIR}/{local.name}.part", f"{BACKUP_DIR}/{local.name}"
            )
            if "exists" in published:
                return ""
        target.out(f"      {name} ({dump.stat().st_size} bytes)")
    return name


def check_name(target: Target, name: str) -> None:
    """Only a name from the listing: no path, no other project's file (before any change)."""
    if name not in {e["name"] for e in list_backups(target)}:
        raise ConfigError(
            f"No backup {name!r} of {target.project}: give a name exactly as "
            "`manage.py deploy backup --list` shows it (no path)."
        )


def restore_server_db(target: Target, name: str) -> None:
    """Load a MariaDB/PostgreSQL backup from the backups volume into the db service."""
    vendor = target.stack.db_vendor
    with tempfile.TemporaryDirectory() as tmp:
        local = Helper(target).download(f"{BACKUP_DIR}/{name}", Path(tmp))
        opener = gzip.open if name.endswith(".gz") else open
        with opener(local, "rb") as f:
            _compose_exec(target, "db", _LOAD[vendor], stdin=f)


def backup_schema(target: Target, name: str) -> set[tuple[str, str]]:
    """The migrations applied in a stored backup."""
    helper = Helper(target)
    if target.stack.db_vendor == "sqlite":
        info = helper.run("inspect", f"{BACKUP_DIR}/{name}")
        if not info.get("exists"):
            raise ConfigError(f"No backup {name!r}: `manage.py deploy backup --list` shows them.")
        return {tuple(m) for m in info["applied"]}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            meta = helper.download(f"{BACKUP_DIR}/{name}.json", Path(tmp))
        except DeployKitError:
            raise ConfigError(
                f"No backup {name!r} (or its .json sidecar): `manage.py deploy backup --list` "
                "shows them."
            ) from None
        return {tuple(m) for m in json.loads(meta.read_text())["applied"]}


def list_backups(target: Target) -> list[dict[str, Any]]:
    entries = Helper(target).run("list", BACKUP_DIR)["backups"]
    prefix = f"{target.project}-"
    return [e for e in entries if e["name"].startswith(prefix) and not e["name"].endswith(".json")]


def prune(target: Target, keep: int) -> list[str]:
    helper = Helper(target)
    removed = helper.run("prune", BACKUP_DIR, f"{target.project}-", str(keep))["removed"]
    # Sidecars share the backup's name: prune them with it, and never count them.
    return [r for r in removed if not r.endswith(".json")]


def download(target: Target, name: str, directory: Path) -> Path:
    """Copy a backup to a local ``directory``: a 0600 file (it holds password hashes and
    sessions); a directory made for it is 0700. An existing file is never replaced.
    """
    private_directory(directory, target.out)
    return Helper(target).download(f"{BACKUP_DIR}/{name}", directory, private=True)


def private_directory(directory: Path, out: Callable[[str], None]) -> None:
    """A local directory for backups: made 0700, or a warning when others can read it."""
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
    elif directory.stat().st_mode & 0o077:
        out(
            f"warning: {directory} can be read by other users: backups hold password hashes "
            f"and sessions (`chmod 700 {directory}`)"
        )


def _compose_exec(
    target: Target, service: str, script: str, *, stdout: Any = None, stdin: Any = None
) -> None:
    argv = target.compose.argv("exec", "--no-TTY", service, "sh", "-c", script)
    with subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        if stdin is not None:
            assert proc.stdin is not None
            shutil.copyfileobj(stdin, proc.stdin)
            proc.stdin.close()
        if stdout is not None:
            shutil.copyfileobj(proc.stdout, stdout)
        err = proc.stderr.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise StepFailed(
            f"the database tool failed (exit code {proc.returncode}): {err.strip()[-400:]}",
            container=f"{target.project}-{service}",
            hint="Check the db service (`manage.py deploy logs db`).",
        )
