"""What to do about a failing check, by its public reason code (``healthcheck`` prints it)."""

from __future__ import annotations

__all__ = ["HINTS", "hint"]

HINTS = {
    "migrations": "run migrate (the migrate job of this revision, or `manage.py migrate_locked`)",
    "refused": "nothing listens there: is the service running, and are its host and port right?",
    "dns": "the host name does not resolve: check the host in the settings or URL",
    "timeout": "no answer in time: is the host reachable (firewall, network) and not overloaded?",
    "auth": "the credentials were rejected: check the user and password",
    "unknown_db": "the database does not exist: create it, or fix its name",
    "starting": "the service is starting or shutting down: wait and retry",
    "busy": "the service refuses more connections: raise its limit or use fewer",
    "misconfigured": "the settings of this check are wrong: see the detail above",
    "unavailable": "the service answered but is not available: see its logs",
}


def hint(reason: str) -> str:
    return HINTS.get(reason, "see the detail above")
