"""Tell nginx which web containers take requests, so one is drained before it stops.

nginx resolves ``web`` once, when its config loads, to every web container; it
cannot leave one out while it still runs. The generated config therefore
includes two files from ``/etc/nginx/deploykit/`` (a tmpfs) when they exist: an
``upstream django_live`` listing containers by name, and a ``set`` that sends
requests there. While ``deploy`` replaces web it writes them, reloads nginx (its
old workers finish the requests they hold, then exit) and only then stops the
old container; at the end it removes them, and ``web`` is resolved again.

A config generated before this existed has no such include: deploy then warns
and falls back to reloading after the old container stopped.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django_deploykit.deploy.target import Target

__all__ = ["LIVE_DIR", "Proxy", "drain_to", "proxies", "reload_all"]

LIVE_DIR = "/etc/nginx/deploykit"
#: Seconds the old nginx workers get to finish the requests they hold.
WORKERS_EXIT_TIMEOUT = 60
_PORT = re.compile(r"server\s+web:(\d+)")


@dataclass(frozen=True)
class Proxy:
    container: Any  # a docker Container running nginx
    #: The generated config includes LIVE_DIR (a config from before can only be reloaded).
    drains: bool
    #: The port nginx sends to on web.
    port: int


def proxies(target: Target) -> list[Proxy]:
    """The running nginx containers of the stack, with what their config supports."""
    found = []
    for service in target.stack.proxies:
        if "nginx" not in str(target.stack.services[service].get("image", "")):
            continue
        for container in target.containers(service):
            code, config = target.exec(container, ["nginx", "-T"], stream=False)
            drains = code == 0 and f"{LIVE_DIR}/" in config
            port = _PORT.search(config)
            found.append(Proxy(container, drains, int(port[1]) if port else 8000))
    return found


def _reload(target: Target, proxy: Proxy) -> None:
    code, output = target.exec(proxy.container, ["nginx", "-s", "reload"], stream=False)
    if code != 0:
        target.out(f"      warning: reloading {proxy.container.name} failed: {output[-200:]}")


def reload_all(target: Target) -> None:
    """Reload every nginx (it resolves ``web`` again); used when no container is drained."""
    for proxy in proxies(target):
        _reload(target, proxy)
    # nginx starts new workers with the new addresses; give them a moment.
    time.sleep(0.5)


def _shutting_down(target: Target, proxy: Proxy) -> int:
    """How many old nginx workers still finish requests (their title says so)."""
    code, output = target.exec(
        proxy.container,
        # "dow[n]": the pattern must not match this shell's and grep's own cmdline.
        ["sh", "-c", "grep -ls 'shutting dow[n]' /proc/[0-9]*/cmdline || true"],
        stream=False,
    )
    return len(output.split()) if code == 0 else 0


def drain_to(target: Target, live: Sequence[Any] | None) -> str:
    """Send requests to ``live`` containers only (None: back to every ``web``); wait for the
    old nginx workers to finish what they hold. "drained", "legacy" (a proxy's config
    cannot drain: it was only reloaded) or "none" (no nginx).
    """
    found = proxies(target)
    for proxy in found:
        if not proxy.drains:
            _reload(target, proxy)  # it resolves `web` again: at least it sees the new one
            continue
        if live is None:
            script = f"rm -f {LIVE_DIR}/upstream.conf {LIVE_DIR}/location.conf"
        else:
            servers = "".join(f"    server {c.name}:{proxy.port};\n" for c in live)
            upstream = f"upstream django_live {{\n{servers}    keepalive 16;\n}}\n"
            script = (
                f"mkdir -p {LIVE_DIR} && printf %s {shlex.quote(upstream)} > "
                f"{LIVE_DIR}/upstream.conf && printf %s {shlex.quote('set $django django_live;')}"
                f" > {LIVE_DIR}/location.conf"
            )
        code, output = target.exec(proxy.container, ["sh", "-c", script], stream=False)
        if code != 0:
            target.out(f"      warning: updating {proxy.container.name} failed: {output[-200:]}")
        _reload(target, proxy)
    deadline = time.monotonic() + WORKERS_EXIT_TIMEOUT
    time.sleep(0.3)
    for proxy in found:
        while _shutting_down(target, proxy) and time.monotonic() < deadline:
            time.sleep(0.3)
    if not found:
        return "none"
    return "drained" if all(p.drains for p in found) else "legacy"
