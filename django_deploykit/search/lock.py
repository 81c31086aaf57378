"""One rebuild per index at a time, without any storage but Meilisearch itself.

The rebuild index ``<uid>__rebuild`` is the lock: creating an index is a task,
tasks run one after another, so of two rebuilds that start together exactly one
creates it and the other's task fails with ``index_already_exists``. That index
is also what an interrupted rebuild leaves behind; it counts as abandoned (and
is deleted) when no task on it is pending and none succeeded within
``DEPLOYKIT_SEARCH_LOCK_TIMEOUT`` seconds, measured on the server's clock. A live
rebuild keeps it busy: every batch it sends is a task on it (an ``--in-place``
rebuild adds a small heartbeat document there instead).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django_deploykit.conf import conf
from django_deploykit.search.client import RebuildLocked, SearchClient, TaskFailed

__all__ = ["acquire", "heartbeat", "release"]

HEARTBEAT_ID = "deploykit-rebuild-lock"


def acquire(
    client: SearchClient,
    uid: str,
    lock_uid: str,
    primary_key: str,
    on_message: Callable[[str], None],
) -> None:
    """Create ``lock_uid`` or raise RebuildLocked; clean an abandoned leftover first."""
    for attempt in (1, 2):
        info = client.call(client.client.create_index, lock_uid, {"primaryKey": primary_key})
        try:
            client.wait(info.task_uid, f"creating {lock_uid}")
            return
        except TaskFailed as exc:
            if exc.code != "index_already_exists":
                raise
            failed = client.get_task(info.task_uid)
        age = _idle_seconds(client, lock_uid, failed)
        timeout = conf.SEARCH_LOCK_TIMEOUT
        if attempt == 2 or age is None or age < timeout:
            since = "has tasks in progress" if age is None else f"was last written {age:.0f} s ago"
            raise RebuildLocked(
                f"Another rebuild of {uid!r} is running: its index {lock_uid!r} {since}. "
                f"Wait for it to finish; an interrupted rebuild's leftover is cleaned "
                f"automatically once idle for {timeout:g} s (DEPLOYKIT_SEARCH_LOCK_TIMEOUT), "
                f"or delete the index {lock_uid!r} yourself if you are sure no rebuild runs."
            )
        on_message(
            f"deleting {lock_uid!r}, left over by an interrupted rebuild (idle for {age:.0f} s)"
        )
        client.run(client.client.delete_index, lock_uid, context=f"deleting leftover {lock_uid}")


def _idle_seconds(client: SearchClient, lock_uid: str, probe: Any) -> float | None:
    """Seconds since the lock index's holder last did anything; None if it is busy."""
    # Failed tasks are left out: a refused rival's own create attempts are failures.
    tasks = client.latest_tasks(lock_uid, ["enqueued", "processing", "succeeded"])
    if not tasks:
        return float("inf")  # created by something else long ago, e.g. a task-less dump
    latest = tasks[0]
    if latest.status != "succeeded" or latest.uid > probe.uid:
        return None
    # Both datetimes come from the server, so clock skew with this host does not matter.
    return (probe.finished_at - (latest.finished_at or latest.enqueued_at)).total_seconds()


def heartbeat(client: SearchClient, lock_uid: str, primary_key: str) -> None:
    """Mark the lock index busy (used by --in-place, whose batches go elsewhere)."""
    client.call(
        client.index(lock_uid).add_documents,
        [{primary_key: HEARTBEAT_ID, "at": time.time()}],
    )


def release(client: SearchClient, lock_uid: str, on_message: Callable[[str], None]) -> None:
    """Delete the lock index; a failure only leaves a leftover the next run cleans."""
    try:
        # Queued behind the run's own tasks: a real server may take a while, so beat.
        client.run(
            client.client.delete_index,
            lock_uid,
            context=f"deleting {lock_uid}",
            on_heartbeat=on_message,
        )
    except Exception as exc:  # never hide the rebuild's own outcome behind this
        on_message(f"could not delete {lock_uid!r} ({exc}); the next run cleans it up")
