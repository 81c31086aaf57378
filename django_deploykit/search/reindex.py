"""Rebuilding a Meilisearch index from the database with zero downtime.

    lock + build index "<uid>__rebuild" (explicit primary key)
      -> settings (waited for: applied before any document, so nothing is indexed twice)
      -> documents in keyset batches (every task uid kept, finished ones checked on
         the way so a failed batch stops the run early)
      -> wait for every task; any failed task raises TaskFailed, nothing is swapped
      -> verify: the document count equals the number of rows sent
      -> swap_indexes(live, build): atomic, searches never see a partial index
      -> delete the build index (now holding the old documents), releasing the lock

``in_place=True`` (small dev setups) rebuilds the live index itself: settings, delete
all documents, add, verify; searches see a partial index meanwhile.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django_deploykit.conf import conf
from django_deploykit.exceptions import DeployKitError
from django_deploykit.search import lock
from django_deploykit.search.client import (
    SearchClient,
    SearchError,
    TaskFailed,
    VerificationFailed,
)
from django_deploykit.search.documents import iter_batches
from django_deploykit.search.drift import SettingDiff, index_drift
from django_deploykit.search.indexes import SearchIndex

__all__ = ["Plan", "Progress", "RebuildResult", "ShrinkRefused", "check_shrink", "plan", "rebuild"]


@dataclass
class Progress:
    index: str
    done: int
    total: int
    elapsed: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        if not self.rate or self.total <= self.done:
            return None
        return (self.total - self.done) / self.rate


@dataclass
class RebuildResult:
    index: str
    uid: str
    mode: str
    documents: int = 0
    batches: int = 0
    seconds: float = 0.0
    swapped: bool = False

    @property
    def docs_per_second(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "docs_per_second": round(self.docs_per_second, 1)}


@dataclass
class Plan:
    index: str
    uid: str
    model: str
    rows: int
    primary_key: str
    fields: list[str]
    sample: dict[str, Any] | None
    live_exists: bool
    settings_diff: list[SettingDiff] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["settings_diff"] = [d.as_dict() for d in self.settings_diff]
        return data


def _quiet(_: Any) -> None:
    pass


def plan(index: SearchIndex, client: SearchClient) -> Plan:
    """What a rebuild would send, and how the live settings differ; changes nothing."""
    index.validate()
    queryset = index.get_queryset()
    first = queryset.order_by("pk").first()
    sample = index.to_document(first) if first is not None else None
    exists, diff = index_drift(client, index)
    return Plan(
        index=index.name,
        uid=index.uid,
        model=queryset.model._meta.label,
        rows=queryset.count(),
        primary_key=index.primary_key,
        fields=list(sample or index.fields),
        sample=sample,
        live_exists=exists,
        settings_diff=diff,
    )


class SwapUnconfirmed(SearchError):
    """The swap was enqueued but its outcome could not be read: the live index may
    already hold the new documents, so nothing is rolled back."""


class ShrinkRefused(SearchError):
    """The rebuild would leave the live index empty or much smaller (exit code 1)."""


def check_shrink(client: SearchClient, index: SearchIndex, documents: int, allow: bool) -> None:
    """Refuse to replace a live index by one with no or far fewer documents.

    An empty or small source is more often a mistake (the wrong database after a
    copy, a bad filter in get_queryset) than the truth; the live index is the only
    copy of the search data, so replacing it needs an explicit ``--allow-shrink``.
    """
    if allow or client.index_info(index.uid) is None:
        return
    live = client.call(client.index(index.uid).get_stats).number_of_documents
    max_shrink = conf.SEARCH_MAX_SHRINK
    if live and (documents == 0 or documents < live * (1 - max_shrink)):
        raise ShrinkRefused(
            f"Refusing to replace {index.uid!r}, which holds {live} documents, by "
            f"{documents} documents ({1 - documents / live:.0%} fewer; "
            f"DEPLOYKIT_SEARCH_MAX_SHRINK allows {max_shrink:.0%}). The live index was not "
            "changed. Check that the database and get_queryset() are the right ones; if "
            "the shrink is intended, run again with --allow-shrink (or raise "
            "DEPLOYKIT_SEARCH_MAX_SHRINK)."
        )


def rebuild(
    index: SearchIndex,
    client: SearchClient,
    *,
    batch_size: int,
    in_place: bool = False,
    allow_shrink: bool = False,
    on_progress: Callable[[Progress], None] = _quiet,
    on_message: Callable[[str], None] = _quiet,
) -> RebuildResult:
    """Rebuild ``index``; raise TaskFailed/VerificationFailed/RebuildLocked/ShrinkRefused."""
    index.validate()
    result = RebuildResult(index.name, index.uid, "in-place" if in_place else "swap")
    started = time.monotonic()
    lock_uid = index.rebuild_uid
    # Checked first from the row count (cheap, nothing built), again before the swap.
    total = index.get_queryset().count()
    check_shrink(client, index, total, allow_shrink)
    lock.acquire(client, index.uid, lock_uid, index.primary_key, on_message)
    created_live = swap_enqueued = False
    try:
        target = index.uid if in_place else lock_uid
        if in_place and client.index_info(index.uid) is None:
            client.run(
                client.client.create_index,
                index.uid,
                {"primaryKey": index.primary_key},
                context=f"creating {index.uid}",
            )
        build = client.index(target)
        if index.settings:
            on_message(f"applying settings to {target!r}")
            client.run(
                build.update_settings,
                dict(index.settings),
                context=f"settings of {target}",
                on_heartbeat=on_message,
            )
        if in_place:
            client.run(
                build.delete_all_documents, context=f"emptying {target}", on_heartbeat=on_message
            )
        on_progress(Progress(index.name, 0, total, 0.0))
        pending: deque[tuple[int, str]] = deque()
        for batch in iter_batches(index, batch_size, conf.SEARCH_BATCH_BYTES):
            info = client.add_documents(target, batch.payload, index.primary_key)
            pending.append((info.task_uid, f"{target} {batch.describe()}"))
            result.documents += batch.count
            result.batches += 1
            if in_place:
                lock.heartbeat(client, lock_uid, index.primary_key)
            _check_finished(client, pending)
            on_progress(
                Progress(
                    index.name,
                    result.documents,
                    max(total, result.documents),
                    time.monotonic() - started,
                )
            )
        while pending:  # tasks run in order; each is checked, none is assumed
            client.wait(*pending.popleft(), on_heartbeat=on_message)
        _verify(client, target, result.documents, in_place)
        if not in_place:
            check_shrink(client, index, result.documents, allow_shrink)
            if client.index_info(index.uid) is None:
                client.run(
                    client.client.create_index,
                    index.uid,
                    {"primaryKey": index.primary_key},
                    context=f"creating {index.uid}",
                )
                created_live = True  # an empty placeholder until the swap
            info = client.call(client.client.swap_indexes, [{"indexes": [index.uid, lock_uid]}])
            swap_enqueued = True
            _wait_swap(client, info.task_uid, f"swapping {lock_uid} into {index.uid}", on_message)
            result.swapped = True
            on_message(f"swapped the new index into {index.uid!r}")
    finally:
        # Before a swap this drops the partial build; after it, the old documents.
        lock.release(client, lock_uid, on_message)
        # An enqueued swap may have happened: the "placeholder" may be the new index.
        if created_live and not result.swapped and not swap_enqueued:
            _drop_placeholder(client, index.uid, on_message)
    result.seconds = time.monotonic() - started
    on_progress(Progress(index.name, result.documents, result.documents, result.seconds))
    return result


def _wait_swap(
    client: SearchClient, task_uid: int, context: str, on_message: Callable[[str], None]
) -> None:
    """Wait for the swap; a failed swap is TaskFailed (nothing changed), any other
    failure leaves its outcome unknown (SwapUnconfirmed)."""
    try:
        client.wait(task_uid, context, on_message)
    except TaskFailed:
        raise
    except DeployKitError as exc:
        hint = ""
        if "task_not_found" in str(exc):
            # index-scheduler hides tasks of no single index (indexSwap) from a key
            # whose `indexes` are a list: such a key can swap but never see the swap.
            hint = (
                " The API key is limited to a list of indexes, and Meilisearch hides the "
                'swap task from such keys: use a key whose indexes are ["*"] (the app '
                "key search-init creates has them)."
            )
        raise SwapUnconfirmed(
            f"{exc} The swap (task {task_uid}) was enqueued but its outcome is unknown: "
            f"the live index may already hold the new documents.{hint}"
        ) from exc


def _drop_placeholder(client: SearchClient, uid: str, on_message: Callable[[str], None]) -> None:
    """Delete the empty live index this run created for a swap that did not happen."""
    try:
        client.run(client.client.delete_index, uid, context=f"deleting {uid}")
    except Exception as exc:  # never hide the rebuild's own outcome behind this
        on_message(f"could not delete the empty index {uid!r} created for the swap ({exc})")


def _check_finished(client: SearchClient, pending: deque[tuple[int, str]]) -> None:
    """Drop finished tasks from the front, raising at once if one failed."""
    while pending:
        task = client.get_task(pending[0][0])
        if task.status in ("enqueued", "processing"):
            return
        client.wait(*pending.popleft())  # finished: raises TaskFailed unless it succeeded


def _verify(client: SearchClient, uid: str, sent: int, in_place: bool) -> None:
    stats = client.call(client.index(uid).get_stats)
    if stats.number_of_documents != sent:
        outcome = "" if in_place else "; the live index was not replaced"
        raise VerificationFailed(
            f"Verification failed: {uid!r} holds {stats.number_of_documents} documents but "
            f"{sent} rows were sent{outcome}. Several rows probably share a primary-key "
            "value: make the declared primary key unique."
        )
