"""Replace the app containers one at a time, waiting for each to be healthy; roll back if not.

Start-first: compose scales the service up by one (the new container runs the
image the moving tag now names), the new container must become healthy, then
nginx is told to send requests only to the containers that stay (``proxies``)
and its old workers finish the requests they hold; only then is the old
container stopped gracefully (gunicorn finishes whatever it still has) and
removed. Repeat per old container; at the end nginx resolves ``web`` again.
A service that publishes a fixed host port cannot have two containers, and beat
must never run twice: those are replaced stop-first, with a short gap (said so
in the output).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from django_deploykit.deploy import proxies
from django_deploykit.deploy.images import revision_of, tag_image
from django_deploykit.deploy.steps import StepFailed
from django_deploykit.deploy.target import Target

# docker.errors is imported where it is caught: the SDK is the deploy extra, and
# Target.client has imported it (engine.client) before any SDK call.
__all__ = ["Unhealthy", "check", "reload_proxies", "roll", "switch", "wait_healthy"]

STOP_TIMEOUT = 30
_STOP_FIRST = {"beat"}
#: The services nginx proxies to.
PROXIED = {"web"}


class Unhealthy(StepFailed):
    pass


def wait_healthy(container: Any, timeout: float) -> tuple[bool, str]:
    """(healthy?, why): healthy, unhealthy, exited, restarting, or timed out."""
    from docker.errors import NotFound

    deadline = time.monotonic() + timeout
    running_since: float | None = None
    while True:
        try:
            container.reload()
        except NotFound:
            return False, "it was removed"
        state = container.attrs.get("State", {})
        if state.get("Status") in ("exited", "dead") or container.attrs.get("RestartCount", 0):
            # A restarted container's State says 0 again: the engine's events keep the code.
            code = _exit_code(container) if container.attrs.get("RestartCount", 0) else None
            code = state.get("ExitCode") if code is None else code
            return False, f"its process exited (code {code}) and it keeps restarting"
        health = state.get("Health")
        if health is None:
            # No healthcheck: the best available sign is staying up for a few seconds.
            running_since = running_since or time.monotonic()
            if time.monotonic() - running_since >= 3:
                return True, "running (no healthcheck defined)"
        elif health.get("Status") == "healthy":
            return True, "healthy"
        elif health.get("Status") == "unhealthy":
            log = (health.get("Log") or [{}])[-1].get("Output", "").strip()
            return False, f"unhealthy ({log[:200] or 'healthcheck failed'})"
        if time.monotonic() >= deadline:
            return False, f"not healthy after {timeout:.0f}s"
        time.sleep(0.5)


def _exit_code(container: Any) -> int | None:
    """The exit code of the container's first exit (from the engine's ``die`` events)."""
    from docker.errors import APIError

    created = container.attrs.get("Created", "")
    try:
        since = dt.datetime.fromisoformat(created[:19]).replace(tzinfo=dt.timezone.utc)
        events = container.client.events(
            since=int(since.timestamp()),
            until=int(time.time()) + 1,
            filters={"container": container.id, "event": "die"},
            decode=True,
        )
        for event in events:
            return int(event["Actor"]["Attributes"]["exitCode"])
    except (APIError, KeyError, ValueError):
        pass
    return None


#: The line that ends a Python traceback (``RuntimeError: boom``).
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b")
#: A line a server logged as an error (gunicorn: ``[ERROR]``).
_LOGGED = re.compile(r"\[(?:ERROR|CRITICAL)\]|\b(?:ERROR|CRITICAL|FATAL)\b")


def first_error(logs: str, context: int = 6) -> str:
    """The first exception in ``logs`` with the traceback lines above it; else the first
    line logged as an error; else "".
    """
    lines = logs.splitlines()
    for i, line in enumerate(lines):
        if _EXCEPTION.match(line):
            start = i
            while start > 0 and i - start < context and lines[start - 1].startswith(" "):
                start -= 1
            return "\n".join(lines[start : i + 1])
    return next((line for line in lines if _LOGGED.search(line)), "")


def reload_proxies(target: Target) -> None:
    """Make nginx re-resolve ``web`` (its upstream is resolved when the config loads)."""
    proxies.reload_all(target)


def _up(target: Target, service: str, count: int) -> list[Any]:
    before = {c.id for c in target.containers(service, all=True)}
    target.compose.run(
        "up", "--detach", "--no-deps", "--no-recreate", "--scale", f"{service}={count}", service
    )
    return [c for c in target.containers(service, all=True) if c.id not in before]


def _remove(container: Any, timeout: int = STOP_TIMEOUT) -> None:
    from docker.errors import NotFound

    try:
        container.stop(timeout=timeout)
        container.remove()
    except NotFound:
        pass


def check(target: Target, service: str, new: list[Any]) -> None:
    from docker.errors import APIError, NotFound

    for container in new:
        target.out(f"      waiting for {container.name} to become healthy…")
        ok, why = wait_healthy(container, target.health_timeout)
        if not ok:
            try:
                logs = container.logs().decode("utf-8", "replace")
            except (APIError, NotFound):
                logs = ""
            error = first_error(logs)
            last = "\n".join(logs.rstrip().splitlines()[-10:])
            shown = f"The first error it logged:\n{error}\n" if error else ""
            if last and last not in shown:
                shown += f"Its last log lines:\n{last}\n"
            raise Unhealthy(
                f"the new {service} container never became healthy: {why}.",
                container=container.name,
                hint=shown + "Fix the cause, commit, and deploy again.",
            )
        target.out(f"      {container.name}: {why}")


def roll(target: Target, service: str) -> None:
    """Replace every container of ``service`` by one running the moving tag's image."""
    old = target.containers(service)
    if not old:
        check(target, service, _up(target, service, 1))
        reload_proxies(target)
        return
    count = len(old)
    stop_first = service in _STOP_FIRST or target.stack.fixed_host_port(service)
    if stop_first and service not in _STOP_FIRST:
        target.out(
            f"      note: {service} publishes a fixed host port, so it is replaced "
            "stop-first (a few seconds without it); put nginx in front "
            "(dockerize --nginx) for zero-downtime deploys."
        )
    for container in old:
        if stop_first:
            target.out(f"      stopping {container.name}")
            _remove(container)
            check(target, service, _up(target, service, count))
            reload_proxies(target)
            continue
        new = _up(target, service, count + 1)
        check(target, service, new)
        if service in PROXIED:
            staying = [c for c in target.containers(service) if c.id != container.id]
            drained = proxies.drain_to(target, staying)
            if drained == "drained":
                target.out(f"      nginx drained {container.name}: it takes no new request")
            elif drained == "legacy":
                target.out(
                    "      warning: the nginx config predates draining (no include of "
                    f"{proxies.LIVE_DIR}): re-run `manage.py dockerize --nginx` so that "
                    "no request is dropped while a container stops"
                )
        target.out(f"      stopping {container.name} (it finishes its requests first)")
        _remove(container)
        if service in PROXIED:
            proxies.drain_to(target, None)


