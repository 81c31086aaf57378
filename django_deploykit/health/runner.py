"""Run a tier's checks concurrently under a deadline, with a result cache and single-flight.

* Each check runs in a small per-process thread pool; the response waits at most
  ``DEPLOYKIT_HEALTH_DEADLINE`` and reports unfinished checks as ``timeout``.
* A check that is still running (a hung server, bounded by the driver's own
  connect timeout) is never started a second time: later probes wait on the
  same run. Threads and connections therefore stay bounded by the number of
  checks, whatever the probe rate.
* A finished result is reused for ``DEPLOYKIT_HEALTH_CACHE_SECONDS``.
* Worker threads close their Django connections after every check, so a
  custom check that uses ``connections[...]`` leaves nothing open.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial

from django.db import connections

from django_deploykit.conf import conf
from django_deploykit.health.checks import Check, load_checks
from django_deploykit.services.result import ProbeResult

__all__ = ["Report", "Runner", "run_tier", "runner"]

MAX_WORKERS = 16


@dataclass
class Report:
    tier: str
    results: list[ProbeResult]
    checked_at: datetime
    #: Age in ms of each result that came from the cache.
    ages_ms: dict[str, float] = field(default_factory=dict)
    #: Keys of the optional checks: their failure degrades, it does not fail the tier.
    optional: frozenset[str] = frozenset()

    @property
    def healthy(self) -> bool:
        return all(r.ok for r in self.results if r.name not in self.optional)

    @property
    def degraded(self) -> list[ProbeResult]:
        """Failing optional checks (the site serves, with less)."""
        return [r for r in self.results if not r.ok and r.name in self.optional]


class Runner:
    def __init__(self) -> None:
        # Reentrant: a future that is already done runs its callback in the submitting thread.
        self._lock = threading.RLock()
        self._pid = -1
        self._executor: ThreadPoolExecutor | None = None
        self._inflight: dict[str, Future[ProbeResult]] = {}
        self._finished: dict[str, tuple[ProbeResult, float]] = {}
        #: Number of check runs started (benchmarks and tests read it).
        self.started = 0

    def _pool(self) -> ThreadPoolExecutor:
        # Gunicorn forks workers after import: a pool from the parent has no threads.
        if self._executor is None or self._pid != os.getpid():
            self._executor = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="deploykit-health")
            self._pid = os.getpid()
            self._inflight.clear()
            self._finished.clear()
        return self._executor

    def reset(self) -> None:
        with self._lock:
            self._inflight.clear()
            self._finished.clear()

    def run(self, tier: str, checks: list[Check], deadline: float, ttl: float) -> Report:
        started = time.monotonic()
        futures: dict[str, Future[ProbeResult]] = {}
        cached: dict[str, ProbeResult] = {}
        ages: dict[str, float] = {}
        inline: list[Check] = []
        with self._lock:
            pool = self._pool()
            for check in checks:
                key = check.key
                previous = self._finished.get(key)
                if ttl > 0 and previous and started - previous[1] < ttl:
                    cached[key] = previous[0]
                    ages[key] = (started - previous[1]) * 1000
                    continue
                future = self._inflight.get(key)
                if future is None:
                    try:
                        future = pool.submit(self._call, check, deadline)
                    except RuntimeError:
                        # The interpreter is exiting (runserver's reloader restarting it, a
                        # server stopping) and its pools take no more work, while a server
                        # thread still answers: this request runs the check itself.
                        inline.append(check)
                        continue
                    self._inflight[key] = future
                    self.started += 1
                    future.add_done_callback(partial(self._done, key))
                futures[key] = future
        for check in inline:
            cached[check.key] = self._call(check, deadline)
        if futures:
            wait(futures.values(), timeout=max(0.0, deadline - (time.monotonic() - started)))
        results = []
        for check in checks:
            key = check.key
            if key in cached:
                results.append(cached[key])
                continue
            future = futures[key]
            if future.done():
                results.append(future.result())
            else:
                waited = (time.monotonic() - started) * 1000
                results.append(ProbeResult(key, "timeout", "no result within the deadline", waited))
        optional = frozenset(check.key for check in checks if not check.required)
        return Report(tier, results, datetime.now(timezone.utc), ages, optional)

    def _done(self, key: str, future: Future[ProbeResult]) -> None:
        with self._lock:
            if self._inflight.get(key) is future:
                del self._inflight[key]
                self._finished[key] = (future.result(), time.monotonic())

    @staticmethod
    def _call(check: Check, timeout: float) -> ProbeResult:
        try:
            return check.run(timeout)
        except Exception as exc:  # Check.run catches; a custom run() might not
            return ProbeResult(check.key, "unknown", f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()


runner = Runner()


def run_tier(tier: str, *, ttl: float | None = None, deadline: float | None = None) -> Report:
    """Run the checks of ``tier`` (``live`` runs none unless a check opts in)."""
    checks = load_checks(tier)
    return runner.run(
        tier,
        checks,
        conf.HEALTH_DEADLINE if deadline is None else deadline,
        conf.HEALTH_CACHE_SECONDS if ttl is None else ttl,
    )
