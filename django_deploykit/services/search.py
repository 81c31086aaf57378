"""Meilisearch probe: ``GET /health`` with an explicit timeout.

Meilisearch answers ``{"status": "available"}`` on ``/health`` without an API
key. The standard library's HTTP client is used so that a probe imports
nothing heavy and always has a timeout (the Meilisearch client's default has
none).
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from django_deploykit.conf import conf
from django_deploykit.services.net import classify_os_error
from django_deploykit.services.result import ProbeResult, timed

__all__ = ["probe_meilisearch"]


def probe_meilisearch(url: str | None = None, timeout: float | None = None) -> ProbeResult:
    """Probe the Meilisearch server at ``url`` (default: ``DEPLOYKIT_MEILISEARCH_URL``)."""
    url = url or conf.MEILISEARCH_URL
    timeout = conf.SERVICE_TIMEOUT if timeout is None else timeout

    def run() -> tuple[str, str]:
        if not url:
            return "misconfigured", "DEPLOYKIT_MEILISEARCH_URL is not set"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "misconfigured", "DEPLOYKIT_MEILISEARCH_URL must be an http(s) URL"
        conn_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        try:
            conn = conn_class(parts.hostname, parts.port, timeout=timeout)
        except ValueError as exc:  # a port that is not a number
            return "misconfigured", str(exc)
        try:
            conn.request("GET", parts.path.rstrip("/") + "/health")
            response = conn.getresponse()
            body = response.read(4096)
        except (OSError, http.client.HTTPException) as exc:
            return classify_os_error(exc), f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
        if response.status != 200:
            return "unavailable", f"HTTP {response.status} from /health"
        try:
            status = json.loads(body).get("status")
        except (ValueError, AttributeError):
            status = None
        if status != "available":
            return "unavailable", f"/health answered status {status!r}"
        return "ok", ""

    return timed("search", run)
