"""Cache probe: set and get a unique key through a fresh backend instance.

A new backend object is built from ``CACHES[alias]`` with the client's own
connect/socket timeouts added, used once and closed, so a probe never shares
(or leaks into) the application's connection pools.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS
from django.db import connections
from django.utils.module_loading import import_string

from django_deploykit.conf import conf
from django_deploykit.exceptions import ConfigError
from django_deploykit.services.db import classify, scrub
from django_deploykit.services.net import classify_os_error
from django_deploykit.services.result import ProbeResult, timed

__all__ = ["probe_cache"]


def _with_timeouts(backend: str, options: dict[str, Any], timeout: float) -> None:
    if backend == "django.core.cache.backends.redis.RedisCache":
        options.setdefault("socket_connect_timeout", timeout)
        options["socket_timeout"] = timeout
        # One attempt per probe: redis-py ≥ 6 retries by default.
        options.setdefault("retry_on_timeout", False)
    elif backend.startswith("django_redis."):
        options["SOCKET_CONNECT_TIMEOUT"] = timeout
        options["SOCKET_TIMEOUT"] = timeout
    elif backend == "django.core.cache.backends.memcached.PyMemcacheCache":
        options["connect_timeout"] = timeout
        options["timeout"] = timeout
    elif backend == "django.core.cache.backends.memcached.PyLibMCCache":
        behaviors = options.setdefault("behaviors", {})
        behaviors["connect_timeout"] = int(timeout * 1000)
        behaviors["receive_timeout"] = behaviors["send_timeout"] = int(timeout * 1_000_000)


def _close(cache: Any) -> None:
    cache.close()
    # Django's Redis backend keeps a pool per server and close() does not empty it.
    client = cache.__dict__.get("_cache")
    for pool in getattr(client, "_pools", {}).values():
        pool.disconnect()


def probe_cache(alias: str = DEFAULT_CACHE_ALIAS, timeout: float | None = None) -> ProbeResult:
    """Set a unique key on a probe-only instance of ``CACHES[alias]`` and read it back."""
    timeout = conf.SERVICE_TIMEOUT if timeout is None else timeout

    def run() -> tuple[str, str]:
        caches_setting = getattr(settings, "CACHES", {})
        if alias not in caches_setting:
            return "misconfigured", f"No cache alias {alias!r} in CACHES"
        params = copy.deepcopy(caches_setting[alias])
        backend = str(params.pop("BACKEND", ""))
        location = params.pop("LOCATION", "")
        _with_timeouts(backend, params.setdefault("OPTIONS", {}), timeout)
        try:
            backend_cls = import_string(backend)
        except ImportError as exc:
            reason = "missing_driver" if backend.startswith("django_redis.") else "misconfigured"
            return reason, f"cannot import cache backend {backend!r}: {exc}"
        cache = None
        try:
            cache = backend_cls(location, params)
            key = f"deploykit:probe:{uuid.uuid4().hex}"
            token = uuid.uuid4().hex
            cache.set(key, token, timeout=30)
            found = cache.get(key)
            cache.delete(key)
        except (ConfigError, ImportError) as exc:
            return classify(exc), f"{type(exc).__name__}: {exc}"
        except OSError as exc:
            return classify_os_error(exc), f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # client libraries have their own error classes
            return classify(exc), scrub(f"{type(exc).__name__}: {exc}", None)
        finally:
            if cache is not None:
                _close(cache)
            # DatabaseCache used this thread's Django connection.
            if backend.endswith("DatabaseCache"):
                connections.close_all()
        if found != token:
            if backend.endswith("DummyCache"):
                return "ok", "dummy cache stores nothing"
            return "failed", "the value read back differs from the value set"
        return "ok", ""

    return timed(f"cache:{alias}", run)
