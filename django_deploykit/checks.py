"""System checks. Ids come from one table in docs/reference/checks.rst; a number is never reused.

=============== ==========================================================
deploykit.E001  a DEPLOYKIT_* setting has a value of the wrong type
deploykit.W001  STATIC_ROOT is not set (a container image cannot collect static files)
deploykit.W002  a SQLite database's directory is not writable in this container
deploykit.E003  the image runs the project's development settings, not its container settings
deploykit.W003  the container settings found something they cannot fix
deploykit.W004  the image runs the project's settings directly, not its container settings
=============== ==========================================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from django_deploykit.conf import SETTINGS
from django_deploykit.env.container import in_container

__all__ = [
    "check_container_settings",
    "check_settings_types",
    "check_sqlite_writable",
    "check_static_root",
    "development_settings_in_image",
]


@register(Tags.compatibility)
def check_settings_types(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name, spec in SETTINGS.items():
        if not hasattr(settings, name):
            continue
        value = getattr(settings, name)
        # bool is an int subclass, but True is never a valid timeout.
        if not isinstance(value, spec.types) or (
            isinstance(value, bool) and bool not in spec.types
        ):
            errors.append(
                Error(
                    f"{name} must be {spec.type_name}, not {type(value).__name__}.",
                    hint=f"Default: {spec.default!r}. See the settings reference.",
                    id="deploykit.E001",
                )
            )
    return errors


@register(Tags.staticfiles, deploy=True)
def check_static_root(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if "django.contrib.staticfiles" in settings.INSTALLED_APPS and not getattr(
        settings, "STATIC_ROOT", None
    ):
        return [
            Warning(
                "STATIC_ROOT is not set, so collectstatic cannot run when the image is built.",
                hint="Set STATIC_ROOT = BASE_DIR / 'staticfiles' (dockerize collects static "
                "files there at build time).",
                id="deploykit.W001",
            )
        ]
    return []


@register(Tags.compatibility)
def check_sqlite_writable(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not in_container():
        return []
    warnings: list[CheckMessage] = []
    for alias, db in settings.DATABASES.items():
        if not str(db.get("ENGINE", "")).endswith("sqlite3"):
            continue
        name = str(db.get("NAME") or "")
        if not name or name == ":memory:" or name.startswith("file:"):
            continue
        directory = Path(name).parent
        if not os.access(directory, os.W_OK | os.X_OK):
            warnings.append(
                Warning(
                    f"The SQLite database of alias {alias!r} is in {directory}, which this "
                    "container's user cannot write: every write will fail.",
                    hint="Keep SQLite files on a volume mounted at a writable data directory "
                    "(the generated image uses /app/data: "
                    "DATABASE_URL=sqlite:////app/data/db.sqlite3).",
                    id="deploykit.W002",
                )
            )
    return warnings


def _bypassed() -> str | None:
    """The project's module, when the generated image runs it without the overlay."""
    base = os.environ.get("DEPLOYKIT_BASE_SETTINGS", "")
    if not base or getattr(settings, "DEPLOYKIT_CONTAINER_SETTINGS", None):
        return None
    return os.environ.get("DJANGO_SETTINGS_MODULE") or base


def development_settings_in_image() -> str | None:
    """Why this process must not start: the image would serve development settings.

    Called from ``AppConfig.ready()`` (gunicorn runs no system checks): fail closed.
    """
    module = _bypassed()
    if module is None:
        return None
    if not (settings.DEBUG or str(settings.SECRET_KEY).startswith("django-insecure-")):
        return None
    return (
        f"deploykit.E003: this image runs {module!r} with "
        + ("DEBUG on" if settings.DEBUG else "startproject's insecure SECRET_KEY")
        + " instead of django_deploykit.container_settings, which the Dockerfile selects. "
        "Your manage.py or wsgi.py probably assigns DJANGO_SETTINGS_MODULE "
        "(os.environ[...] = ...): use os.environ.setdefault(...) as startproject writes it, "
        "so the image's DJANGO_SETTINGS_MODULE wins."
    )


@register(Tags.compatibility)
def check_container_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    record = getattr(settings, "DEPLOYKIT_CONTAINER_SETTINGS", None)
    if isinstance(record, dict):
        return [
            Warning(
                warning,
                hint="See 'The container settings' in the dockerize guide.",
                id="deploykit.W003",
            )
            for warning in record.get("warnings", [])
        ]
    module = _bypassed()
    if module is None:
        return []
    return [
        Warning(
            f"This image runs {module!r} directly, not django_deploykit.container_settings: "
            "no production value (secret key, hosts, database URL, health middleware) is "
            "filled in from the environment.",
            hint="Let manage.py and wsgi.py default DJANGO_SETTINGS_MODULE with "
            "os.environ.setdefault(...) instead of assigning it.",
            id="deploykit.W004",
        )
    ]
