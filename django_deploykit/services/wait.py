"""Wait until databases (and optionally caches and Meilisearch) accept real requests.

Every target is probed in its own thread, so a hung host does not delay the
others. Transient reasons are retried with a short backoff (50 ms growing to
100 ms: a loopback or LAN probe costs milliseconds, and the wait must end within
~0.2 s of the last service coming up, process exit included);
permanent reasons (``auth``, ``unknown_db``, ``missing_driver``,
``misconfigured``) stop the wait at once. The overall timeout is kept by the
caller's thread, never by a probe, so it holds even for a black-holed host.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings

from django_deploykit.conf import conf
from django_deploykit.exceptions import ConfigError
from django_deploykit.services.cache import probe_cache
from django_deploykit.services.db import database_settings, probe_database
from django_deploykit.services.result import ProbeResult
from django_deploykit.services.search import probe_meilisearch

__all__ = ["HINTS", "Attempt", "Target", "WaitOutcome", "targets_from_settings", "wait_for"]

INITIAL_DELAY = 0.05
MAX_DELAY = 0.1

#: What to do about each permanent reason (one line, no secret).
HINTS = {
    "auth": "the server rejected the user or password: check USER/PASSWORD (DATABASE_URL)",
    "unknown_db": "the database does not exist: create it or fix NAME (DATABASE_URL)",
    "missing_driver": "the driver is not installed: pip install mysqlclient (MariaDB/MySQL) "
    "or 'psycopg[binary]' (PostgreSQL) or the cache client",
    "misconfigured": "the settings are incomplete or malformed",
}


@dataclass(frozen=True)
class Target:
    name: str
    #: Called with the attempt's timeout in seconds.
    probe: Callable[[float], ProbeResult]


@dataclass(frozen=True)
class Attempt:
    target: str
    number: int
    elapsed: float
    result: ProbeResult


@dataclass
class WaitOutcome:
    #: "ready", "timeout" or "misconfigured".
    status: str
    elapsed: float
    results: dict[str, ProbeResult] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return {"ready": 0, "timeout": 1}.get(self.status, 2)

    @property
    def failures(self) -> list[ProbeResult]:
        return [r for r in self.results.values() if not r.ok]


def targets_from_settings(
    databases: Iterable[str] | None = None, cache: bool = False, search: bool = False
) -> list[Target]:
    """The targets to wait for; raises ConfigError on unknown aliases or missing settings."""
    aliases = list(databases) if databases else list(settings.DATABASES)
    targets: list[Target] = []
    for alias in aliases:
        config = database_settings(alias)  # ConfigError for an unknown alias
        if config["ENGINE"] == "django.db.backends.dummy":
            continue
        targets.append(Target(f"database:{alias}", _db_probe(alias)))
    if cache:
        for alias in getattr(settings, "CACHES", {}):
            targets.append(Target(f"cache:{alias}", _cache_probe(alias)))
    if search:
        if not conf.MEILISEARCH_URL:
            raise ConfigError(
                "--search needs Meilisearch: set MEILISEARCH_URL (DEPLOYKIT_MEILISEARCH_URL)."
            )
        targets.append(Target("search", lambda t: probe_meilisearch(timeout=t)))
    if not targets:
        raise ConfigError("Nothing to wait for: no database, cache or search server is configured.")
    return targets


def _db_probe(alias: str) -> Callable[[float], ProbeResult]:
    return lambda timeout: probe_database(alias, timeout)


def _cache_probe(alias: str) -> Callable[[float], ProbeResult]:
    return lambda timeout: probe_cache(alias, timeout)


def wait_for(
    targets: list[Target],
    timeout: float = 60.0,
    attempt_timeout: float | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> WaitOutcome:
    """Probe every target until all are ok, one fails permanently, or ``timeout`` passes."""
    attempt_timeout = conf.SERVICE_TIMEOUT if attempt_timeout is None else attempt_timeout
    started = time.monotonic()
    deadline = started + timeout
    lock = threading.Lock()
    stop = threading.Event()
    finished = threading.Event()
    results: dict[str, ProbeResult] = {}
    state = {"status": "timeout"}

    def loop(target: Target) -> None:
        delay = INITIAL_DELAY
        number = 0
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            number += 1
            result = target.probe(max(0.1, min(attempt_timeout, remaining)))
            with lock:
                if stop.is_set():
                    return
                results[target.name] = result
                if on_attempt is not None:
                    on_attempt(Attempt(target.name, number, time.monotonic() - started, result))
                if result.permanent:
                    state["status"] = "misconfigured"
                    finished.set()
                    return
                if result.ok:
                    if all(r.ok for r in results.values()) and len(results) == len(targets):
                        state["status"] = "ready"
                        finished.set()
                    return
            # Jitter keeps many containers from probing a recovering server in lockstep.
            stop.wait(min(delay * random.uniform(0.8, 1.0), max(0.0, remaining)))
            delay = min(delay * 1.5, MAX_DELAY)

    threads = [
        threading.Thread(target=loop, args=(t,), name=f"wait:{t.name}", daemon=True)
        for t in targets
    ]
    for thread in threads:
        thread.start()
    finished.wait(max(0.0, deadline - time.monotonic()))
    with lock:
        stop.set()
        elapsed = time.monotonic() - started
        for target in targets:  # still in its first attempt: nothing answered at all
            results.setdefault(
                target.name,
                ProbeResult(target.name, "timeout", "no answer before the timeout", elapsed * 1000),
            )
        outcome = WaitOutcome(state["status"], elapsed, dict(results))
    # A probe still blocked in a driver ends within its own connect timeout; the
    # threads are daemons so that a command can exit now.
    return outcome
