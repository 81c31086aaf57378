"""Facts + saved choices + command-line flags → the plan the templates render.

Every contradiction is found here, before a file is written.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field, fields
from typing import Any

from django_deploykit.docker.detect import Facts
from django_deploykit.docker.python_version import SUPPORTED
from django_deploykit.docker.source import DISTRIBUTION, WHEEL_DIR, DeploykitSource
from django_deploykit.exceptions import ConfigError
from django_deploykit.health import celery_marks

__all__ = ["CHOICES", "Choices", "Plan", "make_plan", "saved_choices"]

DATABASES = ("sqlite", "mariadb", "postgres")
SERVERS = ("gunicorn", "uvicorn")
#: Python versions the generated image may use (official slim images exist for each).
PYTHONS = SUPPORTED
APP_UID = 10001
#: uv installs the dependencies in the build stage (its cache mount works offline too).
UV_VERSION = "0.9.30"
#: Options whose default is fixed (not derived from the project): saved only when changed.
STATIC_DEFAULTS: dict[str, Any] = {"nginx": False, "port": 8000, "makefile": False}
CHOICES = (
    "db",
    "search",
    "celery",
    "nginx",
    "python",
    "port",
    "server",
    "makefile",
    "settings",
    "configuration",
    "build_packages",
    "runtime_packages",
)
#: The C compiler and C library headers a C extension needs. Not build-essential: its
#: C++ compiler, make and dpkg-dev (Perl) are a third of its packages and unused here;
#: under emulation (a build for linux/arm64 on amd64) every package costs minutes.
C_COMPILER = ("gcc", "libc6-dev")
#: Distributions that compile against system libraries when installed from source:
#: (apt packages of the build stage, apt packages the runtime needs).
COMPILED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "mysqlclient": ((*C_COMPILER, "pkg-config", "libmariadb-dev"), ("libmariadb3",)),
    "psycopg2": ((*C_COMPILER, "libpq-dev"), ("libpq5",)),
    "psycopg[c]": ((*C_COMPILER, "libpq-dev"), ("libpq5",)),
    "uwsgi": (C_COMPILER, ()),
    "pyuwsgi": (C_COMPILER, ()),
    "python-ldap": ((*C_COMPILER, "libldap2-dev", "libsasl2-dev"), ()),
}
#: The WSGI entry used when the project's wsgi.py assigns DJANGO_SETTINGS_MODULE.
NEUTRAL_WSGI = "django_deploykit.docker.wsgi:application"
_APT_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")

# Pinned service images; the *_IMAGE variables in .env override them (offline mirrors).
IMAGES = {
    "mariadb": "mariadb:11.4",
    "postgres": "postgres:17",
    "meilisearch": "getmeili/meilisearch:v1.11",
    "redis": "redis:7.4-alpine",
    "nginx": "nginx:1.27-alpine",
    "node": "node:22-slim",
}


@dataclass
class Choices:
    """What the user decided; ``None`` means: use what detection found."""

    db: str | None = None
    search: bool | None = None
    celery: bool | None = None
    nginx: bool | None = None
    python: str | None = None
    port: int | None = None
    server: str | None = None
    makefile: bool | None = None
    #: The image's settings module (Django's --settings given to dockerize).
    settings: str | None = None
    #: django-configurations' class (its --configuration given to dockerize).
    configuration: str | None = None
    #: apt packages for the build stage / the runtime image, beyond the detected ones.
    build_packages: list[str] | None = None
    runtime_packages: list[str] | None = None

    def given(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


@dataclass(frozen=True)
class Plan:
    """Everything the templates render, computed once by :func:`make_plan`."""

    facts: Facts
    db: str
    search: bool
    celery: bool
    beat: bool
    redis: bool
    nginx: bool
    #: nginx serves MEDIA_URL from the media volume (uploads on the local file system).
    media_served: bool
    #: nginx in front of web: with --nginx (TLS), or plain HTTP to serve uploaded media.
    front: bool
    python_version: str
    port: int
    server: str
    makefile: bool
    app_target: str
    worker_class: str
    extra_packages: list[str]
    build_packages: list[str]
    runtime_packages: list[str]
    static_path: str | None
    media_path: str
    data_path: str
    collectstatic: bool
    wait_for_db: bool
    #: How the image runs management commands ("python -m django" when manage.py would
    #: override DJANGO_SETTINGS_MODULE).
    manage: str = "python manage.py"
    #: Static files go to remote storage: collectstatic runs in the migrate role.
    collectstatic_at_start: bool = False
    #: Where deploykit comes from on this machine (the image installs the same).
    deploykit: DeploykitSource = DeploykitSource("unknown", "")
    #: Choices to persist: explicit ones, minus those equal to a fixed default.
    saved: dict[str, Any] = field(default_factory=dict)
    #: What dockerize tells the user about the plan (after the detection's caveats).
    notes: tuple[str, ...] = ()
    uid: int = APP_UID
    uv_version: str = UV_VERSION
    images: dict[str, str] = field(default_factory=lambda: dict(IMAGES))

    @property
    def project(self) -> str:
        return self.facts.project_name

    @property
    def base_image(self) -> str:
        return f"python:{self.python_version}-slim"

    @property
    def beat_path(self) -> str:
        """Directory of Celery beat's schedule file: a volume, so restarts keep it."""
        return "/var/lib/celerybeat"

    @property
    def beat_volume(self) -> bool:
        """Beat's schedule file needs a volume (not with django_celery_beat's database)."""
        return self.beat and not self.facts.celery_beat_database

    @property
    def worker_ready_file(self) -> str:
        """Written by the worker once ready (worker-health tests for it)."""
        return celery_marks.WORKER_READY_FILE

    @property
    def beat_ready_file(self) -> str:
        """Written by beat once its schedule is loaded (beat-health tests for it)."""
        return celery_marks.BEAT_READY_FILE

    @property
    def static_build_path(self) -> str | None:
        """STATIC_ROOT in the build stages, where the project sits in /src."""
        if self.static_path and self.static_path.startswith("/app/"):
            return "/src/" + self.static_path[len("/app/") :]
        return self.static_path

    @property
    def media_url(self) -> str:
        url = self.facts.media_url
        return url if url.startswith("/") or "://" in url else "/" + url

    @property
    def deps(self) -> Any:
        return self.facts.dependencies

    @property
    def deploykit_extras(self) -> str:
        """The optional parts of deploykit the image needs: a running site needs none of
        them but the Meilisearch client, when the project uses search."""
        return "[search]" if self.search else ""

    @property
    def deploykit_install(self) -> str:
        """deploykit as the image's install command names it ("" when the lock has it)."""
        source = self.deploykit
        extras = self.deploykit_extras
        # With a wheel or a lock deciding the version, the extra is asked for by name:
        # the installer takes dj-deploykit from the wheel/lock and adds the extra's packages.
        by_name = f'"{DISTRIBUTION}{extras}"' if extras else ""
        if source.carried:
            wheel = f"./{WHEEL_DIR}/*.whl"  # one wheel: carry_wheel() removes older ones
            return f"{wheel} {by_name}".strip()
        if self.deps.has(DISTRIBUTION) and self.deps.kind not in ("requirements", "pyproject"):
            return by_name  # the lock file pins it
        return f'"{source.requirement(extras)}"'

    @property
    def deploykit_excluded(self) -> bool:
        """A lock/export names deploykit by a local path: install the carried wheel instead."""
        return self.deploykit.carried and self.deps.has(DISTRIBUTION)

    @property
    def embeds_python(self) -> bool:
        """uWSGI links libpython: the runtime needs the shared library of the base's Python."""
        return bool(self.deps.has("uwsgi"))

    @property
    def source_dir(self) -> str:
        """The project (manage.py's folder) inside the build context: "." or "mysite"."""
        if self.deps.context == ".":
            return "."
        base = self.facts.base_dir.resolve()
        root = (base / self.deps.context).resolve()
        return base.relative_to(root).as_posix()

    @property
    def build_context(self) -> str:
        return str(self.deps.context)


