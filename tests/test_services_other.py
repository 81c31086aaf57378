"""Cache, Meilisearch and TCP probes against real servers on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from django_deploykit.services.cache import probe_cache
from django_deploykit.services.db import classify
from django_deploykit.services.net import classify_os_error
from django_deploykit.services.result import ProbeResult, timed
from django_deploykit.services.search import probe_meilisearch
from tests.health_fixtures import closed_port, hung_port  # noqa: F401

REDIS = ("127.0.0.1", 6379)


def redis_available() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=0.5):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")


def redis_caches(location: str) -> dict:
    return {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": location}
    }


def test_locmem_cache_set_and_get():
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    ):
        result = probe_cache()
    assert result.reason == "ok" and result.name == "cache:default"


def test_unknown_cache_alias_and_backend():
    assert probe_cache("nope").reason == "misconfigured"
    with override_settings(CACHES={"default": {"BACKEND": "no.such.Backend"}}):
        assert probe_cache().reason == "misconfigured"


@needs_redis
def test_redis_cache_ok_and_leaves_no_connection():
    import redis

    client = redis.Redis(*REDIS)
    before = len(client.client_list())
    with override_settings(CACHES=redis_caches("redis://127.0.0.1:6379/0")):
        results = [probe_cache(timeout=1) for _ in range(20)]
    assert all(r.ok for r in results), results[0].detail
    assert len(client.client_list()) <= before
    client.close()


def test_redis_refused_and_hung(closed_port, hung_port):  # noqa: F811
    with override_settings(CACHES=redis_caches(f"redis://127.0.0.1:{closed_port}/0")):
        assert probe_cache(timeout=1).reason == "refused"
    started = time.monotonic()
    with override_settings(CACHES=redis_caches(f"redis://127.0.0.1:{hung_port}/0")):
        result = probe_cache(timeout=0.5)
    assert result.reason == "timeout", result.detail
    assert time.monotonic() - started < 2


class _Meili(BaseHTTPRequestHandler):
    status = "available"

    def do_GET(self) -> None:  # noqa: N802
        code = 200 if self.path == "/health" else 404
        body = json.dumps({"status": self.status}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def meili_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Meili)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_meilisearch_health(meili_url, closed_port, hung_port):  # noqa: F811
    assert probe_meilisearch(meili_url, 1).reason == "ok"
    assert probe_meilisearch(f"http://127.0.0.1:{closed_port}", 1).reason == "refused"
    started = time.monotonic()
    assert probe_meilisearch(f"http://127.0.0.1:{hung_port}", 0.3).reason == "timeout"
    assert time.monotonic() - started < 1
    assert probe_meilisearch("ftp://x", 1).reason == "misconfigured"
    with override_settings(DEPLOYKIT_MEILISEARCH_URL=None):
        assert probe_meilisearch(None, 1).reason == "misconfigured"


def test_meilisearch_not_available(meili_url, monkeypatch):
    monkeypatch.setattr(_Meili, "status", "unavailable")
    assert probe_meilisearch(meili_url, 1).reason == "unavailable"


def probe_tcp(host: str, port: int, timeout: float = 3.0) -> ProbeResult:
    """Connect to ``host:port`` and close at once (a listener, not a service)."""

    def run() -> tuple[str, str]:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError as exc:
            return classify_os_error(exc), f"{type(exc).__name__}: {exc}"
        return "ok", ""

    return timed(f"tcp:{host}:{port}", run)


def test_socket_errors_classify_alike(hung_port, closed_port):  # noqa: F811
    # The database probe answers socket errors as the cache and search probes do.
    for exc in (
        socket.gaierror(),
        TimeoutError(),
        ConnectionRefusedError(),
        ConnectionResetError(),
        BrokenPipeError(),
    ):
        assert classify(exc) == classify_os_error(exc) != "unknown", exc
    assert probe_tcp("127.0.0.1", hung_port, 1).ok
    assert probe_tcp("127.0.0.1", closed_port, 1).reason == "refused"
