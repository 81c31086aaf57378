"""manage.py dbcopy: copy every row from one database to another, checked before and after.

Exit codes: 0 copied and verified (or --dry-run / --verify-only found nothing); 1 the
copy or its verification failed, a database error stopped it, or a database cannot be
reached; 2 usage or
configuration error, pre-flight problems, a target that is not empty / holds an
interrupted copy, or a question that needs a terminal; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError

from django_deploykit.dbcopy import Options, dbcopy
from django_deploykit.dbcopy.progress import progress_for
from django_deploykit.dbcopy.report import Result
from django_deploykit.exceptions import ConfigError, DeployKitError
from django_deploykit.management.base import DeployKitCommand
from django_deploykit.management.output import RawStream

INTERRUPTED = 130  # what a shell reports for a command ended by SIGINT


def _driver_errors() -> tuple[type[BaseException], ...]:
    """Django's database errors and the drivers' own (inserts use raw cursors)."""
    import sqlite3

    errors: list[type[BaseException]] = [DatabaseError, sqlite3.Error]
    for module, name in (("MySQLdb", "Error"), ("psycopg", "Error")):
        try:
            errors.append(getattr(__import__(module), name))
        except ImportError:
            continue
    return tuple(errors)


class Command(DeployKitCommand):
    help = "Copy all data from one database (alias or URL) to another, with pre-flight and verify."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", required=True, help="Alias or database URL")
        parser.add_argument("--to", dest="target", required=True, help="Alias or database URL")
        parser.add_argument("--models", nargs="+", default=[], help="App_label[.Model] to copy")
        parser.add_argument("--exclude", nargs="+", default=[], help="App_label[.Model] to skip")
        parser.add_argument("--batch-size", type=int, default=2000, help="Rows per read")
        parser.add_argument("--truncate", action="store_true", help="Empty the target first")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask before emptying (--truncate) or migrating (--migrate) the target",
        )
        parser.add_argument("--dry-run", action="store_true", help="Run the pre-flight only")
        parser.add_argument("--resume", action="store_true", help="Continue an interrupted copy")
        parser.add_argument(
            "--no-verify",
            action="store_false",
            dest="verify",
            help="Skip comparing the copy with the source afterwards",
        )
        parser.add_argument(
            "--verify-only",
            action="store_true",
            help="Compare an existing copy with the source; write nothing",
        )
        parser.add_argument(
            "--keep-dangling",
            nargs="+",
            default=[],
            metavar="APP.MODEL.FIELD",
            help="Copy these foreign keys' dangling values as they are",
        )
        parser.add_argument("--migrate", action="store_true", help="Migrate the target if needed")
        parser.add_argument("--json", action="store_true", help="Print a JSON summary")  # fmt: skip

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.", returncode=2)
        quiet = opts["verbosity"] == 0 or opts["json"]
        options = Options(
            include=opts["models"], exclude=opts["exclude"], batch_rows=opts["batch_size"],
            truncate=opts["truncate"], dry_run=opts["dry_run"], resume=opts["resume"],
            verify=opts["verify"], verify_only=opts["verify_only"],
            keep_dangling=opts["keep_dangling"],
            confirm=lambda msg: not opts["interactive"] or self._ask(msg, "--truncate"),
            migrate=lambda target: self._may_migrate(target, opts),
        )  # fmt: skip
        progress = progress_for(RawStream(self.stderr), 0 if quiet else opts["verbosity"])
        try:
            result = dbcopy(opts["source"], opts["target"], options, progress)
        except KeyboardInterrupt:
            self.stderr.write(
                "Interrupted. Tables finished so far stay in the target, marked as an "
                "unfinished copy: rerun with --resume to continue, or --truncate to start over."
            )
            sys.exit(INTERRUPTED)
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except DeployKitError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        except _driver_errors() as exc:
            # Anything a server can say outside the copy itself (a lost connection, a
            # missing privilege): one line, and what the target is left as.
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CommandError(
                f"A database error stopped dbcopy: {type(exc).__name__}: {reason}. The source "
                "was only read. If rows were being copied, the target is marked as an "
                "unfinished copy: rerun with --resume, or --truncate to start over.",
                returncode=1,
            ) from exc
        if opts["json"]:
            self.stdout.write(json.dumps(result.as_dict(), indent=2))
        elif opts["verbosity"] or result.errors or result.mismatches:
            self._report(result, opts)
        if result.errors:
            raise CommandError(f"Pre-flight found {len(result.errors)} problem(s); "
                               "nothing was written.", returncode=2)  # fmt: skip
        if result.mismatches:
            raise CommandError("Verification failed: " + "; ".join(result.mismatches), returncode=1)

    def _ask(self, question: str, flag: str) -> bool:
        # Django's rule (createsuperuser): prompt only on a terminal.
        if not sys.stdin.isatty():
            raise ConfigError(
                f"{question} There is no terminal to confirm it on: rerun with --noinput "
                f"(and {flag}) to go ahead without asking."
            )
        try:
            return input(f"{question} Type 'yes' to continue: ").strip().lower() == "yes"
        except EOFError:
            return False

    def _may_migrate(self, target: str, opts: dict[str, Any]) -> bool:
        if opts["migrate"]:
            return True
        if not opts["interactive"]:
            return False  # the report says: the target is not migrated, use --migrate
        return self._ask(f"The migrations of {target} differ from the source's. "
                         f"Run migrate on {target} now?", "--migrate")  # fmt: skip

    def _report(self, result: Result, opts: dict[str, Any]) -> None:
        out, verbosity = self.stdout, opts["verbosity"]
        if verbosity and result.not_copied:
            out.write("Not copied:")
            for table, reason in result.not_copied:
                out.write(f"  {table}: {reason}")
        for p in result.problems:
            style = self.style.ERROR if p.severity == "error" else self.style.WARNING
            out.write(style(f"{p.severity.upper()} {p}") + f"\n    fix: {p.fix}")
        if result.mismatches:
            for mismatch in result.mismatches:
                out.write(self.style.ERROR(f"MISMATCH {mismatch}"))
        if opts["verify_only"] and verbosity and not result.errors:
            if result.verified:
                out.write(self.style.SUCCESS(
                    f"Verified: the target holds the same rows as the source "
                    f"({len(result.tables)} tables, {result.seconds:.1f} s)."))  # fmt: skip
        elif result.copied and verbosity:
            check = {True: "verified", False: "VERIFY FAILED", None: "not verified"}[
                result.verified
            ]
            rate = result.rows / result.seconds if result.seconds else 0
            earlier = (
                f"; {len(result.skipped)} table(s) were already copied by the interrupted run"
                if result.skipped else ""
            )  # fmt: skip
            out.write(self.style.SUCCESS(f"Copied {result.rows} rows in {result.seconds:.1f} s "
                                         f"({rate:,.0f} rows/s){earlier}, {check}."))  # fmt: skip
        elif not result.errors and verbosity:
            out.write(self.style.SUCCESS(f"Pre-flight found no problem ({result.target})."))
