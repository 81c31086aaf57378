"""``HealthCheckMiddleware``: answer health probes before any other middleware.

Put it FIRST in ``MIDDLEWARE``. Orchestrators send the pod or container IP as
``Host``, plain HTTP, and no session: host validation (400), the SSL redirect
(301) and login-required middleware (302) would all turn a probe into a
failure. The middleware answers ``DEPLOYKIT_HEALTH_PATH`` and its ``live/``,
``ready/`` and ``startup/`` children itself (with or without the trailing
slash) and passes every other request on untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from django_deploykit.conf import conf
from django_deploykit.health.tiers import TIERS
from django_deploykit.health.views import health_response

__all__ = ["HealthCheckMiddleware", "match_tier"]


def match_tier(path: str, prefix: str) -> str | None:
    """The tier that ``path`` asks for under ``prefix``, or None."""
    base = prefix.rstrip("/")
    if path in (base, base + "/"):
        return "ready"
    if not path.startswith(base + "/"):
        return None  # "/healthz" is not under "/health/"
    rest = path[len(base) + 1 :]
    tier = rest[:-1] if rest.endswith("/") else rest
    return tier if tier in TIERS else None


class HealthCheckMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tier = match_tier(request.path_info, conf.HEALTH_PATH)
        if tier is None:
            return self.get_response(request)
        return health_response(request, tier)
