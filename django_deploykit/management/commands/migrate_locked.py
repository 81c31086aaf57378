"""``manage.py migrate_locked``: ``migrate`` under a database lock, safe to run twice at once.

The second of two concurrent runners waits for the first, then finds nothing to
apply. Exit codes: 0 migrated (or nothing to do), 1 the lock was held past
``--lock-timeout`` (or the database is unreachable), 2 misconfigured; ``--check``
exits 1 when migrations are unapplied, as ``migrate --check`` does. The app label,
migration name and ``migrate``'s own flags below are passed to ``migrate``.
"""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, OperationalError

from django_deploykit.exceptions import ConfigError, ServiceUnavailable
from django_deploykit.management.base import DeployKitCommand
from django_deploykit.management.output import RawStream
from django_deploykit.migrate.lock import migration_lock

#: migrate's own flags, passed through as given: (option, dest, help).
MIGRATE_FLAGS = (
    ("--fake", "fake", "Mark migrations as run without actually running them"),
    (
        "--fake-initial",
        "fake_initial",
        "Mark initial migrations as run if their tables already exist",
    ),
    ("--plan", "plan", "Show the operations migrate would perform; change nothing"),
    ("--run-syncdb", "run_syncdb", "Create tables for apps without migrations"),
    ("--check", "check_unapplied", "Exit 1 if unapplied migrations are found; change nothing"),
    ("--prune", "prune", "Delete nonexistent migrations from the django_migrations table"),
)


class Command(DeployKitCommand):
    help = "Run migrate while holding a database lock, so concurrent runs never both migrate."
    requires_system_checks: list[str] = []  # migrate runs its own checks

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "args",
            metavar="app_label [migration_name]",
            nargs="*",
            help="App label, and migration name to migrate to, as for migrate",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Alias (default: default)")
        parser.add_argument(
            "--lock-timeout",
            type=float,
            default=600.0,
            help="Seconds to wait for another runner's lock (default 600)",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not prompt (passed to migrate)",
        )
        for option, dest, text in MIGRATE_FLAGS:
            parser.add_argument(option, action="store_true", dest=dest, help=text)

    def handle(self, *args: str, **options: Any) -> None:
        alias = options["database"]
        verbosity = options["verbosity"]
        announced = False

        def on_wait(waited: float) -> None:
            nonlocal announced
            if verbosity >= 1 and not announced:
                self.stdout.write(
                    self.style.WARNING("Another migrate holds the lock; waiting for it to finish…")
                )
                announced = True

        try:
            with migration_lock(alias, options["lock_timeout"], on_wait) as how:
                if verbosity >= 2:
                    self.stdout.write(f"Holding the {how}.")
                call_command(
                    "migrate",
                    *args,
                    database=alias,
                    interactive=options["interactive"],
                    **{dest: options[dest] for _, dest, _ in MIGRATE_FLAGS},
                    verbosity=verbosity,
                    stdout=RawStream(self.stdout),
                    stderr=RawStream(self.stderr),
                )
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except ServiceUnavailable as exc:
            raise CommandError(str(exc), returncode=1) from exc
        except OperationalError as exc:
            raise CommandError(
                f"The database {alias!r} is not reachable ({type(exc).__name__}); "
                "run `manage.py wait_for_db` first.",
                returncode=1,
            ) from exc
