"""Readiness marks for the Celery healthchecks of the generated stack.

The entrypoint's ``worker-health`` and ``beat-health`` roles cannot ask beat anything
(it has no remote control) and asking a worker costs a Python start plus an import of
the app. So the processes say it themselves: Celery's ``worker_ready`` (the worker's
consumer is connected to the broker) and ``beat_init`` (beat has built its scheduler:
the schedule file is open, or django_celery_beat's ``DatabaseScheduler`` has read its
entries from the database) each write a file in the container's ``/tmp``. A
healthcheck testing for a file costs no Python at all, so it can run often while the
stack starts. Outside a container nothing is written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django_deploykit.env.container import in_container

__all__ = ["BEAT_READY_FILE", "WORKER_READY_FILE", "connect"]

#: Written when the worker is ready to take tasks.
WORKER_READY_FILE = "/tmp/deploykit-worker-ready"
#: Written when beat has loaded its schedule (file or database scheduler).
BEAT_READY_FILE = "/tmp/deploykit-beat-ready"


def _marker(path: str) -> Callable[..., None]:
    def mark(**_kwargs: Any) -> None:
        # A read-only /tmp only costs the fast healthcheck, never the process.
        with contextlib.suppress(OSError):
            Path(path).touch()

    return mark


def connect() -> None:
    """Connect the marks to Celery's signals (no-op without Celery or a container)."""
    if not in_container():
        return
    try:
        from celery import signals
    except ImportError:
        return
    # weak=False: the closures would otherwise be collected at once.
    signals.worker_ready.connect(_marker(WORKER_READY_FILE), weak=False)
    signals.beat_init.connect(_marker(BEAT_READY_FILE), weak=False)
