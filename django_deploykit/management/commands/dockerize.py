"""``manage.py dockerize``: generate, check and build the project's Docker files.

Exit codes: 0 done / up to date; 1 ``--check`` found missing or stale files;
2 bad options or configuration, or Docker files it did not write
(without --force; nothing written), or --build without the ``deploy`` extra;
3 Docker unreachable or the build failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_deploykit.docker.dockerize import EXIT_BUILD, EXIT_CONFIG, Options, dockerize
from django_deploykit.docker.plan import CHOICES, DATABASES, SERVERS, Choices
from django_deploykit.docker.targets.cli import add_target_arguments, scale_options
from django_deploykit.exceptions import ConfigError, ServiceUnavailable
from django_deploykit.management.base import DeployKitCommand


class Command(DeployKitCommand):
    help = "Write the Dockerfile, entrypoint and compose files of this project (safe to re-run)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--db", choices=DATABASES, help="Database service of the stack")
        for name, what in (
            ("search", "a Meilisearch service"),
            ("celery", "Celery worker/beat"),
            ("nginx", "nginx terminating TLS"),
            ("makefile", "a Makefile"),
        ):
            pair = parser.add_mutually_exclusive_group()
            pair.add_argument(
                f"--{name}", dest=name, action="store_true", default=None, help=f"Add {what}"
            )
            pair.add_argument(
                f"--no-{name}", dest=name, action="store_false", help=f"Leave out {what}"
            )
        parser.add_argument("--python", help="Python version of the image, e.g. 3.12")
        parser.add_argument("--port", type=int, help="Port the server listens on (8000)")
        parser.add_argument("--server", choices=SERVERS, help="Gunicorn (WSGI) or uvicorn (ASGI)")
        parser.add_argument(
            "--build-package",
            dest="build_packages",
            action="append",
            metavar="APT_PACKAGE",
            help="An apt package for the build stage only, e.g. libgdal-dev (repeatable; saved)",
        )
        parser.add_argument(
            "--runtime-package",
            dest="runtime_packages",
            action="append",
            metavar="APT_PACKAGE",
            help="An apt package for the runtime image, e.g. gdal-bin (repeatable; saved)",
        )
        parser.add_argument("--output-dir", type=Path, help="Project directory (BASE_DIR)")
        parser.add_argument("--reset", action="store_true", help="Forget saved choices")
        parser.add_argument("--diff", action="store_true", help="Show differences")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replace files you edited and Docker files deploykit did not write",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; exit 1 if a file is missing or stale",
        )
        parser.add_argument("--dry-run", action="store_true", help="Show what would change")
        parser.add_argument("--build", action="store_true", help="Then build the image")
        parser.add_argument("--tag", help="Image tag for --build (<project>:latest)")
        parser.add_argument("--platform", help="Target platform(s) for --build, e.g. linux/arm64")
        parser.add_argument(
            "--build-arg",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="Build argument for --build, e.g. BASE_IMAGE=…",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Accepted for symmetry: dockerize never prompts",
        )
        add_target_arguments(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        build_args = {}
        for item in opts["build_arg"]:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise CommandError(f"--build-arg {item!r}: write KEY=VALUE.", returncode=2)
            build_args[key] = value
        options = Options(
            # --settings is Django's own option: given to dockerize, it also names the
            # image's settings module (and django-configurations' --configuration its class).
            choices=Choices(**{name: opts.get(name) for name in CHOICES}),
            output_dir=opts["output_dir"],
            diff=opts["diff"],
            force=opts["force"],
            check=opts["check"],
            dry_run=opts["dry_run"],
            reset=opts["reset"],
            build=opts["build"],
            tag=opts["tag"],
            platform=opts["platform"],
            build_args=build_args,
        )
        try:
            options.scale = scale_options(opts)
            code = dockerize(options, out=lambda line: self.stdout.write(self._styled(line)))
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=EXIT_CONFIG) from exc
        except ServiceUnavailable as exc:
            raise CommandError(str(exc), returncode=EXIT_BUILD) from exc
        if code:
            raise CommandError(_FAILURES[code], returncode=code)

    def _styled(self, line: str) -> str:
        """The summary lines stand out on a terminal (plain when piped)."""
        if line.startswith(("Wrote ", "Built ", "All generated files are up to date")):
            return self.style.SUCCESS(line)
        if line.startswith(("Caveats", "Dry run", "Building ")):
            return self.style.WARNING(line)
        if line.startswith("Next:"):
            return self.style.MIGRATE_HEADING(line)
        return line


_FAILURES = {1: "Generated files are missing or stale.", 3: "The image build failed."}
