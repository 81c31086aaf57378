"""``manage.py wait_for_db``: wait until the databases accept real queries.

Exit codes: 0 ready, 1 timed out, 2 misconfigured (wrong password, unknown
database, missing driver, malformed settings: these stop the wait at once).
"""

from __future__ import annotations

import shlex
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError, CommandParser

from django_deploykit.exceptions import ConfigError
from django_deploykit.management.base import DeployKitCommand
from django_deploykit.management.output import RawStream
from django_deploykit.services.wait import HINTS, Attempt, targets_from_settings, wait_for


class Command(DeployKitCommand):
    help = "Wait until every database (and optionally cache and Meilisearch) accepts queries."
    requires_system_checks: list[str] = []  # the database may be down or unmigrated

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=60.0, help="Seconds (default 60)")
        parser.add_argument(
            "--database",
            action="append",
            dest="databases",
            metavar="ALIAS",
            help="Wait for this alias only (repeatable; default: every alias)",
        )
        parser.add_argument("--cache", action="store_true", help="Also wait for every cache")
        parser.add_argument("--search", action="store_true", help="Also wait for Meilisearch")
        parser.add_argument(
            "--then",
            action="append",
            default=[],
            metavar="COMMAND",
            help='Management command to run when ready, e.g. "migrate --noinput" (repeatable)',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["timeout"] < 0:
            raise CommandError("--timeout must be 0 or more seconds.", returncode=2)
        then = [shlex.split(command) for command in options["then"]]
        if any(not argv for argv in then):
            raise CommandError("--then needs a command name.", returncode=2)
        try:
            targets = targets_from_settings(
                options["databases"], options["cache"], options["search"]
            )
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        verbosity = options["verbosity"]
        last_reason: dict[str, tuple[str, float]] = {}

        def report(attempt: Attempt) -> None:
            result = attempt.result
            previous = last_reason.get(attempt.target)
            # One line per attempt at -v2; at -v1 when the reason changes or each second.
            quiet = previous and previous[0] == result.reason and attempt.elapsed - previous[1] < 1
            if verbosity < 1 or (verbosity < 2 and quiet) or result.permanent:
                return
            last_reason[attempt.target] = (result.reason, attempt.elapsed)
            line = f"[{attempt.elapsed:5.1f}s] {attempt.target}: {result.reason}"
            line += f" (attempt {attempt.number})"
            if verbosity >= 2 and result.detail:
                line += f": {result.detail}"
            style = self.style.SUCCESS if result.ok else self.style.WARNING
            self.stdout.write(style(line))

        outcome = wait_for(targets, timeout=options["timeout"], on_attempt=report)
        if outcome.status == "misconfigured":
            failure = next(r for r in outcome.failures if r.permanent)
            raise CommandError(
                f"{failure.name}: {failure.reason}: {HINTS[failure.reason]} ({failure.detail})",
                returncode=2,
            )
        if outcome.status == "timeout":
            waiting = ", ".join(f"{r.name} ({r.reason})" for r in outcome.failures) or "no answer"
            raise CommandError(
                f"Timed out after {options['timeout']:g} s waiting for {waiting}.", returncode=1
            )
        if verbosity >= 1:
            names = ", ".join(t.name for t in targets)
            self.stdout.write(self.style.SUCCESS(f"Ready after {outcome.elapsed:.2f} s: {names}"))
        for argv in then:
            call_command(*argv, stdout=RawStream(self.stdout), stderr=RawStream(self.stderr))
