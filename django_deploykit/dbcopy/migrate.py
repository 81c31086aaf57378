"""Migrate the target as if it were the project's only database.

Many data migrations write through the default connection (``Model.objects.create()``
instead of ``.using(schema_editor.connection.alias)``). Run as ``migrate --database
target`` while ``default`` is the source, they insert into the *source*. So while the
target is migrated, ``default`` points at the target, exactly as ``manage.py migrate``
run with the target as the project's database would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.apps import apps
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections

__all__ = ["as_default", "migrate_target"]


def _clear_model_caches() -> None:
    # Both caches are keyed by alias: rows read under "default" from the target must not
    # be served later as the real default's (and the other way round).
    if apps.is_installed("django.contrib.contenttypes"):
        from django.contrib.contenttypes.models import ContentType

        ContentType.objects.clear_cache()
    if apps.is_installed("django.contrib.sites"):
        from django.contrib.sites.models import SITE_CACHE

        SITE_CACHE.clear()


@contextmanager
def as_default(alias: str) -> Iterator[None]:
    """Within the block, the ``default`` alias is the database of ``alias``."""
    if alias == DEFAULT_DB_ALIAS:
        yield
        return
    saved = connections.settings[DEFAULT_DB_ALIAS]
    # The project's own default connection is set aside, open, and put back as it was:
    # closing it would lose an in-memory database and any transaction it is in.
    # The per-thread wrappers: Django's own storage, which has no public accessor.
    local = connections._connections  # type: ignore[attr-defined]
    kept = getattr(local, DEFAULT_DB_ALIAS, None)
    if kept is not None:
        delattr(local, DEFAULT_DB_ALIAS)
    connections.settings[DEFAULT_DB_ALIAS] = connections.settings[alias]
    _clear_model_caches()
    try:
        yield
    finally:
        if hasattr(local, DEFAULT_DB_ALIAS):
            getattr(local, DEFAULT_DB_ALIAS).close()
            delattr(local, DEFAULT_DB_ALIAS)
        connections.settings[DEFAULT_DB_ALIAS] = saved
        if kept is not None:
            setattr(local, DEFAULT_DB_ALIAS, kept)
        _clear_model_caches()


def migrate_target(alias: str, verbosity: int = 0) -> None:
    """``migrate`` on ``alias``, with ``default`` pointing at it while it runs."""
    connections[alias].close()  # the migration runs on the "default" wrapper
    with as_default(alias):
        call_command("migrate", database=DEFAULT_DB_ALIAS, interactive=False,
                     verbosity=verbosity)  # fmt: skip
