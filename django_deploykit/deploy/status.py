"""``deploy status`` (a table of services) and ``deploy logs`` (through the SDK)."""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Callable
from typing import Any

from django_deploykit.deploy import images
from django_deploykit.deploy.target import Target, engine_name
from django_deploykit.exceptions import ConfigError

__all__ = ["logs", "status_rows", "status_table"]

COLUMNS = ("SERVICE", "CONTAINER", "VERSION", "STATE", "HEALTH", "UP")


def _uptime(started: str, now: dt.datetime) -> str:
    if not started or started.startswith("0001"):
        return "-"
    head, _, frac = started.rstrip("Z").partition(".")
    when = dt.datetime.fromisoformat(head).replace(tzinfo=dt.timezone.utc)
    seconds = int((now - when).total_seconds())
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def status_rows(target: Target) -> list[tuple[str, ...]]:
    stack = target.stack
    now = dt.datetime.now(dt.timezone.utc)
    rows: list[tuple[str, ...]] = []
    for service in stack.services:
        containers = target.containers(service, all=True)
        if service in stack.oneshots:
            containers = containers[-1:]  # only the last run of a one-shot matters
        if not containers:
            state = "one-shot (runs at deploy)" if service in stack.oneshots else "not created"
            rows.append((service, "-", "-", state, "-", "-"))
            continue
        for c in containers:
            state = c.attrs.get("State", {})
            if service in stack.app_services or service in stack.oneshots:
                version = images.revision_of(target, c.image)
            else:
                version = str(c.attrs.get("Config", {}).get("Image", "?"))
            health = state.get("Health", {}).get("Status", "-")
            up = _uptime(state.get("StartedAt", ""), now) if state.get("Running") else "-"
            status = str(state.get("Status", "?"))
            if status == "exited":
                status = f"exited ({state.get('ExitCode')})"
            rows.append((service, c.name, version, status, health, up))
    return rows


def status_table(target: Target) -> list[str]:
    rows = [COLUMNS, *status_rows(target)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = [f"Project {target.project} on {engine_name()}:"]
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    previous = images.image_or_none(target, images.previous_tag(target))
    if previous is not None:
        lines.append(f"Previous version (deploy rollback): {images.revision_of(target, previous)}")
    return lines


def logs(
    target: Target,
    service: str | None,
    *,
    follow: bool,
    tail: int | None,
    out: Callable[[str], None],
) -> None:
    """Print the logs of ``service`` (or of every service), prefixed by container name."""
    stack = target.stack
    if service is not None and service not in stack.services:
        raise ConfigError(
            f"No service {service!r} in project {target.project}: use one of "
            f"{', '.join(stack.services)}."
        )
    services = [service] if service else list(stack.services)
    containers = [c for s in services for c in target.containers(s, all=True)]
    if not containers:
        out(f"No containers for {service or 'the project'} on {engine_name()}.")
        return
    width = max(len(c.name) for c in containers)
    kwargs: dict[str, Any] = {"tail": tail if tail is not None else "all"}
    if not follow:
        for c in containers:
            for line in c.logs(**kwargs).decode("utf-8", "replace").splitlines():
                out(f"{c.name.ljust(width)} | {line}")
        return
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(c: Any) -> None:
        pending = ""
        try:
            for chunk in c.logs(stream=True, follow=True, **kwargs):
                *done, pending = (pending + chunk.decode("utf-8", "replace")).split("\n")
                for line in done:
                    lines.put(f"{c.name.ljust(width)} | {line}")
        finally:
            lines.put(None)

    for c in containers:
        threading.Thread(target=pump, args=(c,), daemon=True).start()
    open_streams = len(containers)
    while open_streams:
        item = lines.get()
        if item is None:
            open_streams -= 1
        else:
            out(item)
