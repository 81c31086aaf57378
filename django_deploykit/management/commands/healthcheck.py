"""``manage.py healthcheck``: run a health tier in this process.

Exit codes: 0 healthy, 1 unhealthy (or misconfigured checks). For Docker's
HEALTHCHECK prefer ``python -m django_deploykit.health.probe``, which does not
start Django.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_deploykit.exceptions import ConfigError
from django_deploykit.health.checks import TIERS
from django_deploykit.health.hints import hint
from django_deploykit.health.runner import run_tier
from django_deploykit.health.views import render_json, render_text
from django_deploykit.management.base import DeployKitCommand


class Command(DeployKitCommand):
    help = "Run the health checks of a tier in this process; exit 0 healthy, 1 unhealthy."
    requires_system_checks: list[str] = []  # must answer while the database is down

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--tier",
            choices=TIERS,
            default="ready",
            help=f"Which checks to run: {', '.join(TIERS)} (default: ready)",
        )
        parser.add_argument("--json", action="store_true", help="Print the JSON body")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            # No result cache: a command is one probe.
            report = run_tier(options["tier"], ttl=0)
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        # Whoever runs manage.py can read the settings: show the private detail too.
        if options["json"]:
            self.stdout.write(json.dumps(render_json(report, details=True), indent=2))
        elif options["verbosity"] >= 1:
            # Every check's line; the verdict is said once, below or by the exit code.
            lines = render_text(report, details=True).splitlines()[:-1]
            self.stdout.write("\n".join(lines))
        if not report.healthy:
            failing = "; ".join(
                f"{r.name}: {r.reason} ({hint(r.reason)})" for r in report.results if not r.ok
            )
            raise CommandError(f"{report.tier} check failed: {failing}", returncode=1)
        if not options["json"] and options["verbosity"] >= 1:
            self.stdout.write(self.style.SUCCESS(f"{report.tier} check passed"))
