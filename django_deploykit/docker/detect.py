"""The project model, read from the running Django settings and the project's files.

Everything here is a fact about the project as it is configured right now; the
choices a user makes on top of it (``--db postgres``…) are applied in ``plan``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from django_deploykit.conf import conf
from django_deploykit.docker.dependencies import Dependencies, detect_dependencies
from django_deploykit.docker.python_version import PythonVersion, choose_python
from django_deploykit.docker.settings_module import SettingsChoice, choose_settings
from django_deploykit.exceptions import ConfigError

__all__ = [
    "DatabaseAlias",
    "Dependencies",
    "Facts",
    "base_dir_of_project",
    "detect",
    "is_remote_storage",
]

_VENDORS = {"sqlite3": "sqlite", "mysql": "mariadb", "postgresql": "postgres"}
#: Storage backends that keep files elsewhere (django-storages, Cloudinary…): collectstatic
#: uploads there, so it needs the service's credentials and runs when the stack starts.
_REMOTE_STORAGE_PREFIXES = ("storages.", "cloudinary_storage.", "s3_folder_storage.")


@dataclass(frozen=True)
class DatabaseAlias:
    alias: str
    engine: str
    #: sqlite, mariadb, postgres, or the engine's last dotted part for others.
    vendor: str


@dataclass
class Facts:
    base_dir: Path
    #: The settings module the image runs with (see settings_module.py for the choice).
    settings_module: str
    python_version: str
    databases: list[DatabaseAlias]
    redis: bool
    celery_app: str | None
    celery_beat: bool
    search: bool
    static_root: str | None
    static_url: str
    whitenoise: bool
    #: The staticfiles storage backend's dotted path.
    static_storage: str
    media_root: str | None
    media_url: str
    wsgi_application: str | None
    asgi_application: str | None
    dependencies: Dependencies
    #: Directory whose files the Node build writes (None: no package.json build script).
    node_output: str | None
    node_lockfile: str | None
    project_name: str
    #: Why settings_module, django-configurations' class, files that pin the module.
    settings: SettingsChoice | None = None
    #: Where python_version comes from ("" with python_version "" when unreadable).
    python_source: str = ""
    #: What detection saw but could not act on (printed as caveats).
    caveats: tuple[str, ...] = ()
    #: Beat keeps its schedule in the database (django_celery_beat's DatabaseScheduler),
    #: not in a schedule file.
    celery_beat_database: bool = False

    @property
    def configuration(self) -> str | None:
        return self.settings.configuration if self.settings else None

    @property
    def remote_static(self) -> bool:
        return is_remote_storage(self.static_storage)

    @property
    def default_db(self) -> DatabaseAlias | None:
        return next((db for db in self.databases if db.alias == "default"), None)

    @property
    def external_databases(self) -> list[DatabaseAlias]:
        """Aliases other than ``default``: outside services, configured from env."""
        return [db for db in self.databases if db.alias != "default"]


def is_remote_storage(backend: str) -> bool:
    return backend.startswith(_REMOTE_STORAGE_PREFIXES)


def detect(
    base_dir: Path | None = None,
    *,
    settings_module: str | None = None,
    configuration: str | None = None,
) -> Facts:
    """The project as configured now; ``settings_module``/``configuration``: chosen by hand."""
    base = Path(base_dir) if base_dir else base_dir_of_project()
    running = os.environ.get("DJANGO_SETTINGS_MODULE", "")
    choice = choose_settings(
        running,
        base,
        getattr(settings, "WSGI_APPLICATION", None),
        explicit=settings_module,
        explicit_configuration=configuration,
    )
    package = choice.module.split(".")[0] if choice.module else ""
    chosen, caveats = _chosen_settings(choice.module, running)
    databases = [
        DatabaseAlias(alias, str(cfg.get("ENGINE", "")), _vendor(str(cfg.get("ENGINE", ""))))
        for alias, cfg in settings.DATABASES.items()
    ]
    caches = getattr(settings, "CACHES", {}) or {}
    broker = str(getattr(settings, "CELERY_BROKER_URL", "") or "")
    redis = any("redis" in str(c.get("BACKEND", "")).lower() for c in caches.values())
    celery_app = _celery_app(package)
    installed = list(settings.INSTALLED_APPS)
    node_output, node_lock = _node_build(base)
    dependencies = detect_dependencies(base)
    try:
        python = choose_python(dependencies.python, dependencies.python_source)
    except ConfigError as exc:
        python = PythonVersion("", str(exc))
    return Facts(
        base_dir=base,
        settings_module=choice.module,
        settings=choice,
        caveats=caveats,
        python_version=python.version,
        python_source=python.source,
        databases=databases,
        redis=redis or broker.startswith(("redis://", "rediss://")),
        celery_app=celery_app,
        celery_beat=bool(
            celery_app
            and (
                getattr(settings, "CELERY_BEAT_SCHEDULE", None) or "django_celery_beat" in installed
            )
        ),
        celery_beat_database="DatabaseScheduler"
        in str(getattr(settings, "CELERY_BEAT_SCHEDULER", None) or ""),
        search=bool(conf.MEILISEARCH_URL or conf.MEILISEARCH_API_KEY),
        static_root=_relative(base, chosen.get("STATIC_ROOT")),
        static_url=str(getattr(settings, "STATIC_URL", "") or "/static/"),
        whitenoise=any("whitenoise" in m for m in chosen.get("MIDDLEWARE") or ()),
        static_storage=_static_storage(chosen),
        media_root=_relative(base, getattr(settings, "MEDIA_ROOT", None)),
        media_url=str(getattr(settings, "MEDIA_URL", "") or "/media/"),
        wsgi_application=getattr(settings, "WSGI_APPLICATION", None),
        asgi_application=getattr(settings, "ASGI_APPLICATION", None),
        dependencies=dependencies,
        node_output=node_output,
        node_lockfile=node_lock,
        project_name=_slug(base.name) or "app",
    )


def _chosen_settings(module: str, running: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Static-file settings of the image's module (when it is not the running one).

    Production modules often keep static files elsewhere (S3) or add whitenoise; they
    are imported, not configured, and may need environment variables this machine
    lacks: then the running settings stand in and the caveat says so.
    """
    names = ("STATIC_ROOT", "MIDDLEWARE", "STORAGES", "STATICFILES_STORAGE")
    live = {name: getattr(settings, name, None) for name in names}
    if not module or module == running:
        return live, ()
    try:
        imported = importlib.import_module(module)
    except Exception as exc:  # any error of the user's module: fall back, say so
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return live, (
            f"{module} could not be imported here ({type(exc).__name__}: {first}); its static "
            f"file settings were taken from {running} instead.",
        )
    return {name: getattr(imported, name, live[name]) for name in names}, ()