def saved_choices(data: dict[str, Any]) -> Choices:
    """Choices read back from the state file (unknown keys are ignored)."""
    return Choices(**{k: v for k, v in data.items() if k in CHOICES})


def merge(saved: Choices, flags: Choices) -> Choices:
    merged = saved.given() | flags.given()
    return Choices(**merged)


def make_plan(facts: Facts, choices: Choices, deploykit: DeploykitSource | None = None) -> Plan:
    _validate(choices)
    default_db = facts.default_db
    db = choices.db or (default_db.vendor if default_db else None)
    if db not in DATABASES:
        found = default_db.engine if default_db else "no 'default' alias"
        raise ConfigError(
            f"The default database uses {found}, which dockerize cannot containerize. "
            f"Choose one with --db {'|'.join(DATABASES)}."
        )
    server = choices.server or ("uvicorn" if facts.asgi_application else "gunicorn")
    celery = facts.celery_app is not None if choices.celery is None else choices.celery
    if celery and not facts.celery_app:
        raise ConfigError(
            f"--celery was given but no Celery app was found: add "
            f"{facts.settings_module.split('.')[0] or 'yourproject'}/celery.py defining "
            "`app = Celery(...)`, or drop --celery."
        )
    deps = facts.dependencies
    if deps.kind == "none":
        raise ConfigError(
            f"No dependency file found in {facts.base_dir} or the folders above it (up to the "
            "repository root). Add a requirements.txt listing your runtime packages (Django, "
            "dj-deploykit, your database driver…), or a pyproject.toml (PEP 621 or poetry), "
            "a Pipfile, or a lock file (uv.lock, poetry.lock, pdm.lock, Pipfile.lock), then "
            "re-run."
        )
    python = choices.python or facts.python_version
    if not python:
        raise ConfigError(facts.python_source)
    assigned = facts.settings.assigned_in if facts.settings else ()
    extra, build, runtime = _packages(facts, db, server, celery, choices)
    # Unset STATIC_ROOT: the container settings set it (DEPLOYKIT_STATIC_ROOT).
    static_path = (
        _container_path(facts.static_root or "staticfiles") if _local_static(facts) else None
    )
    source = deploykit or DeploykitSource("unknown", "")
    return Plan(
        facts=facts,
        db=db,
        search=facts.search if choices.search is None else choices.search,
        celery=celery,
        beat=celery and facts.celery_beat,
        redis=celery or facts.redis,
        nginx=bool(choices.nginx),
        media_served=_serves_media(facts),
        front=bool(choices.nginx) or _serves_media(facts),
        python_version=python,
        port=choices.port or STATIC_DEFAULTS["port"],
        server=server,
        makefile=bool(choices.makefile),
        app_target=_app_target(facts, server, neutral=any(f != "manage.py" for f in assigned)),
        worker_class="uvicorn_worker.UvicornWorker" if server == "uvicorn" else "gthread",
        extra_packages=extra,
        build_packages=build,
        runtime_packages=runtime,
        static_path=static_path,
        media_path=_container_path(facts.media_root) or "/app/media",
        data_path="/app/data",
        collectstatic=_local_static(facts),
        collectstatic_at_start=facts.remote_static,
        wait_for_db=db != "sqlite" or any(a.vendor != "sqlite" for a in facts.external_databases),
        manage="python -m django" if "manage.py" in assigned else "python manage.py",
        deploykit=source,
        saved={k: v for k, v in choices.given().items() if STATIC_DEFAULTS.get(k, object()) != v},
        notes=_notes(facts, db, static_path, source, extra),
    )


