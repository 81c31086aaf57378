"""Health check classes: small, explicit, and easy to add to.

A check is a :class:`Check` subclass listed (by dotted path) in
``DEPLOYKIT_HEALTH_CHECKS``. Its ``instances()`` class method returns the
checks to run (``DatabaseCheck`` returns one per alias); ``tiers`` says which
endpoints run it. A project's own check implements ``check(timeout)``, which
returns normally when healthy and raises :class:`CheckFailed` (or anything)
when not::

    class QueueCheck(Check):
        name = "queue"

        def check(self, timeout: float) -> None:
            if backlog() > 10_000:
                raise CheckFailed("failed", "backlog above 10k")
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, ClassVar

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS
from django.db import DEFAULT_DB_ALIAS
from django.db.migrations.loader import MigrationLoader
from django.utils.module_loading import import_string

from django_deploykit.conf import conf
from django_deploykit.exceptions import ConfigError
from django_deploykit.extras import MissingExtra
from django_deploykit.health.tiers import TIERS
from django_deploykit.services.cache import probe_cache
from django_deploykit.services.db import classify, probe_connection, probe_database, scrub
from django_deploykit.services.result import ProbeResult
from django_deploykit.services.search import probe_meilisearch

__all__ = [
    "DEFAULT_CHECKS",
    "TIERS",
    "CacheCheck",
    "Check",
    "CheckFailed",
    "DatabaseCheck",
    "MigrationsCheck",
    "SearchCheck",
    "load_checks",
]


DEFAULT_CHECKS = [
    "django_deploykit.health.checks.DatabaseCheck",
    "django_deploykit.health.checks.CacheCheck",
    "django_deploykit.health.checks.SearchCheck",
    "django_deploykit.health.checks.MigrationsCheck",
]

_REASON = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class CheckFailed(Exception):
    """Raised by a check: ``reason`` is public (a short code), ``detail`` is private."""

    def __init__(self, reason: str = "failed", detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason if _REASON.match(reason) else "failed"
        self.detail = detail


class Check:
    #: Name in the JSON body; must be unique among the checks of a tier.
    name: ClassVar[str] = ""
    #: Endpoints that run this check. "live" must never do I/O.
    tiers: ClassVar[tuple[str, ...]] = ("ready",)
    #: False for an optional dependency the site degrades without (search): its
    #: failure is reported as "degraded" and never fails the probe.
    required: ClassVar[bool] = True

    @classmethod
    def instances(cls) -> list[Check]:
        """The checks this class contributes under the current settings."""
        return [cls()]

    @property
    def key(self) -> str:
        return self.name or type(self).__name__.lower()

    def check(self, timeout: float) -> None:
        """Return when healthy; raise CheckFailed (or anything) when not."""
        raise NotImplementedError

    def run(self, timeout: float) -> ProbeResult:
        started = time.perf_counter()
        try:
            self.check(timeout)
        except CheckFailed as exc:
            reason, detail = exc.reason, exc.detail
        except Exception as exc:  # a broken check is reported, never raised to the view
            reason, detail = "unknown", f"{type(exc).__name__}: {exc}"
        else:
            reason, detail = "ok", ""
        return ProbeResult(self.key, reason, detail, (time.perf_counter() - started) * 1000)


class DatabaseCheck(Check):
    """``SELECT 1`` on a probe-only connection to one ``DATABASES`` alias."""

    def __init__(self, alias: str = DEFAULT_DB_ALIAS) -> None:
        self.alias = alias

    @classmethod
    def instances(cls) -> list[Check]:
        return [
            cls(alias)
            for alias, config in settings.DATABASES.items()
            if config.get("ENGINE", "") != "django.db.backends.dummy"
        ]

    @property
    def key(self) -> str:
        return f"database:{self.alias}"

    def run(self, timeout: float) -> ProbeResult:
        return probe_database(self.alias, timeout)


class CacheCheck(Check):
    """Set and get a unique key in the default cache (probe-only client)."""

    def __init__(self, alias: str = DEFAULT_CACHE_ALIAS) -> None:
        self.alias = alias

    @classmethod
    def instances(cls) -> list[Check]:
        return [cls()] if DEFAULT_CACHE_ALIAS in getattr(settings, "CACHES", {}) else []

    @property
    def key(self) -> str:
        return f"cache:{self.alias}"

    def run(self, timeout: float) -> ProbeResult:
        return probe_cache(self.alias, timeout)


class SearchCheck(Check):
    """Meilisearch ``GET /health`` and every declared index exists.

    Optional: pages fall back to the database without search, so a failure is
    reported as degraded and the probe stays 200 (web keeps its traffic).
    """

    name = "search"
    required = False

    @classmethod
    def instances(cls) -> list[Check]:
        return [cls()] if conf.MEILISEARCH_URL else []

    def run(self, timeout: float) -> ProbeResult:
        result = probe_meilisearch(timeout=timeout)
        if not result.ok:
            return result
        from django_deploykit.search.query import missing_indexes

        started = time.perf_counter()
        try:
            missing = missing_indexes(timeout)
        except MissingExtra as exc:  # the server is up; this process cannot ask it
            reason, detail = "missing_driver", str(exc)
        except Exception as exc:  # reported like any failed probe, never raised
            reason, detail = "unavailable", f"{type(exc).__name__}: {exc}"
        else:
            reason, detail = ("missing_index", _missing_detail(missing)) if missing else ("ok", "")
        duration = result.duration_ms + (time.perf_counter() - started) * 1000
        return ProbeResult(self.key, reason, detail, duration)


def _missing_detail(uids: list[str]) -> str:
    return (
        f"index {', '.join(uids)} does not exist in Meilisearch (searches fall back to the "
        "database): run `manage.py reindex_search`"
    )


class MigrationsCheck(Check):
    """Every migration on disk is applied to the default database.

    The migration graph is read from disk once per process; each probe is one
    ``SELECT app, name FROM django_migrations``, and none at all once a probe
    has seen everything applied (a process never gets new migration files).
    """

    tiers = ("ready", "startup")
    _lock = threading.Lock()
    _expected: ClassVar[dict[str, tuple[frozenset[tuple[str, str]], dict[Any, frozenset]]]] = {}
    _applied: ClassVar[set[str]] = set()

    def __init__(self, alias: str = DEFAULT_DB_ALIAS) -> None:
        self.alias = alias

    @property
    def key(self) -> str:
        return "migrations" if self.alias == DEFAULT_DB_ALIAS else f"migrations:{self.alias}"

    @classmethod
    def reset(cls) -> None:
        """Forget what this process knows (tests; after loading new migration files)."""
        with cls._lock:
            cls._expected.clear()
            cls._applied.clear()

    def _graph(self) -> tuple[frozenset[tuple[str, str]], dict[Any, frozenset]]:
        with self._lock:
            if self.alias not in self._expected:
                # No connection: read files only; squashed migrations stay as replacements.
                loader = MigrationLoader(None, ignore_no_migrations=True)
                nodes = frozenset(loader.graph.nodes)
                replaces = {k: frozenset(m.replaces) for k, m in loader.replacements.items()}
                self._expected[self.alias] = (nodes, replaces)
            return self._expected[self.alias]

    def check(self, timeout: float) -> None:
        if self.alias in self._applied:
            return
        nodes, replaces = self._graph()
        try:
            with probe_connection(self.alias, timeout) as raw:
                cursor = raw.cursor()
                try:
                    cursor.execute("SELECT app, name FROM django_migrations")
                    applied = {(str(app), str(name)) for app, name in cursor.fetchall()}
                finally:
                    cursor.close()
        except Exception as exc:
            reason = classify(exc)
            if reason == "unknown" and "django_migrations" in str(exc):
                raise CheckFailed(
                    "migrations", "the django_migrations table does not exist"
                ) from exc
            config = settings.DATABASES.get(self.alias)
            raise CheckFailed(reason, scrub(f"{type(exc).__name__}: {exc}", config)) from exc
        pending = sorted(
            node
            for node in nodes
            if node not in applied and not (node in replaces and replaces[node] <= applied)
        )
        if pending:
            first = ", ".join(f"{app}.{name}" for app, name in pending[:3])
            raise CheckFailed("migrations", f"{len(pending)} unapplied, e.g. {first}")
        with self._lock:
            self._applied.add(self.alias)


def load_checks(tier: str) -> list[Check]:
    """The checks of ``tier`` from ``DEPLOYKIT_HEALTH_CHECKS``; ConfigError for bad entries."""
    checks: list[Check] = []
    for path in conf.HEALTH_CHECKS or DEFAULT_CHECKS:
        try:
            cls = import_string(path)
        except ImportError as exc:
            raise ConfigError(
                f"DEPLOYKIT_HEALTH_CHECKS: cannot import {path!r}: {exc}. "
                "List dotted paths of Check subclasses."
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, Check)):
            raise ConfigError(
                f"DEPLOYKIT_HEALTH_CHECKS: {path!r} is not a subclass of "
                "django_deploykit.health.checks.Check."
            )
        if tier in cls.tiers:
            checks.extend(cls.instances())
    return checks
