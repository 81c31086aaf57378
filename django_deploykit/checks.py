"""System checks. Ids come from one table in docs/reference/checks.rst; a number is never reused.

=============== ==========================================================
deploykit.E001  a DEPLOYKIT_* setting has a value of the wrong type
deploykit.W001  STATIC_ROOT is not set (a container image cannot collect static files)
deploykit.W002  a SQLite database's directory is not writable in this container
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

__all__ = ["check_settings_types", "check_sqlite_writable", "check_static_root"]


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