def _validate(choices: Choices) -> None:
    if choices.db is not None and choices.db not in DATABASES:
        raise ConfigError(f"Unknown database {choices.db!r}: use one of {', '.join(DATABASES)}.")
    if choices.server is not None and choices.server not in SERVERS:
        raise ConfigError(f"Unknown server {choices.server!r}: use gunicorn or uvicorn.")
    if choices.python is not None and str(choices.python) not in PYTHONS:
        raise ConfigError(
            f"--python {choices.python!r} is not a supported version: give one of "
            f"{', '.join(PYTHONS)}."
        )
    if choices.port is not None and not 1 <= int(choices.port) <= 65535:
        raise ConfigError(f"--port {choices.port} is out of range: give 1 … 65535.")
    for option, names in (
        ("--build-package", choices.build_packages),
        ("--runtime-package", choices.runtime_packages),
    ):
        for name in names or ():
            if not _APT_NAME.match(str(name)):
                raise ConfigError(
                    f"{option} {name!r} is not a Debian package name (lower-case letters, "
                    "digits, + - .): e.g. libgdal-dev."
                )


def _app_target(facts: Facts, server: str, *, neutral: bool = False) -> str:
    """``module:attribute`` for gunicorn, from WSGI_APPLICATION or the ASGI module.

    ``neutral``: the project's wsgi.py assigns DJANGO_SETTINGS_MODULE, which would undo
    the image's choice; Django's plain WSGI handler (deploykit's) stands in for it.
    """
    if neutral and server == "gunicorn":
        return NEUTRAL_WSGI
    package = (facts.wsgi_application or facts.settings_module).split(".")[0]
    if server == "uvicorn":
        dotted = facts.asgi_application or ""
        if not dotted and package and _module_exists(f"{package}.asgi"):
            dotted = f"{package}.asgi.application"
        if not dotted:
            raise ConfigError(
                "--server uvicorn needs an ASGI application: set ASGI_APPLICATION or add "
                f"{package or 'yourproject'}/asgi.py."
            )
    else:
        dotted = facts.wsgi_application or ""
        if not dotted:
            raise ConfigError(
                "WSGI_APPLICATION is not set: set it (e.g. 'mysite.wsgi.application') or use "
                "--server uvicorn for an ASGI project."
            )
    module, _, attribute = dotted.rpartition(".")
    return f"{module}:{attribute}"


