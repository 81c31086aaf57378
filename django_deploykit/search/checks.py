"""System checks of the search feature (ids deploykit.E040-E049 / W040-W049).

=============== ==========================================================
deploykit.E040  a declared search index cannot work (bad name, missing fields...)
deploykit.W040  DEPLOYKIT_SEARCH_AUTO_UPDATE is on but DEPLOYKIT_MEILISEARCH_URL is not set
deploykit.W041  a declared index does not exist on the server (``check --deploy`` only:
                it asks Meilisearch)
deploykit.W042  DEPLOYKIT_MEILISEARCH_URL is set but the Meilisearch client (the
                ``search`` extra) is not installed
=============== ==========================================================
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register

from django_deploykit.conf import conf
from django_deploykit.exceptions import ConfigError
from django_deploykit.extras import installed

__all__ = [
    "check_auto_update",
    "check_missing_indexes",
    "check_search_client",
    "check_search_indexes",
]


@register(Tags.compatibility)
def check_search_indexes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from django_deploykit.search.indexes import get_indexes

    try:
        indexes = get_indexes()
        for index in indexes:
            index.validate()
    except ConfigError as exc:
        return [
            Error(
                str(exc),
                hint="Fix the SearchIndex declaration; see the search guide.",
                id="deploykit.E040",
            )
        ]
    return []


@register(Tags.compatibility)
def check_auto_update(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if conf.SEARCH_AUTO_UPDATE and not conf.MEILISEARCH_URL:
        return [
            Warning(
                "DEPLOYKIT_SEARCH_AUTO_UPDATE is on but DEPLOYKIT_MEILISEARCH_URL is not set, "
                "so no index is updated.",
                hint="Set MEILISEARCH_URL, or turn DEPLOYKIT_SEARCH_AUTO_UPDATE off.",
                id="deploykit.W040",
            )
        ]
    return []


@register(Tags.compatibility)
def check_search_client(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if conf.MEILISEARCH_URL and not installed("meilisearch"):
        return [
            Warning(
                "DEPLOYKIT_MEILISEARCH_URL is set but the Meilisearch client is not "
                "installed: searches fall back to the database and no index is updated.",
                hint='pip install "dj-deploykit[search]" (dockerize adds it to the image '
                "of a project with search).",
                id="deploykit.W042",
            )
        ]
    return []


@register(Tags.compatibility, deploy=True)
def check_missing_indexes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from django_deploykit.exceptions import DeployKitError
    from django_deploykit.search.query import missing_indexes

    try:
        missing = missing_indexes(conf.SERVICE_TIMEOUT)
    except (ConfigError, DeployKitError):
        return []  # unreachable or misconfigured: the health check and reindex_search say so
    return [
        Warning(
            f"Search index {uid!r} does not exist in Meilisearch at {conf.MEILISEARCH_URL}: "
            "searches fall back to the database.",
            hint="Run `manage.py reindex_search` (in the stack: docker compose exec web "
            "python manage.py reindex_search).",
            id="deploykit.W041",
        )
        for uid in missing
    ]
