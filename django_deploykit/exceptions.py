"""Exceptions raised by deploykit's library code.

Commands turn these into ``CommandError(message, returncode=...)``; every
message says what is wrong and what to do, and never contains a secret value.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

__all__ = ["ConfigError", "DeployKitError", "ServiceUnavailable"]


class DeployKitError(Exception):
    """Base class of deploykit's errors."""


class ConfigError(DeployKitError, ImproperlyConfigured):
    """A setting or environment variable is missing or malformed (exit code 2)."""


class ServiceUnavailable(DeployKitError):
    """A database, cache, search server or Docker engine cannot be reached (exit code 1)."""
