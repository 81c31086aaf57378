"""``manage.py reindex_search``: rebuild Meilisearch indexes with zero downtime.

Exit codes: 0 ok; 1 a task failed, verification failed, the server failed mid-run,
or --check found drift; 2 configuration error, or the ``search`` extra (the Meilisearch
client) is not installed (nothing changed); 3 another
rebuild of the same index is running.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_deploykit.conf import conf
from django_deploykit.exceptions import DeployKitError
from django_deploykit.management.base import DeployKitCommand
from django_deploykit.management.output import RawStream
from django_deploykit.search.cli import ProgressBar, exit_code, reindex_search


class Command(DeployKitCommand):
    help = (
        "Rebuild Meilisearch indexes from the database: build a new index, verify it, "
        "then swap it in atomically. Exit codes: 0 ok, 1 failed task/verification/drift, "
        "2 configuration error, 3 another rebuild is running."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--index",
            action="append",
            dest="indexes",
            metavar="NAME",
            help="Index to rebuild (repeatable; default: all declared).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="Rows per batch (default: DEPLOYKIT_SEARCH_BATCH_SIZE).",
        )
        parser.add_argument(
            "--in-place",
            action="store_true",
            help="Rebuild the live index itself (downtime; small dev setups).",
        )
        parser.add_argument(
            "--allow-shrink",
            action="store_true",
            help="Replace a live index even by an empty one, or one with fewer documents "
            "than DEPLOYKIT_SEARCH_MAX_SHRINK allows.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Show what would be indexed and the settings diff; change nothing.",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Exit 1 when a live index's settings drifted from the "
            "declaration; change nothing.",
        )
        parser.add_argument("--json", action="store_true", help="Print a JSON summary.")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        batch_size = conf.SEARCH_BATCH_SIZE if batch_size is None else batch_size
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.", returncode=2)
        quiet = options["json"] or options["verbosity"] == 0
        bar = None if quiet else ProgressBar(RawStream(self.stderr))
        try:
            outcome = reindex_search(
                options["indexes"],
                batch_size=batch_size,
                in_place=options["in_place"],
                allow_shrink=options["allow_shrink"],
                dry_run=options["dry_run"],
                check=options["check"],
                bar=bar,
            )
        except DeployKitError as exc:
            raise CommandError(str(exc), returncode=exit_code(exc)) from exc
        if options["json"]:
            self.stdout.write(outcome.as_json())
        elif options["verbosity"] > 0:
            for line in outcome.lines:
                if line.startswith("FAILED"):
                    self.stderr.write(self.style.ERROR(line))
                else:
                    self.stdout.write(line)
        if outcome.code:
            failed = [str(e.get("uid")) for e in outcome.entries if not e.get("ok")]
            done = [str(e.get("uid")) for e in outcome.entries if e.get("ok")]
            raise CommandError(
                f"reindex_search failed for: {', '.join(failed)}"
                + (f"; done: {', '.join(done)}" if done and outcome.mode != "check" else ""),
                returncode=outcome.code,
            )
