"""manage.py dbcopy: copy every row from one database to another, checked before and after.

Exit codes: 0 copied and verified (or --dry-run found nothing); 1 the copy or its
verification failed, or a database cannot be reached; 2 usage or configuration error,
pre-flight problems, or a target that is not empty / holds an interrupted copy.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_deploykit.dbcopy import Options, dbcopy
from django_deploykit.dbcopy.progress import BarProgress
from django_deploykit.exceptions import ConfigError, DeployKitError


class Command(BaseCommand):
    help = "Copy all data from one database (alias or URL) to another, with pre-flight and verify."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", required=True, help="alias or database URL")
        parser.add_argument("--to", dest="target", required=True, help="alias or database URL")
        parser.add_argument("--models", nargs="+", default=[], help="app_label[.Model] to copy")
        parser.add_argument("--exclude", nargs="+", default=[], help="app_label[.Model] to skip")
        parser.add_argument("--batch-size", type=int, default=2000, help="rows per read")
        parser.add_argument("--truncate", action="store_true", help="empty the target first")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive")
        parser.add_argument("--dry-run", action="store_true", help="run the pre-flight only")
        parser.add_argument("--resume", action="store_true", help="continue an interrupted copy")
        parser.add_argument("--no-verify", action="store_false", dest="verify")
        parser.add_argument("--migrate", action="store_true", help="migrate the target if needed")
        parser.add_argument("--json", action="store_true", help="print a JSON summary")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.", returncode=2)
        quiet = opts["verbosity"] == 0 or opts["json"]
        options = Options(
            include=opts["models"], exclude=opts["exclude"], batch_rows=opts["batch_size"],
            truncate=opts["truncate"], dry_run=opts["dry_run"], resume=opts["resume"],
            verify=opts["verify"],
            confirm=lambda msg: not opts["interactive"] or self._ask(f"{msg} Type 'yes': "),
            migrate=lambda alias: self._migrate(alias, opts),
        )  # fmt: skip
        try:
            result = dbcopy(opts["source"], opts["target"], options,
                            None if quiet else BarProgress(self.stderr._out))  # fmt: skip
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except DeployKitError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        if opts["json"]:
            self.stdout.write(json.dumps(result.as_dict(), indent=2))
        elif opts["verbosity"] or result.errors or result.mismatches:
            self._report(result, opts["verbosity"])
        if result.errors:
            raise CommandError(f"Pre-flight found {len(result.errors)} problem(s); "
                               "nothing was written.", returncode=2)  # fmt: skip
        if result.mismatches:
            raise CommandError("Verification failed: " + "; ".join(result.mismatches), returncode=1)

    def _ask(self, question: str) -> bool:
        return input(question).strip().lower() == "yes"

    def _migrate(self, alias: str, opts: dict[str, Any]) -> bool:
        if not opts["migrate"] and not (
            opts["interactive"]
            and self._ask(
                f"The target's migrations differ. Run migrate on {alias} now? Type 'yes': "
            )  # fmt: skip
        ):
            return False
        call_command("migrate", database=alias, interactive=False, verbosity=0)
        return True

    def _report(self, result: Any, verbosity: int) -> None:
        out = self.stdout
        for p in result.problems:
            style = self.style.ERROR if p.severity == "error" else self.style.WARNING
            out.write(style(f"{p.severity.upper()} {p}") + f"\n    fix: {p.fix}")
        if result.copied and verbosity:
            check = {True: "verified", False: "VERIFY FAILED", None: "not verified"}[
                result.verified
            ]
            rate = result.rows / result.seconds if result.seconds else 0
            out.write(self.style.SUCCESS(f"Copied {result.rows} rows in {result.seconds:.1f} s "
                                         f"({rate:,.0f} rows/s), {check}."))  # fmt: skip
        elif not result.errors and verbosity:
            out.write(self.style.SUCCESS(f"Pre-flight found no problem ({result.target})."))
