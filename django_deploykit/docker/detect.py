"""The project model, read from the running Django settings and the project's files.

Everything here is a fact about the project as it is configured right now; the
choices a user makes on top of it (``--db postgres``…) are applied in ``plan``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from django_deploykit.conf import conf

__all__ = ["DatabaseAlias", "Dependencies", "Facts", "detect"]

_VENDORS = {"sqlite3": "sqlite", "mysql": "mariadb", "postgresql": "postgres"}
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_FIND_LINKS = re.compile(r"^\s*(?:--find-links|-f)[\s=]+(\S+)")
_INCLUDE = re.compile(r"^\s*(?:-r|--requirement|-c|--constraint)[\s=]+(\S+)")


@dataclass(frozen=True)
class DatabaseAlias:
    alias: str
    engine: str
    #: sqlite, mariadb, postgres, or the engine's last dotted part for others.
    vendor: str


@dataclass
class Dependencies:
    """How the project declares its Python dependencies."""

    #: requirements, uv, poetry, pdm, pyproject, or none.
    kind: str = "none"
    #: Files the dependency install needs, relative to the project (bind-mounted).
    files: list[str] = field(default_factory=list)
    #: Local directories named by ``--find-links`` (e.g. ``wheels``).
    dirs: list[str] = field(default_factory=list)
    #: Normalized distribution names mentioned in those files.
    names: set[str] = field(default_factory=set)
    #: Distributions found as wheels in ``dirs``: uv must not reuse a cached build of them.
    local: list[str] = field(default_factory=list)

    def has(self, *names: str) -> bool:
        return any(_normalize(n) in self.names for n in names)


@dataclass
class Facts:
    base_dir: Path
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

    @property
    def default_db(self) -> DatabaseAlias | None:
        return next((db for db in self.databases if db.alias == "default"), None)

    @property
    def external_databases(self) -> list[DatabaseAlias]:
        """Aliases other than ``default``: outside services, configured from env."""
        return [db for db in self.databases if db.alias != "default"]


def detect(base_dir: Path | None = None) -> Facts:
    base = Path(base_dir) if base_dir else _base_dir()
    settings_module = os.environ.get("DJANGO_SETTINGS_MODULE", "")
    package = settings_module.split(".")[0] if settings_module else ""
    databases = [
        DatabaseAlias(alias, str(cfg.get("ENGINE", "")), _vendor(str(cfg.get("ENGINE", ""))))
        for alias, cfg in settings.DATABASES.items()
    ]
    caches = getattr(settings, "CACHES", {}) or {}
    broker = str(getattr(settings, "CELERY_BROKER_URL", "") or "")
    redis = any("redis" in str(c.get("BACKEND", "")).lower() for c in caches.values())
    celery_app = _celery_app(package)
    installed = list(settings.INSTALLED_APPS)
    storages: dict[str, Any] = getattr(settings, "STORAGES", {}) or {}
    static_storage = str(storages.get("staticfiles", {}).get("BACKEND", ""))
    node_output, node_lock = _node_build(base)
    return Facts(
        base_dir=base,
        settings_module=settings_module,
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        databases=databases,
        redis=redis or broker.startswith(("redis://", "rediss://")),
        celery_app=celery_app,
        celery_beat=bool(
            celery_app
            and (
                getattr(settings, "CELERY_BEAT_SCHEDULE", None) or "django_celery_beat" in installed
            )
        ),
        search=bool(conf.MEILISEARCH_URL or conf.MEILISEARCH_MASTER_KEY),
        static_root=_relative(base, getattr(settings, "STATIC_ROOT", None)),
        static_url=str(getattr(settings, "STATIC_URL", "") or "/static/"),
        whitenoise=any("whitenoise" in m for m in settings.MIDDLEWARE),
        static_storage=static_storage,
        media_root=_relative(base, getattr(settings, "MEDIA_ROOT", None)),
        media_url=str(getattr(settings, "MEDIA_URL", "") or "/media/"),
        wsgi_application=getattr(settings, "WSGI_APPLICATION", None),
        asgi_application=getattr(settings, "ASGI_APPLICATION", None),
        dependencies=detect_dependencies(base),
        node_output=node_output,
        node_lockfile=node_lock,
        project_name=_slug(base.name) or "app",
    )


def _base_dir() -> Path:
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


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def detect_dependencies(base: Path) -> Dependencies:
    pyproject = base / "pyproject.toml"
    for lock, kind in (("uv.lock", "uv"), ("poetry.lock", "poetry"), ("pdm.lock", "pdm")):
        if (base / lock).is_file() and pyproject.is_file():
            deps = Dependencies(kind, ["pyproject.toml", lock])
            text = (base / lock).read_text(errors="replace")
            deps.names = {_normalize(n) for n in re.findall(r'^name = "([^"]+)"', text, re.M)}
            return deps
    for candidate in (
        "requirements.txt",
        "requirements/production.txt",
        "requirements/prod.txt",
        "requirements/base.txt",
    ):
        if (base / candidate).is_file():
            deps = Dependencies("requirements")
            _read_requirements(base, candidate, deps)
            return deps
    if pyproject.is_file() and "[project]" in pyproject.read_text(errors="replace"):
        deps = Dependencies("pyproject", ["pyproject.toml"])
        text = pyproject.read_text(errors="replace")
        deps.names = {_normalize(n) for n in re.findall(r'"([A-Za-z0-9][A-Za-z0-9._-]*)', text)}
        return deps
    return Dependencies()


def _read_requirements(base: Path, rel: str, deps: Dependencies) -> None:
    if rel in deps.files or not (base / rel).is_file():
        return
    deps.files.append(rel)
    for line in (base / rel).read_text(errors="replace").splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if match := _INCLUDE.match(line):
            # Includes are relative to the including file.
            included = (Path(rel).parent / match.group(1)).as_posix()
            _read_requirements(base, os.path.normpath(included), deps)
        elif match := _FIND_LINKS.match(line):
            target = match.group(1)
            if "://" not in target and (base / target).is_dir():
                deps.dirs.append(os.path.normpath(target))
                for wheel in sorted((base / target).glob("*.whl")):
                    name = _normalize(wheel.name.split("-", 1)[0])
                    if name not in deps.local:
                        deps.local.append(name)
        elif not line.startswith("-") and (match := _REQUIREMENT_NAME.match(line)):
            deps.names.add(_normalize(match.group(1)))


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
