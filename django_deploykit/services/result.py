"""The result every service probe returns, and the stable reason codes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["PERMANENT", "REASONS", "ProbeResult", "timed"]

#: Public reason codes: safe to publish (no host, user or driver text), stable across
#: releases, documented in docs/health.rst.
REASONS: dict[str, str] = {
    "ok": "the service answered a real request",
    "timeout": "no answer within the connect/request timeout",
    "refused": "nothing listens on the configured host and port",
    "dns": "the host name does not resolve (yet)",
    "starting": "the server is up but still starting or shutting down",
    "busy": "the server refuses more connections (too many clients)",
    "unavailable": "the server answered that it is not available",
    "auth": "the server rejected the configured user or password",
    "unknown_db": "the configured database does not exist",
    "missing_driver": "the driver of this database or cache (or the search client) is missing",
    "misconfigured": "the settings of this service are incomplete or malformed",
    "migrations": "migrations on disk are not applied to the database",
    "missing_index": "a declared search index does not exist on the search server",
    "failed": "a check reported failure",
    "unknown": "an unexpected error (details only for authorised callers)",
}

#: Reasons that retrying cannot fix: ``wait_for_db`` stops at once on these.
PERMANENT = frozenset({"auth", "unknown_db", "missing_driver", "misconfigured"})


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one probe. ``detail`` is private: never put it in a public body."""

    name: str
    reason: str
    detail: str = ""
    duration_ms: float = 0.0
    #: Small facts a caller may use (e.g. server version); private like ``detail``.
    info: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reason == "ok"

    @property
    def permanent(self) -> bool:
        return self.reason in PERMANENT


def timed(name: str, func: Callable[[], tuple[str, str]]) -> ProbeResult:
    """Run ``func`` (returning ``(reason, detail)``) and time it."""
    started = time.perf_counter()
    reason, detail = func()
    return ProbeResult(name, reason, detail, (time.perf_counter() - started) * 1000)
