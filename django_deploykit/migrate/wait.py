"""Wait until the database schema matches the code: ``migrate --check`` until it passes.

Web, worker and beat run this before they start (a Kubernetes initContainer, or
``WAIT_FOR_MIGRATIONS=1`` in the entrypoint on Swarm), so new code never serves
on an old schema while the one migrate Job of the revision runs. Older code on a
newer schema passes (nothing is pending for it), so rollbacks are not blocked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from django_deploykit.exceptions import ServiceUnavailable

__all__ = ["WaitState", "pending_migrations", "wait_for_migrations"]


@dataclass(frozen=True)
class WaitState:
    elapsed: float
    #: Pending migrations as "app.name", or None when the database did not answer.
    pending: list[str] | None
    error: str = ""


def pending_migrations(alias: str = "default") -> list[str]:
    """Migrations of the code not yet applied to ``alias`` (what ``migrate --check`` sees)."""
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def wait_for_migrations(
    alias: str = "default",
    timeout: float = 300.0,
    interval: float = 2.0,
    on_attempt: Callable[[WaitState], None] | None = None,
) -> WaitState:
    """Poll until nothing is pending; raise ServiceUnavailable at the deadline."""
    start = time.monotonic()
    while True:
        elapsed = time.monotonic() - start
        try:
            pending: list[str] | None = pending_migrations(alias)
            error = ""
        except DatabaseError as exc:
            # Not reachable yet, or the migrations table is being created: retry.
            pending, error = None, type(exc).__name__
        finally:
            # A fresh connection per attempt: no stale transaction, no cached state.
            connections[alias].close()
        state = WaitState(elapsed, pending, error)
        if on_attempt:
            on_attempt(state)
        if pending == []:
            return state
        if elapsed + interval > timeout:
            what = (
                f"{len(pending)} migration(s) still pending ({', '.join(pending[:3])}"
                f"{'…' if len(pending) > 3 else ''})"
                if pending
                else f"the database did not answer ({error})"
            )
            raise ServiceUnavailable(
                f"Gave up after {timeout:g} s: {what}. Run the migrate job of this revision "
                "(or `manage.py migrate_locked`), or raise WAIT_FOR_MIGRATIONS_TIMEOUT."
            )
        time.sleep(interval)
