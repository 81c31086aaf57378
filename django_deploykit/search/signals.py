"""Incremental index updates on save/delete (``DEPLOYKIT_SEARCH_AUTO_UPDATE``, off by default).

After the transaction commits, a saved row is re-read through the index's
queryset (so a row that left it, e.g. an unpublished post, is removed) and sent;
a deleted row's document is deleted. Updates are enqueued, not waited for, so a
request never blocks on Meilisearch beyond one request with the HTTP timeout.
Every failure is logged on ``django_deploykit.search`` and never raised into the
request; the next ``reindex_search`` repairs what was missed.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from django_deploykit.conf import conf
from django_deploykit.exceptions import DeployKitError
from django_deploykit.search.indexes import SearchIndex, indexes_for_model

__all__ = ["sync_object"]

logger = logging.getLogger("django_deploykit.search")


def _enabled() -> bool:
    return conf.SEARCH_AUTO_UPDATE and bool(conf.MEILISEARCH_URL)


def sync_object(model: type[Any], pk: Any, *, deleted: bool = False) -> None:
    """Send (or delete) the document of one row in every index of its model."""
    from django_deploykit.search.client import SearchClient

    try:
        indexes: list[SearchIndex] = indexes_for_model(model)
        if not indexes:
            return
        client = SearchClient()
        for index in indexes:
            target = client.index(index.uid)
            obj = None if deleted else index.get_queryset().filter(pk=pk).first()
            if obj is None:
                client.call(target.delete_document, pk)
            else:
                client.call(target.add_documents, [index.to_document(obj)], index.primary_key)
    except DeployKitError as exc:  # said in one line: the server, the key, the extra
        logger.error("Search index update failed for %s pk=%s: %s", model._meta.label, pk, exc)
    except Exception:  # an index update must never break the request that saved the row
        logger.exception("Search index update failed for %s pk=%s", model._meta.label, pk)


def _schedule(model: type[Any], pk: Any, deleted: bool, using: str | None) -> None:
    transaction.on_commit(lambda: sync_object(model, pk, deleted=deleted), using=using)


@receiver(post_save, dispatch_uid="deploykit-search-save")
def _on_save(sender: type[Any], instance: Any, using: str | None = None, **kw: Any) -> None:
    if _enabled() and not kw.get("raw"):
        _schedule(sender, instance.pk, False, using)


@receiver(post_delete, dispatch_uid="deploykit-search-delete")
def _on_delete(sender: type[Any], instance: Any, using: str | None = None, **kw: Any) -> None:
    if _enabled():
        _schedule(sender, instance.pk, True, using)


@receiver(m2m_changed, dispatch_uid="deploykit-search-m2m")
def _on_m2m(
    sender: type[Any],
    instance: Any,
    action: str,
    reverse: bool,
    model: type[Any],
    pk_set: set[Any] | None,
    using: str | None = None,
    **kw: Any,
) -> None:
    if not _enabled() or action not in ("post_add", "post_remove", "post_clear"):
        return
    _schedule(type(instance), instance.pk, False, using)
    for pk in pk_set or ():  # the other side's rows changed too (e.g. tag.posts.add)
        _schedule(model, pk, False, using)
