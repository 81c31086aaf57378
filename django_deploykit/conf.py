"""deploykit's own Django settings, read lazily so ``override_settings`` works.

Every setting is flat (``DEPLOYKIT_<NAME>``), declared once in ``SETTINGS``
(type, default, meaning: the docs' settings table is generated from it) and
read through a typed property of ``conf``. Nothing here reads settings at
import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings

__all__ = ["SETTINGS", "Setting", "conf"]


@dataclass(frozen=True)
class Setting:
    name: str
    types: tuple[type, ...]
    default: Any
    doc: str

    @property
    def type_name(self) -> str:
        return " or ".join("None" if t is type(None) else t.__name__ for t in self.types)


_NONE = type(None)

SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "DEPLOYKIT_MEILISEARCH_URL",
            (str, _NONE),
            None,
            "Base URL of the Meilisearch server; ``None`` disables search features. "
            "The env helper sets it from ``MEILISEARCH_URL``.",
        ),
        Setting(
            "DEPLOYKIT_MEILISEARCH_MASTER_KEY",
            (str, _NONE),
            None,
            "Meilisearch's master key (or an admin key). Used by the app only when "
            "``DEPLOYKIT_MEILISEARCH_API_KEY`` is unset (setups from before the app's own "
            "key); the generated stacks give it to no app container. Never printed.",
        ),
        Setting(
            "DEPLOYKIT_MEILISEARCH_API_KEY",
            (str, _NONE),
            None,
            "The key the app sends to Meilisearch as a bearer token: the app's own key, "
            "limited to the actions deploykit calls (see :doc:`/search`). ``None`` sends "
            "``DEPLOYKIT_MEILISEARCH_MASTER_KEY`` instead. Never printed.",
        ),
        Setting(
            "DEPLOYKIT_MEILISEARCH_INDEX_PREFIX",
            (str,),
            "",
            "Prefix put before every index name, so several sites or stages can share one server.",
        ),
        Setting(
            "DEPLOYKIT_MEILISEARCH_TIMEOUT",
            (int, float),
            10,
            "HTTP timeout in seconds of every request to Meilisearch.",
        ),
        Setting(
            "DEPLOYKIT_SEARCH_QUERY_TIMEOUT",
            (int, float),
            1.5,
            "HTTP timeout in seconds of a search made while serving a page (``search_pks``, "
            "``search_page``): a hung Meilisearch costs a page at most this long before it "
            "falls back to the database.",
        ),
        Setting(
            "DEPLOYKIT_SEARCH_RETRY_SECONDS",
            (int, float),
            10,
            "After a search failed (timeout, unreachable, missing index), searches of that "
            "process fall back to the database at once for this many seconds instead of "
            "waiting on Meilisearch again; ``0`` retries on every search.",
        ),
        Setting(
            "DEPLOYKIT_SERVICE_TIMEOUT",
            (int, float),
            3,
            "Connect timeout in seconds of the probe connections opened to databases, "
            "caches and Meilisearch.",
        ),
        Setting(
            "DEPLOYKIT_SEARCH_INDEXES",
            (list, tuple, _NONE),
            None,
            "Dotted paths of the ``SearchIndex`` classes that ``reindex_search`` builds. "
            "``None`` collects every ``SearchIndex`` subclass defined in the "
            "``search_indexes`` module of each installed app.",
        ),
        Setting(
            "DEPLOYKIT_SEARCH_AUTO_UPDATE",
            (bool,),
            False,
            "Update the search indexes when an indexed model is saved or deleted (after "
            "the transaction commits). Failures are logged, never raised into the request.",
        ),
        Setting(
            "DEPLOYKIT_SEARCH_BATCH_SIZE",
            (int,),
            5000,
            "Rows read from the database and sent to Meilisearch per batch by "
            "``reindex_search`` (``--batch-size`` overrides it).",
        ),
        Setting(
            "DEPLOYKIT_SEARCH_BATCH_BYTES",
            (int,),
            10_000_000,
            "Largest JSON payload in bytes that ``reindex_search`` sends in one request: "
            "a batch ends at this size even before ``DEPLOYKIT_SEARCH_BATCH_SIZE`` rows. "
            "Keep it below the server's ``--http-payload-size-limit`` (100 MB by default).",
        ),
        Setting(
            "DEPLOYKIT_SEARCH_MAX_SHRINK",
            (int, float),
            0.5,
            "Largest share (0-1) of the live index's documents a rebuild may drop: a "
            "rebuild that would leave fewer documents (or none) stops with the live index "
            "untouched, unless ``reindex_search --allow-shrink`` is given. 1 allows any.",
        ),
        Setting(
            "DEPLOYKIT_SEARCH_LOCK_TIMEOUT",
            (int, float),
            300,
            "Seconds without any Meilisearch task on a rebuild's temporary index after "
            "which ``reindex_search`` treats it as the leftover of an interrupted run and "
            "deletes it, instead of refusing to start.",
        ),
        Setting(
            "DEPLOYKIT_SEARCH_TASK_TIMEOUT",
            (int, float, _NONE),
            None,
            "Longest wait in seconds for one Meilisearch task; ``None`` waits as long as "
            "the server keeps working (with a progress heartbeat).",
        ),
        Setting(
            "DEPLOYKIT_HEALTH_DEADLINE",
            (int, float),
            0.8,
            "Seconds within which a health response is sent even when a dependency hangs "
            "(checks still running are reported as ``timeout``). Keep it below the "
            "orchestrator's probe timeout (Kubernetes: 1 s).",
        ),
        Setting(
            "DEPLOYKIT_HEALTH_CACHE_SECONDS",
            (int, float),
            2,
            "Seconds a check's result is reused by later probes of the same process; "
            "``0`` runs the checks on every probe. Concurrent probes always share one run.",
        ),
        Setting(
            "DEPLOYKIT_HEALTH_TOKEN",
            (str, _NONE),
            None,
            "Bearer token (``Authorization: Bearer <token>``) that lets a caller see each "
            "check's private detail text. ``None``: nobody sees details over HTTP.",
        ),
        Setting(
            "DEPLOYKIT_HEALTH_CHECKS",
            (list, tuple, _NONE),
            None,
            "Dotted paths of the health check classes to run; ``None`` means the "
            "built-in database, cache, Meilisearch and migrations checks.",
        ),
        Setting(
            "DEPLOYKIT_HEALTH_PATH",
            (str,),
            "/health/",
            "URL prefix that ``HealthCheckMiddleware`` answers (``<prefix>``, "
            "``<prefix>live/``, ``<prefix>ready/``, ``<prefix>startup/``). Must match "
            "where ``django_deploykit.health.urls`` is included.",
        ),
        Setting(
            "DEPLOYKIT_BACKUP_KEEP",
            (int,),
            10,
            "How many database backups ``manage.py deploy`` keeps in the stack's backups "
            "volume (``backup``, and the automatic ones before ``db`` and ``restore``); "
            "older ones are pruned. ``--keep`` overrides it.",
        ),
        Setting(
            "DEPLOYKIT_DEPLOY_HEALTH_TIMEOUT",
            (int, float),
            120,
            "Seconds a new container gets to become healthy during ``manage.py deploy`` "
            "before it is rolled back. ``--health-timeout`` overrides it.",
        ),
    )
}


class _Conf:
    """Typed, lazy access to the ``DEPLOYKIT_*`` settings."""

    def get(self, name: str) -> Any:
        return getattr(django_settings, name, SETTINGS[name].default)

    @property
    def MEILISEARCH_URL(self) -> str | None:
        value: str | None = self.get("DEPLOYKIT_MEILISEARCH_URL")
        return value.rstrip("/") if value else None

    @property
    def MEILISEARCH_MASTER_KEY(self) -> str | None:
        value: str | None = self.get("DEPLOYKIT_MEILISEARCH_MASTER_KEY")
        return value

    @property
    def MEILISEARCH_API_KEY(self) -> str | None:
        """The key the app sends: its own key, else the master key (older setups)."""
        value: str | None = self.get("DEPLOYKIT_MEILISEARCH_API_KEY")
        return value or self.MEILISEARCH_MASTER_KEY

    @property
    def MEILISEARCH_INDEX_PREFIX(self) -> str:
        value: str = self.get("DEPLOYKIT_MEILISEARCH_INDEX_PREFIX")
        return value

    @property
    def MEILISEARCH_TIMEOUT(self) -> float:
        return float(self.get("DEPLOYKIT_MEILISEARCH_TIMEOUT"))

    @property
    def SEARCH_QUERY_TIMEOUT(self) -> float:
        return float(self.get("DEPLOYKIT_SEARCH_QUERY_TIMEOUT"))

    @property
    def SEARCH_RETRY_SECONDS(self) -> float:
        return float(self.get("DEPLOYKIT_SEARCH_RETRY_SECONDS"))

    @property
    def SERVICE_TIMEOUT(self) -> float:
        return float(self.get("DEPLOYKIT_SERVICE_TIMEOUT"))

    @property
    def SEARCH_INDEXES(self) -> list[str] | None:
        value = self.get("DEPLOYKIT_SEARCH_INDEXES")
        return None if value is None else list(value)

    @property
    def SEARCH_AUTO_UPDATE(self) -> bool:
        return bool(self.get("DEPLOYKIT_SEARCH_AUTO_UPDATE"))

    @property
    def SEARCH_BATCH_SIZE(self) -> int:
        return int(self.get("DEPLOYKIT_SEARCH_BATCH_SIZE"))

    @property
    def SEARCH_BATCH_BYTES(self) -> int:
        return int(self.get("DEPLOYKIT_SEARCH_BATCH_BYTES"))

    @property
    def SEARCH_MAX_SHRINK(self) -> float:
        return float(self.get("DEPLOYKIT_SEARCH_MAX_SHRINK"))

    @property
    def SEARCH_LOCK_TIMEOUT(self) -> float:
        return float(self.get("DEPLOYKIT_SEARCH_LOCK_TIMEOUT"))

    @property
    def SEARCH_TASK_TIMEOUT(self) -> float | None:
        value = self.get("DEPLOYKIT_SEARCH_TASK_TIMEOUT")
        return None if value is None else float(value)

    @property
    def HEALTH_DEADLINE(self) -> float:
        return float(self.get("DEPLOYKIT_HEALTH_DEADLINE"))

    @property
    def HEALTH_CACHE_SECONDS(self) -> float:
        return float(self.get("DEPLOYKIT_HEALTH_CACHE_SECONDS"))

    @property
    def HEALTH_TOKEN(self) -> str | None:
        value: str | None = self.get("DEPLOYKIT_HEALTH_TOKEN")
        return value or None

    @property
    def HEALTH_CHECKS(self) -> list[str] | None:
        value = self.get("DEPLOYKIT_HEALTH_CHECKS")
        return None if value is None else list(value)

    @property
    def BACKUP_KEEP(self) -> int:
        return int(self.get("DEPLOYKIT_BACKUP_KEEP"))

    @property
    def DEPLOY_HEALTH_TIMEOUT(self) -> float:
        return float(self.get("DEPLOYKIT_DEPLOY_HEALTH_TIMEOUT"))

    @property
    def HEALTH_PATH(self) -> str:
        value: str = self.get("DEPLOYKIT_HEALTH_PATH")
        return "/" + value.strip("/") + "/" if value.strip("/") else "/"


conf = _Conf()
