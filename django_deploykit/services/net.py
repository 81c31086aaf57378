"""Plain TCP probe: does something accept connections on host:port?"""

from __future__ import annotations

import socket

from django_deploykit.services.result import ProbeResult, timed

__all__ = ["classify_os_error", "probe_tcp"]


def classify_os_error(exc: BaseException) -> str:
    """Reason code of a socket-level error (shared by the HTTP and cache probes)."""
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return "unavailable"
    return "unknown"


def probe_tcp(host: str, port: int, timeout: float = 3.0, name: str | None = None) -> ProbeResult:
    """Connect to ``host:port`` and close at once. Proves a listener, not a service."""

    def run() -> tuple[str, str]:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError as exc:
            return classify_os_error(exc), f"{type(exc).__name__}: {exc}"
        return "ok", ""

    return timed(name or f"tcp:{host}:{port}", run)