def switch(target: Target, new_image: Any, old_image: Any | None) -> None:
    """Point the moving tag at ``new_image`` and roll every app service; roll back on failure."""
    stack = target.stack
    original = {s: {c.id for c in target.containers(s)} for s in stack.app_services}
    tag_image(new_image, stack.app_image)
    try:
        for service in stack.app_services:
            target.out(f"      replacing {service}")
            roll(target, service)
    except (StepFailed, KeyboardInterrupt) as exc:
        if old_image is None:
            for service in stack.app_services:
                for c in target.containers(service, all=True):
                    _remove(c, timeout=5)
            raise StepFailed(
                f"{exc}", hint="This was the first deploy, so there is nothing to roll back to."
            ) from exc
        target.out(f"      rolling back to the previous image ({revision_of(target, old_image)})")
        tag_image(old_image, stack.app_image)
        for service in stack.app_services:
            _restore(target, service, original[service], old_image)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise Unhealthy(
            exc.args[0] if exc.args else str(exc),
            container=getattr(exc, "container", None),
            hint=(
                getattr(exc, "hint", "") + "\nRolled back: the previous version is serving. "
                "Migrations the new code applied stay applied (they must be backwards "
                "compatible)."
            ),
        ) from exc


def _restore(target: Target, service: str, original: set[str], old_image: Any) -> None:
    current = target.containers(service, all=True)
    kept = [c for c in current if c.id in original and c.status == "running"]
    if kept and all(c.image.id == old_image.id for c in kept):
        if service in PROXIED:
            proxies.drain_to(target, kept)  # the new ones leave nginx before they stop
        for c in current:
            if c.id not in original:
                _remove(c, timeout=10)
        if service in PROXIED:
            proxies.drain_to(target, None)
        return
    for c in current:
        if c.id not in original and c.status != "running":
            _remove(c, timeout=5)
    roll(target, service)
