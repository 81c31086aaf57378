"""``deploy db`` (ship a local SQLite database) and ``deploy restore`` (bring a backup back).

Everything is validated before the server changes: the file is a valid SQLite
database, and its migrations are not ahead of the code deployed on the server
(asked of the deployed image itself). Then, in one critical step: stop the app
containers, back up the server's database, swap (SQLite: ``os.replace`` in the
volume, atomic; MariaDB/PostgreSQL: ``dbcopy`` into the db service), migrate,
start, wait healthy. If anything fails there, the backup is put back and the
services restarted. Finally ``reindex_search`` runs in the web container.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from django_deploykit.deploy import backups, rolling
from django_deploykit.deploy.code import reindex_steps
from django_deploykit.deploy.helper import BACKUP_DIR, Helper, backups_volume
from django_deploykit.deploy.sqlite import check_not_ahead, snapshot, validate
from django_deploykit.deploy.steps import RecoveryFailed, Step, StepFailed
from django_deploykit.deploy.target import Target, engine_name
from django_deploykit.exceptions import DeployKitError

__all__ = ["db_steps", "restore_steps"]

INCOMING = ".deploykit-incoming.sqlite3"


def _has_search(target: Target) -> bool:
    stack = target.stack
    env = stack.services["web"].get("environment") or {}
    return "meilisearch" in stack.services or bool(env.get("MEILISEARCH_URL"))


def _replace(target: Target, swap: Callable[[], None], what: str, keep: int, reason: str) -> Step:
    stack = target.stack
    services = [s for s in stack.app_services if target.containers(s)]

    def start() -> None:
        target.compose.run("up", "--detach", "--no-deps", "--no-recreate", *stack.app_services)
        for service in stack.app_services:
            rolling.check(target, service, target.containers(service, all=True))
        # A restarted container may get a new address: nginx must resolve web again.
        rolling.reload_proxies(target)

    def run() -> None:
        if services:
            target.out(
                f"      stopping {', '.join(services)}: the site answers 502 until web is "
                "back (a few seconds)"
            )
            target.compose.run("stop", *services)
        name = None
        swapped = False
        try:
            name = backups.make_backup(target, reason)
            swapped = True  # from here on the data may have changed
            swap()
            for service in stack.oneshots:
                target.out(f"      running {service}")
                target.compose.run(
                    "run",
                    "--rm",
                    "--no-deps",
                    "--no-TTY",
                    service,
                    output=lambda line: target.out(f"      | {line}"),
                )
            target.out(f"      starting {', '.join(stack.app_services)}")
            start()
        except (DeployKitError, KeyboardInterrupt) as exc:
            _recover(exc, name if swapped else None, swapped)
        # Pruned last: the backup being restored may be the oldest one.
        # Pruned last: the backup being restored may be the oldest one.
        removed = backups.prune(target, keep)
        if removed:
            target.out(f"      pruned {len(removed)} old backup(s), keeping {keep}")

    def _recover(exc: BaseException, name: str | None, swapped: bool) -> None:
        message = (exc.args[0] if exc.args else "") or "interrupted"
        container = getattr(exc, "container", None)
        try:
            if swapped and name is not None:
                target.out(f"      failed: putting back the previous database ({name})")
                target.compose.run("stop", *stack.app_services, check=False)
                _put_back(target, name)
                hint = f"The previous database was restored from backup {name}"
            elif swapped:
                hint = "There was no database before, so there is nothing to put back"
            else:
                hint = "The database was not changed"
            start()
        except DeployKitError as again:
            raise RecoveryFailed(
                f"{message}; recovering failed too: {again}",
                container=container,
                hint="Check `manage.py deploy status` and `deploy logs`; `deploy backup "
                "--list` and `deploy restore` bring data back.",
            ) from exc
        raise StepFailed(
            message, container=container, hint=f"{hint}, and the site was restarted."
        ) from exc

    return Step(
        "database",
        f"stop {', '.join(services) or 'nothing (not running)'} (the site is down for a few "
        "seconds), back up "
        f"the server's database (keep {keep}), {what}, migrate, start and wait "
        "healthy (the backup is put back if anything fails)",
        run,
        critical=True,
    )


def _put_back(target: Target, name: str) -> None:
    if target.stack.db_vendor == "sqlite":
        Helper(target).run("restore", f"{BACKUP_DIR}/{name}", target.stack.sqlite_path)
    else:
        backups.restore_server_db(target, name)


def _tail(target: Target, reindex: bool) -> list[Step]:
    if reindex and _has_search(target):
        return reindex_steps(target, allow_shrink=True)
    return []


def db_steps(target: Target, file: Path, *, keep: int, reindex: bool = True) -> list[Step]:
    """Validate ``file`` now; return the steps that ship it."""
    stack = target.stack
    tmp = Path(tempfile.mkdtemp(prefix="deploykit-db-"))
    validate(file)  # a clear error about the file itself before anything else
    local = snapshot(file, tmp / "db.sqlite3")
    applied = validate(local)
    check_not_ahead(
        str(file), applied, backups.known_by_code(target), f"the code deployed on {engine_name()}"
    )
    size = local.stat().st_size
    helper = Helper(target)
    if stack.db_vendor == "sqlite":
        incoming = f"{helper.data_dir}/{INCOMING}"

        def upload() -> None:
            info = helper.run("inspect", incoming, upload=(local, incoming))
            target.out(
                f"      uploaded and checked on the server: {len(info['applied'])} "
                "migrations applied"
            )

        def swap() -> None:
            helper.run("swap", incoming, stack.sqlite_path)
            target.out(f"      {stack.sqlite_path} replaced")

        what = f"swap in {file.name} atomically"
    else:
        incoming = f"{BACKUP_DIR}/incoming.sqlite3"

        def upload() -> None:
            helper.upload(local, incoming)
            target.out(f"      uploaded to the {backups_volume(target)} volume")

        def swap() -> None:
            try:
                _dbcopy()
            finally:
                helper.run("remove", incoming)

        def _dbcopy() -> None:
            result = target.compose.run(
                "run",
                "--rm",
                "--no-deps",
                "--no-TTY",
                "--volume",
                f"{backups_volume(target)}:{BACKUP_DIR}:ro",
                "web",
                "manage",
                "dbcopy",
                "--from",
                f"sqlite:///{incoming}",
                "--to",
                "default",
                "--truncate",
                "--migrate",
                "--no-input",
                output=lambda line: target.out(f"      | {line}"),
                check=False,
            )
            if result.returncode != 0:
                raise StepFailed(
                    f"dbcopy exited with code {result.returncode} (output above)",
                    container=f"{stack.project}-web-run",
                )

        what = f"load {file.name} with dbcopy into the {stack.db_vendor} service"
    return [
        Step(
            "upload",
            f"upload {file} ({size} bytes, a consistent snapshot) to "
            f"{engine_name()} and check it there",
            upload,
        ),
        _replace(target, swap, what, keep, "before-db"),
        *_tail(target, reindex),
    ]


def restore_steps(target: Target, name: str, *, keep: int, reindex: bool = True) -> list[Step]:
    backups.check_name(target, name)
    check_not_ahead(
        f"Backup {name}",
        backups.backup_schema(target, name),
        backups.known_by_code(target),
        f"the code deployed on {engine_name()}",
        other_apps=False,  # a backup may predate an app's removal
    )

    def swap() -> None:
        _put_back(target, name)
        target.out(f"      {name} restored")

    return [
        _replace(target, swap, f"restore {name}", keep, "before-restore"),
        *_tail(target, reindex),
    ]
