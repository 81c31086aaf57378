"""Socket-level errors as reason codes: one classification for every probe."""

from __future__ import annotations

import socket

__all__ = ["classify_os_error"]


def classify_os_error(exc: BaseException) -> str:
    """Reason code of a socket-level error (the database, cache and search probes)."""
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return "unavailable"
    return "unknown"
