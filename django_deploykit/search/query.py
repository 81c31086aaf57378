"""Searching a declared index from a view, with a database fallback in mind."""

from __future__ import annotations

from typing import Any

from django_deploykit.conf import conf
from django_deploykit.exceptions import DeployKitError
from django_deploykit.search.indexes import get_index

__all__ = ["SearchUnavailable", "search_enabled", "search_pks"]


class SearchUnavailable(DeployKitError):
    """Meilisearch is not configured, or did not answer: use the database instead."""


def search_enabled() -> bool:
    return bool(conf.MEILISEARCH_URL)


def search_pks(name: str, query: str, *, limit: int = 1000) -> list[Any]:
    """Primary keys of the documents of index ``name`` matching ``query``, best first.

    Raises SearchUnavailable when search is off or fails, so a view can fall back
    to a database query; the request waits at most DEPLOYKIT_MEILISEARCH_TIMEOUT.
    """
    if not search_enabled():
        raise SearchUnavailable("DEPLOYKIT_MEILISEARCH_URL is not set")
    from django_deploykit.search.client import SearchClient

    index = get_index(name)
    try:
        client = SearchClient()
        result = client.call(
            client.index(index.uid).search,
            query,
            {"limit": limit, "attributesToRetrieve": [index.primary_key]},
        )
    except DeployKitError as exc:
        raise SearchUnavailable(str(exc)) from exc
    return [hit[index.primary_key] for hit in result["hits"] if index.primary_key in hit]