def _static_storage(values: dict[str, Any]) -> str:
    storages = values.get("STORAGES") or {}
    backend = storages.get("staticfiles", {}).get("BACKEND") if storages else None
    return str(backend or values.get("STATICFILES_STORAGE") or "")


def base_dir_of_project() -> Path:
    """manage.py's folder: BASE_DIR when it holds manage.py, else the current directory."""
    base = getattr(settings, "BASE_DIR", None)
    if base and (Path(base) / "manage.py").exists():
        return Path(base)
    return Path.cwd()


def _vendor(engine: str) -> str:
    last = engine.rsplit(".", 1)[-1]
    return _VENDORS.get(last, last)


def _celery_app(package: str) -> str | None:
    """The ``-A`` argument of celery: the settings package when it has a celery module."""
    if not package:
        return None
    try:
        found = importlib.util.find_spec(f"{package}.celery") is not None
    except (ImportError, ValueError):
        found = False
    if found or any(name.startswith("CELERY_") for name in dir(settings)):
        return package
    return None


def _relative(base: Path, value: Any) -> str | None:
    """A settings path relative to the project, or absolute when it lies outside it.

    The image keeps the project at /app, so ``BASE_DIR / "media"`` becomes /app/media.
    """
    if not value:
        return None
    path = Path(value)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _node_build(base: Path) -> tuple[str | None, str | None]:
    package = base / "package.json"
    if not package.is_file():
        return None, None
    try:
        scripts = json.loads(package.read_text()).get("scripts", {})
    except ValueError:
        return None, None
    if "build" not in scripts:
        return None, None
    lock = next(
        (n for n in ("package-lock.json", "yarn.lock", "pnpm-lock.yaml") if (base / n).is_file()),
        None,
    )
    output = None
    for entry in getattr(settings, "STATICFILES_DIRS", []) or []:
        path = entry[1] if isinstance(entry, (tuple, list)) else entry
        output = _relative(base, path)
        if output and not output.startswith("/"):
            break
        output = None
    return output or "static", lock
