"""Container health probe: ``python -m django_deploykit.health.probe``.

Meant for Docker ``HEALTHCHECK`` and compose: it asks the running server for a
health tier over loopback HTTP and exits 0 (2xx) or 1 (anything else). It uses
the standard library only and never imports Django, so a probe costs a bare
interpreter start (tens of milliseconds), not a ``django.setup()``.

Exit codes are 0 and 1 only: Docker reserves 2, so even bad arguments exit 1.
Redirects are never followed (a 301 from ``SECURE_SSL_REDIRECT`` is a failure
that the operator should see, not hide).
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and "ssl" not in sys.modules:
    # Plain HTTP to 127.0.0.1 only: keep http.client from loading OpenSSL (~5 MB, ~15 ms
    # per probe run). http.client treats a missing ssl module as "no HTTPS".
    sys.modules["ssl"] = None  # type: ignore[assignment]

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from django_deploykit.health.tiers import PATHS, TIERS  # noqa: E402

__all__ = ["main", "probe"]

DEFAULT_PREFIX = "/health/"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse exits 2 on usage errors; Docker reserves 2 ("do not use").
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def default_host() -> str:
    """A Host header the site accepts even without the health middleware.

    The first concrete name of ``ALLOWED_HOSTS`` (the env variable the settings
    helper reads), else ``localhost``.
    """
    for name in os.environ.get("ALLOWED_HOSTS", "").split(","):
        name = name.strip().lstrip(".")
        if name and name != "*" and "*" not in name:
            return name
    return "localhost"


def tier_path(tier: str, prefix: str | None = None) -> str:
    prefix = prefix or os.environ.get("DEPLOYKIT_HEALTH_PATH") or DEFAULT_PREFIX
    prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
    return prefix + PATHS[tier]


def probe(
    tier: str = "ready", port: int = 8000, host: str | None = None, timeout: float = 5.0
) -> tuple[bool, str]:
    """Request the tier on 127.0.0.1:port; return (healthy, one-line summary)."""
    path = tier_path(tier)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.monotonic()
    try:
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or default_host())
        conn.putheader("Accept", "application/json")
        # TLS ends at a proxy in front of the container; say so, as that proxy would.
        conn.putheader("X-Forwarded-Proto", "https")
        conn.putheader("User-Agent", "deploykit-probe")
        conn.endheaders()
        response = conn.getresponse()
        body = response.read(65536)
    except (OSError, http.client.HTTPException) as exc:
        reason = "timeout" if isinstance(exc, socket.timeout) else type(exc).__name__
        return False, f"unhealthy: GET {path} on port {port} failed: {reason} ({exc})"
    finally:
        conn.close()
    elapsed_ms = (time.monotonic() - started) * 1000
    healthy = 200 <= response.status < 300
    state = "healthy" if healthy else "unhealthy"
    summary = f"{state}: {response.status} {path} {elapsed_ms:.0f} ms"
    failing = _failing_checks(body)
    if failing:
        summary += " (" + ", ".join(failing) + ")"
    elif response.status in (301, 302, 307, 308):
        summary += f" redirect to {response.getheader('Location')}: put HealthCheckMiddleware first"
    return healthy, summary


def _failing_checks(body: bytes) -> list[str]:
    try:
        data = json.loads(body)
        checks = data["checks"]
        return [
            f"{name}: {item.get('reason') or item.get('status')}"
            for name, item in checks.items()
            if item.get("status") != "ok"
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m django_deploykit.health.probe",
        description="Exit 0 when the local server's health tier answers 2xx, else 1.",
    )
    parser.add_argument("--tier", choices=sorted(TIERS), default="ready")
    parser.add_argument(
        "--port", type=int, default=None, help="server port (default: $PORT, else 8000)"
    )
    parser.add_argument(
        "--host", default=None, help="Host header (default: first of $ALLOWED_HOSTS, or localhost)"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    port = args.port
    if port is None:
        try:
            port = int(os.environ.get("PORT") or 8000)
        except ValueError:
            print("unhealthy: PORT is not a number", file=sys.stderr)
            return 1
    healthy, summary = probe(args.tier, port, args.host, args.timeout)
    if not args.quiet:
        print(summary, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