def _local_static(facts: Facts) -> bool:
    """Static files collected into the image (not remote storage, staticfiles installed)."""
    from django.apps import apps

    return apps.is_installed("django.contrib.staticfiles") and not facts.remote_static


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _serves_media(facts: Facts) -> bool:
    """Uploads live on the media volume and the site links to them under a local path."""
    from django_deploykit.docker.targets.options import media_on_object_storage

    return (
        bool(facts.media_root)
        and facts.media_url.strip("/") != ""
        and "://" not in facts.media_url
        and not media_on_object_storage()
    )


def _container_path(value: str | None) -> str | None:
    if not value:
        return None
    return value if value.startswith("/") else f"/app/{value.strip('/')}"


def _packages(
    facts: Facts, db: str, server: str, celery: bool, choices: Choices
) -> tuple[list[str], list[str], list[str]]:
    """Python packages to add to the install, and apt packages for build and runtime."""
    deps = facts.dependencies
    extra = []
    if not deps.has("gunicorn", DISTRIBUTION):
        extra.append("gunicorn")
    if _local_static(facts) and not deps.has("whitenoise"):
        # The container settings add its middleware: static files are served without
        # an edit to the project's settings.
        extra.append("whitenoise")
    if server == "uvicorn" and not deps.has("uvicorn-worker"):
        extra.append("uvicorn-worker")
    if celery and not deps.has("celery"):
        extra.append("celery[redis]")
    if db == "postgres" and not deps.has(
        "psycopg", "psycopg2", "psycopg-binary", "psycopg2-binary"
    ):
        extra.append("psycopg[binary]")
    if db == "mariadb" and not deps.has("mysqlclient", "pymysql"):
        extra.append("mysqlclient")
    build: set[str] = set(choices.build_packages or ())
    runtime: set[str] = set(choices.runtime_packages or ())
    for name, (build_apt, runtime_apt) in COMPILED.items():
        base, _, extra_name = name.partition("[")
        wanted = deps.has_extra(base, extra_name.rstrip("]")) if extra_name else deps.has(name)
        if wanted or name in extra:
            build |= set(build_apt)
            runtime |= set(runtime_apt)
    if (
        deps.has("psycopg")
        and not deps.has("psycopg-binary")
        and not deps.has_extra("psycopg", "binary")
    ):
        # psycopg 3 without the binary extra loads the system libpq at runtime.
        runtime.add("libpq5")
    return extra, sorted(build), sorted(runtime)


def _notes(
    facts: Facts, db: str, static_path: str | None, source: DeploykitSource, extra: list[str]
) -> tuple[str, ...]:
    notes = []
    if not facts.remote_static and not static_path:
        notes.append("django.contrib.staticfiles is not installed: no static files are collected.")
    if facts.remote_static:
        notes.append(
            f"Static files go to remote storage ({facts.static_storage}): collectstatic "
            "runs when the migrate service starts, with the storage credentials from .env "
            "(the image build has none)."
        )
    if not facts.dependencies.has(DISTRIBUTION):
        notes.append(
            f"{DISTRIBUTION} is not in your dependency files: the image installs "
            f"{source.described} (add it to your dependencies to pin it yourself)."
        )
    if extra:
        notes.append(
            "Not in your dependency files, installed in the image anyway: "
            + ", ".join(extra)
            + " (add them to your dependencies to pin their versions)."
        )
    if facts.default_db and facts.default_db.vendor != db:
        notes.append(
            f"The default database is {facts.default_db.vendor} here but the stack uses "
            f"{db}: compose sets DATABASE_URL, which the container settings use."
        )
    return tuple(notes)
