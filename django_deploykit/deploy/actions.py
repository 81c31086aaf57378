"""From the command's options to a plan (or to output, for status/logs/backup --list)."""

from __future__ import annotations

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

__all__ = ["ACTIONS", "run"]

ACTIONS = ("code", "db", "full", "backup", "restore", "rollback", "reindex", "status", "logs")


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


def run(action: str, options: dict[str, Any], out: Any) -> None:
    health_timeout = options.get("health_timeout")
    if health_timeout is not None and not 0 < health_timeout < float("inf"):
        raise ConfigError(
            f"--health-timeout {health_timeout:g}: give a number of seconds above 0 (how long "
            "a new container gets to become healthy)."
        )
    target = Target.from_options(
        Path(options["project_dir"] or ".").resolve(),
        files=options["file"] or [],
        project=options["project_name"],
        env_file=options["env_file"],
        out=out,
        health_timeout=health_timeout or conf.DEPLOY_HEALTH_TIMEOUT,
    )
    keep = conf.BACKUP_KEEP if options.get("keep") is None else options["keep"]
    if keep < 1:
        raise ConfigError("--keep must be at least 1.")
    if action in ("db", "full") and not options.get("restore"):
        # The user's file is checked before anything else is looked at.
        options["database"] = str(validate_argument(options.get("database")))
    target.stack  # noqa: B018 - read the compose file first: its errors come before the engine's
    if options.get("target") == "swarm":
        _run_swarm(action, {**options, "keep_resolved": keep}, target, out)
        return
    if action == "status":
        for line in status.status_table(target):
            out(line)
        return
    if action == "logs":
        status.logs(
            target, options.get("service"), follow=options["follow"], tail=options["tail"], out=out
        )
        return
    if action == "backup" and options.get("list"):
        entries = backups.list_backups(target)
        out(f"Backups of {target.project} on {engine_name()} (newest last):")
        for e in entries:
            out(f"  {e['name']}  {e['size']} bytes")
        if not entries:
            out("  none yet: `manage.py deploy backup` makes one.")
        return
    reindex = options.get("reindex", True)
    steps: list[Step] = []
    if action in ("code", "full"):
        steps += code_steps(target, tag=options.get("tag"), migrate=options.get("migrate", True))
    if action in ("db", "full"):
        if options.get("restore"):
            steps += restore_steps(target, options["restore"], keep=keep, reindex=reindex)
        else:
            file = Path(options["database"])
            steps += _db_steps_after_code(target, file, keep, reindex, action == "full")
    elif action == "restore":
        steps += restore_steps(target, options["backup"], keep=keep, reindex=reindex)
    elif action == "backup":
        steps += _backup_steps(target, keep, options.get("output"))
    elif action == "rollback":
        steps += rollback_steps(target)
    elif action == "reindex":
        steps += reindex_steps(target)
    execute(steps, out, dry_run=options["dry_run"])


#: What `deploy --target swarm` does (the database actions stay with compose for now).
SWARM_ACTIONS = ("code", "rollback", "backup", "status", "logs")


def _run_swarm(action: str, options: dict[str, Any], target: Target, out: Any) -> None:
    if action not in SWARM_ACTIONS:
        raise ConfigError(
            f"`deploy {action} --target swarm` is not supported: on a Swarm stack deploy "
            f"does {', '.join(SWARM_ACTIONS)}. Restore the stack's database with its own "
            "tools (docs/scaling-out.rst)."
        )
    stack = swarm.Swarm.of(target, options.get("project_name"))
    if action == "status":
        for line in swarm.status_table(stack):
            out(line)
        return
    if action == "logs":
        swarm.logs(
            stack, options.get("service"), follow=options["follow"], tail=options["tail"], out=out
        )
        return
    if action == "backup":
        if options.get("list"):
            raise ConfigError(
                "--list: a Swarm stack's backups are the files in the --output directory."
            )
        steps = swarm.backup_steps(
            stack, keep=options["keep_resolved"], output=options.get("output")
        )
    elif action == "code":
        steps = swarm.code_steps(
            stack, tag=options.get("tag"), migrate=options.get("migrate", True)
        )
    else:
        steps = swarm.rollback_steps(stack)
    execute(steps, out, dry_run=options["dry_run"])


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
