"""Searching a declared index from a view, with a database fallback in mind.

Search is optional for a page: every failure raises ``SearchUnavailable`` so the
view can query the database instead. A page never waits long on Meilisearch: each
request has ``DEPLOYKIT_SEARCH_QUERY_TIMEOUT``, and after a failure the process
skips Meilisearch for ``DEPLOYKIT_SEARCH_RETRY_SECONDS`` (one log line per outage),
so a hung server costs one slow search per process, not one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from django_deploykit.conf import conf
from django_deploykit.exceptions import DeployKitError
from django_deploykit.search.indexes import get_index, get_indexes

__all__ = [
    "SearchPage",
    "SearchUnavailable",
    "missing_indexes",
    "search_enabled",
    "search_page",
    "search_pks",
]

logger = logging.getLogger("django_deploykit.search")


class SearchUnavailable(DeployKitError):
    """Meilisearch is not configured, or did not answer: use the database instead."""


@dataclass(frozen=True)
class SearchPage:
    """One page of hits: primary keys best first, and the number of all matches."""

    pks: list[Any]
    #: Meilisearch's ``totalHits`` (exhaustive) or ``estimatedTotalHits``.
    total: int


class _Breaker:
    """Remembers, per process and server URL, until when Meilisearch is skipped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[float, str]] = {}

    def check(self, url: str) -> None:
        with self._lock:
            until, reason = self._open.get(url, (0.0, ""))
        if time.monotonic() < until:
            raise SearchUnavailable(f"search skipped after a recent failure: {reason}")

    def trip(self, url: str, index_uid: str, reason: str) -> None:
        retry = conf.SEARCH_RETRY_SECONDS
        with self._lock:
            self._open[url] = (time.monotonic() + retry, reason)
        logger.warning(
            "search on index %s failed, falling back to the database%s: %s",
            index_uid,
            f" for {retry:g} s (DEPLOYKIT_SEARCH_RETRY_SECONDS)" if retry > 0 else "",
            reason,
        )

    def reset(self) -> None:
        with self._lock:
            self._open.clear()


breaker = _Breaker()


def search_enabled() -> bool:
    return bool(conf.MEILISEARCH_URL)


def _search(name: str, query: str, params: dict[str, Any]) -> tuple[dict[str, Any], str]:
    if not search_enabled():
        raise SearchUnavailable("DEPLOYKIT_MEILISEARCH_URL is not set")
    url = conf.MEILISEARCH_URL or ""
    breaker.check(url)
    from django_deploykit.search.client import SearchClient

    index = get_index(name)
    try:
        client = SearchClient(timeout=conf.SEARCH_QUERY_TIMEOUT)
        result = client.call(
            client.index(index.uid).search,
            query,
            {**params, "attributesToRetrieve": [index.primary_key]},
        )
    except DeployKitError as exc:
        breaker.trip(url, index.uid, str(exc))
        raise SearchUnavailable(str(exc)) from exc
    return result, index.primary_key


def search_pks(name: str, query: str, *, limit: int = 1000) -> list[Any]:
    """Primary keys of the documents of index ``name`` matching ``query``, best first.

    Raises SearchUnavailable when search is off or fails, so a view can fall back
    to a database query; the request waits at most DEPLOYKIT_SEARCH_QUERY_TIMEOUT.
    Meilisearch returns at most its ``maxTotalHits`` (1000) hits: use
    :func:`search_page` to page through results and show their real number.
    """
    result, key = _search(name, query, {"limit": limit})
    return _pks(name, result, key)


def search_page(name: str, query: str, *, page: int = 1, per_page: int = 20) -> SearchPage:
    """Page ``page`` (from 1) of the hits of ``query``, with the number of all hits.

    The total is Meilisearch's own count (``totalHits``, else ``estimatedTotalHits``),
    not the length of a capped hit list. Raises SearchUnavailable like search_pks.
    """
    page, per_page = max(1, int(page)), max(1, int(per_page))
    result, key = _search(name, query, {"offset": (page - 1) * per_page, "limit": per_page})
    total = result.get("totalHits", result.get("estimatedTotalHits"))
    pks = _pks(name, result, key)
    return SearchPage(pks, int(total) if total is not None else len(pks))


def _pks(name: str, result: dict[str, Any], key: str) -> list[Any]:
    """The hits' primary keys; SearchUnavailable when the server does not return them."""
    hits = result["hits"]
    if any(key not in hit for hit in hits):
        # displayedAttributes hides the key: an empty page would look like "no results".
        reason = (
            f"index {name!r} returns hits without their primary key {key!r}: its "
            f"displayedAttributes setting leaves {key!r} out. Add it (and run "
            "reindex_search), or the database is searched instead."
        )
        breaker.trip(conf.MEILISEARCH_URL or "", name, reason)
        raise SearchUnavailable(reason)
    return [hit[key] for hit in hits]


def missing_indexes(timeout: float | None = None) -> list[str]:
    """Uids of the declared indexes that do not exist on the server (none when search is off).

    Raises DeployKitError when the server cannot be asked.
    """
    if not search_enabled():
        return []
    from django_deploykit.search.client import SearchClient

    client = SearchClient(timeout=timeout if timeout is not None else conf.SEARCH_QUERY_TIMEOUT)
    return [index.uid for index in get_indexes() if client.index_info(index.uid) is None]
