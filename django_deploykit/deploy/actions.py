"""From the command's options to a plan (or to output, for status/logs/backup --list).

``ACTIONS`` is the one table of ``deploy``'s actions: the command builds its
subcommands, their help and its confirmation from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from django_deploykit.conf import conf
from django_deploykit.deploy import backups, status, swarm
from django_deploykit.deploy.code import code_steps, reindex_steps, rollback_steps
from django_deploykit.deploy.database import db_steps, restore_steps
from django_deploykit.deploy.sqlite import validate
from django_deploykit.deploy.steps import Step, execute
from django_deploykit.deploy.target import Target, engine_name
from django_deploykit.exceptions import ConfigError
from django_deploykit.extras import require

__all__ = ["ACTIONS", "Action", "DeployOptions", "run"]


@dataclass(frozen=True)
class Action:
    name: str
    help: str
    #: Replaces the server's database: the command asks first (unless --noinput).
    replaces_database: bool = False
    #: Also done on a Swarm stack (deploy --target swarm).
    swarm: bool = False


ACTIONS = {
    a.name: a
    for a in (
        Action(
            "code",
            "Build the checkout, migrate, replace web/worker one at a time (auto rollback)",
            swarm=True,
        ),
        Action(
            "db",
            "Ship a local SQLite database to the server (backup kept), migrate, reindex",
            replaces_database=True,
        ),
        Action("full", "Code, then db", replaces_database=True),
        Action("backup", "Back up the server's database (retention: --keep)", swarm=True),
        Action(
            "restore",
            "Restore a backup (refused if its schema is newer than the code)",
            replaces_database=True,
        ),
        Action("rollback", "Return to the image that ran before the last deploy", swarm=True),
        Action("reindex", "Run reindex_search in the running web container"),
        Action("status", "Each service: container, version, state, health, uptime", swarm=True),
        Action("logs", "Logs of one service or all", swarm=True),
    )
}
#: What `deploy --target swarm` does (the database actions stay with compose for now).
SWARM_ACTIONS = tuple(a.name for a in ACTIONS.values() if a.swarm)


@dataclass(frozen=True)
class DeployOptions:
    """The parsed options of one ``deploy`` action, typed; read, never written back."""

    project_dir: str | None = None
    files: list[str] = field(default_factory=list)
    project_name: str | None = None
    env_file: str | None = None
    dry_run: bool = False
    target: str = "compose"
    health_timeout: float | None = None
    keep: int | None = None
    tag: str | None = None
    migrate: bool = True
    reindex: bool = True
    interactive: bool = True
    #: ``deploy db``/``full``: the SQLite file given (None: the local default database).
    database: str | None = None
    restore: str | None = None
    #: ``deploy restore``: the backup's name.
    backup: str | None = None
    #: ``deploy backup --list``.
    list_backups: bool = False
    output: str | None = None
    service: str | None = None
    follow: bool = False
    tail: int | None = None

    @classmethod
    def from_parsed(cls, options: dict[str, Any]) -> DeployOptions:
        """From the command's options dict (an action's parser adds only its own)."""
        given = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        given["files"] = options.get("file") or []
        given["list_backups"] = options.get("list")
        return cls(**{k: v for k, v in given.items() if v is not None})


def _local_sqlite() -> Path:
    db = settings.DATABASES.get("default", {})
    if not str(db.get("ENGINE", "")).endswith("sqlite3"):
        raise ConfigError(
            "The local default database is not SQLite: give the SQLite file to ship "
            "(`deploy db path/to/db.sqlite3`)."
        )
    return Path(db["NAME"])


def validate_argument(database: str | None) -> Path:
    file = Path(database) if database else _local_sqlite()
    validate(file)
    return file


def _backup_steps(target: Target, keep: int, output: str | None) -> list[Step]:
    def run() -> None:
        name = backups.make_backup(target)
        removed = backups.prune(target, keep)
        if removed:
            target.out(f"      pruned {len(removed)} old backup(s), keeping {keep}")
        if name and output:
            target.out(f"      copied to {backups.download(target, name, Path(output))}")

    where = f" and copy it to {output}" if output else ""
    return [
        Step(
            "backup",
            f"back up the {target.stack.db_vendor} database of {target.project} "
            f"into the deploykit-backups volume (keep {keep}){where}",
            run,
        )
    ]


def run(action: str, options: DeployOptions, out: Any) -> None:
    # Every action drives the engine through the SDK (a swarm stack's file through
    # PyYAML): without the deploy extra, stop here rather than inside a step.
    require("docker", "deploy")
    if options.target == "swarm":
        require("yaml", "deploy")
    health_timeout = options.health_timeout
    if health_timeout is not None and not 0 < health_timeout < float("inf"):
        raise ConfigError(
            f"--health-timeout {health_timeout:g}: give a number of seconds above 0 (how long "
            "a new container gets to become healthy)."
        )
    target = Target.from_options(
        Path(options.project_dir or ".").resolve(),
        files=options.files,
        project=options.project_name,
        env_file=options.env_file,
        out=out,
        health_timeout=health_timeout or conf.DEPLOY_HEALTH_TIMEOUT,
    )
    keep = conf.BACKUP_KEEP if options.keep is None else options.keep
    if keep < 1:
        raise ConfigError("--keep must be at least 1.")
    database: Path | None = None
    if action in ("db", "full") and not options.restore:
        # The user's file is checked before anything else is looked at.
        database = validate_argument(options.database)
    target.stack  # noqa: B018 - read the compose file first: its errors come before the engine's
    if options.target == "swarm":
        _run_swarm(action, options, keep, target, out)
        return
    if action == "status":
        for line in status.status_table(target):
            out(line)
        return
    if action == "logs":
        status.logs(target, options.service, follow=options.follow, tail=options.tail, out=out)
        return
    if action == "backup" and options.list_backups:
        entries = backups.list_backups(target)
        out(f"Backups of {target.project} on {engine_name()} (newest last):")
        for e in entries:
            out(f"  {e['name']}  {e['size']} bytes")
        if not entries:
            out("  none yet: `manage.py deploy backup` makes one.")
        return
    reindex = options.reindex
    steps: list[Step] = []
    if action in ("code", "full"):
        steps += code_steps(target, tag=options.tag, migrate=options.migrate)
    if action in ("db", "full"):
        if options.restore:
            steps += restore_steps(target, options.restore, keep=keep, reindex=reindex)
        else:
            assert database is not None
            steps += _db_steps_after_code(target, database, keep, reindex, action == "full")
    elif action == "restore":
        assert options.backup is not None  # a required argument of `deploy restore`
        steps += restore_steps(target, options.backup, keep=keep, reindex=reindex)
    elif action == "backup":
        steps += _backup_steps(target, keep, options.output)
    elif action == "rollback":
        steps += rollback_steps(target)
    elif action == "reindex":
        steps += reindex_steps(target)
    execute(steps, out, dry_run=options.dry_run)


def _run_swarm(action: str, options: DeployOptions, keep: int, target: Target, out: Any) -> None:
    if action not in SWARM_ACTIONS:
        raise ConfigError(
            f"`deploy {action} --target swarm` is not supported: on a Swarm stack deploy "
            f"does {', '.join(SWARM_ACTIONS)}. Restore the stack's database with its own "
            "tools (docs/scaling-out.rst)."
        )
    stack = swarm.Swarm.of(target, options.project_name)
    if action == "status":
        for line in swarm.status_table(stack):
            out(line)
        return
    if action == "logs":
        swarm.logs(stack, options.service, follow=options.follow, tail=options.tail, out=out)
        return
    if action == "backup":
        if options.list_backups:
            raise ConfigError(
                "--list: a Swarm stack's backups are the files in the --output directory."
            )
        steps = swarm.backup_steps(stack, keep=keep, output=options.output)
    elif action == "code":
        steps = swarm.code_steps(stack, tag=options.tag, migrate=options.migrate)
    else:
        steps = swarm.rollback_steps(stack)
    execute(steps, out, dry_run=options.dry_run)


def _db_steps_after_code(
    target: Target, file: Path, keep: int, reindex: bool, full: bool
) -> list[Step]:
    if not full:
        return db_steps(target, file, keep=keep, reindex=reindex)

    # With `full`, the file is checked against the code being deployed, so the db steps
    # are planned once the code steps have run.
    def run() -> None:
        for i, step in enumerate(db_steps(target, file, keep=keep, reindex=reindex), 1):
            target.out(f"      db {i}: {step.name}: {step.describe}")
            step.run()

    return [
        Step(
            "db",
            f"ship {file} (checked against the new code first), then back up, "
            "swap, migrate, start" + (" and reindex" if reindex else ""),
            run,
            critical=True,
        )
    ]
