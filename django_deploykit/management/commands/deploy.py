"""``manage.py deploy <action>``: drive the dockerized stack on the engine in DOCKER_HOST.

Exit codes: 0 done; 1 a step failed and was undone (the previous version or data
is serving), or the engine is unreachable; 2 bad input or configuration, nothing
changed (also: the ``deploy`` extra, the Docker SDK, is not installed); 3 a step
failed and undoing it failed too (the message says what to check); 130 stopped by
Ctrl-C after finishing or undoing the current step.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_deploykit.deploy.actions import ACTIONS, DeployOptions, run
from django_deploykit.deploy.steps import Interrupted, StepFailed
from django_deploykit.exceptions import ConfigError, DeployKitError
from django_deploykit.management.base import DeployKitCommand


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    """Django's common options, accepted after the action too (``deploy code --settings x``).

    SUPPRESS keeps an option given before the action: the action's parser only
    adds what it saw. ``--settings``/``--pythonpath`` were already applied by
    manage.py, which reads them anywhere on the command line.
    """
    quiet = argparse.SUPPRESS
    parser.add_argument("--settings", default=quiet, help=quiet)
    parser.add_argument("--pythonpath", default=quiet, help=quiet)
    parser.add_argument("--traceback", action="store_true", default=quiet, help=quiet)
    parser.add_argument("--no-color", action="store_true", default=quiet, help=quiet)
    parser.add_argument("--force-color", action="store_true", default=quiet, help=quiet)


class Command(DeployKitCommand):
    help = "Deploy and operate the dockerized project on the Docker engine in DOCKER_HOST."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        for entry in ACTIONS.values():
            action, text = entry.name, entry.help
            p = sub.add_parser(action, help=text, description=text)
            p.add_argument("--project-dir", help="Directory of compose.yaml (default: .)")
            p.add_argument("-f", "--file", action="append", help="Compose file (repeatable)")
            p.add_argument("-p", "--project-name", help="Compose project name")
            p.add_argument("--env-file", help="Env file compose reads (default: .env)")
            p.add_argument("--dry-run", action="store_true", help="Print the plan only")
            p.add_argument(
                "--target",
                choices=["compose", "swarm"],
                default="compose",
                help="Compose (one host, default) or swarm: the stack in swarm/stack.yml, "
                "named by -p (code, rollback, status, logs)",
            )
            p.add_argument(
                "-v",
                "--verbosity",
                type=int,
                choices=[0, 1, 2, 3],
                default=argparse.SUPPRESS,
                help="0 prints errors only",
            )
            _add_common_options(p)
            p.add_argument(
                "--health-timeout",
                type=float,
                help="Seconds a new container gets to become healthy (more than 0)",
            )
            p.add_argument("--keep", type=int, help="Backups to keep (DEPLOYKIT_BACKUP_KEEP)")
            if action in ("code", "full"):
                p.add_argument("--tag", help="Image tag instead of the git revision")
                p.add_argument(
                    "--no-migrate",
                    action="store_false",
                    dest="migrate",
                    help="Skip the one-shot migrate service",
                )
            if action in ("db", "full", "restore"):
                p.add_argument(
                    "--no-reindex",
                    action="store_false",
                    dest="reindex",
                    help="Skip reindex_search after the database is replaced",
                )
                p.add_argument(
                    "--noinput",
                    "--no-input",
                    action="store_false",
                    dest="interactive",
                    help="Do not ask for confirmation",
                )
            if action in ("db", "full"):
                p.add_argument("database", nargs="?", help="SQLite file (default: local db)")
                p.add_argument("--restore", metavar="BACKUP", help="Restore this backup instead")
            if action == "restore":
                p.add_argument("backup", help="Backup name (see `deploy backup --list`)")
            if action == "backup":
                p.add_argument("--list", action="store_true", help="List stored backups")
                p.add_argument("--output", metavar="DIR", help="Also copy it to DIR")
            if action == "logs":
                p.add_argument("service", nargs="?", help="One service (default: all)")
                p.add_argument("--follow", action="store_true", help="Keep printing new lines")
                p.add_argument(
                    "--tail", type=int, metavar="N", help="Last N lines of each container"
                )

    def handle(self, *args: Any, **options: Any) -> None:
        def out(line: str) -> None:
            # -v 0 (cron): errors only, and what was asked for (status, logs, lists, plans).
            if options["verbosity"] > 0 or not line.startswith(("[", "      ")):
                self.stdout.write(self._styled(line))

        action = options["action"]
        if (
            ACTIONS[action].replaces_database
            and options.get("interactive", True)
            and not options["dry_run"]
        ):
            self._confirm(action)
        try:
            run(action, DeployOptions.from_parsed(options), out)
        except KeyboardInterrupt:
            if action != "logs":
                raise
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except (StepFailed, Interrupted) as exc:
            raise CommandError(str(exc), returncode=exc.returncode) from exc
        except DeployKitError as exc:
            raise CommandError(str(exc), returncode=1) from exc

    def _styled(self, line: str) -> str:
        """Step headings and warnings stand out on a terminal (plain when piped)."""
        text = line.strip()
        if line.startswith("["):
            return self.style.MIGRATE_HEADING(line)
        if text.startswith(("warning:", "undoing")):
            return self.style.WARNING(line)
        return line

    def _confirm(self, action: str) -> None:
        if not sys.stdin.isatty():
            # No one can answer: never take silence (or a pipe) for consent.
            raise CommandError(
                f"`deploy {action}` replaces the server's database and needs a yes: there is "
                "no terminal to ask on. Run it in a terminal, or add --noinput to go ahead "
                "without asking (a backup is kept).",
                returncode=2,
            )
        answer = input(
            f"`deploy {action}` replaces the server's database (a backup is kept; the site "
            "answers 502 for a few seconds while web restarts). Continue? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            raise CommandError("Cancelled; nothing changed.", returncode=2)
