"""``manage.py wait_for_migrations``: wait until ``migrate --check`` would pass.

Exit codes: 0 nothing pending, 1 still pending (or no database) at the deadline,
2 bad arguments.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from django_deploykit.exceptions import ServiceUnavailable
from django_deploykit.management.base import DeployKitCommand
from django_deploykit.migrate.wait import WaitState, wait_for_migrations


class Command(DeployKitCommand):
    help = "Wait until every migration of this code is applied (e.g. by the migrate job)."
    requires_system_checks: list[str] = []  # the schema may be behind: that is the point

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Alias (default: default)")
        parser.add_argument("--timeout", type=float, default=300.0, help="Seconds (default 300)")
        parser.add_argument(
            "--interval", type=float, default=2.0, help="Seconds between checks (default 2)"
        )
        parser.add_argument(
            "--heartbeat",
            type=float,
            default=15.0,
            help="Seconds between 'still waiting' lines (default 15)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["timeout"] < 0 or options["interval"] <= 0 or options["heartbeat"] <= 0:
            raise CommandError(
                "--timeout must be ≥ 0, --interval and --heartbeat > 0 seconds.", returncode=2
            )
        verbosity = options["verbosity"]
        heartbeat = options["heartbeat"]
        said: dict[str, Any] = {"summary": None, "at": 0.0}

        def report(state: WaitState) -> None:
            if verbosity < 1 or state.pending == []:
                return
            summary = _summary(state)
            if summary != said["summary"] or verbosity >= 2:
                # What is awaited, and that this command applies nothing itself.
                self.stdout.write(
                    f"[{state.elapsed:5.1f}s] waiting for {summary}. This command does not "
                    "apply migrations: the migrate job of this revision (or `manage.py "
                    "migrate_locked`) must run migrate."
                )
            elif state.elapsed - said["at"] >= heartbeat:
                self.stdout.write(f"[{state.elapsed:5.1f}s] still waiting for {summary}")
            else:
                return
            said.update(summary=summary, at=state.elapsed)

        try:
            state = wait_for_migrations(
                options["database"], options["timeout"], options["interval"], report
            )
        except ServiceUnavailable as exc:
            raise CommandError(str(exc), returncode=1) from exc
        if verbosity >= 1:
            self.stdout.write(
                self.style.SUCCESS(f"Migrations are up to date ({state.elapsed:.1f} s).")
            )


def _summary(state: WaitState) -> str:
    if state.pending is None:
        return f"the database (not ready: {state.error})"
    names = ", ".join(state.pending[:5]) + (", …" if len(state.pending) > 5 else "")
    return f"{len(state.pending)} pending migration(s): {names}"
