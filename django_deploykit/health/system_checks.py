"""System checks of the health feature (ids deploykit.E010–E019 / W010–W019).

=============== ==========================================================
deploykit.E010  DEPLOYKIT_HEALTH_CHECKS names something that is not a Check class
deploykit.E011  DEPLOYKIT_HEALTH_TOKEN is shorter than 32 characters
deploykit.W010  health URLs are included but HealthCheckMiddleware is not in MIDDLEWARE
deploykit.W011  HealthCheckMiddleware is not the first entry of MIDDLEWARE
deploykit.W012  DEPLOYKIT_HEALTH_PATH differs from where the health URLs are included
deploykit.W013  DEPLOYKIT_HEALTH_DEADLINE is 1 s or more (Kubernetes' probe timeout)
=============== ==========================================================
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.urls import NoReverseMatch, get_script_prefix, reverse

from django_deploykit.conf import conf
from django_deploykit.exceptions import ConfigError
from django_deploykit.health.checks import TIERS, load_checks

__all__ = [
    "check_health_checks",
    "check_health_deadline",
    "check_health_middleware",
    "check_health_token",
]

MIDDLEWARE_PATH = "django_deploykit.health.middleware.HealthCheckMiddleware"


def _included_prefix() -> str | None:
    if not getattr(settings, "ROOT_URLCONF", None):
        return None  # a worker-only or script settings module: no URLs at all
    try:
        url = reverse("deploykit_health:ready")
    except NoReverseMatch:
        return None
    except Exception:  # a broken URLconf: Django's own URL checks report it, never crash
        return None
    # reverse() adds SCRIPT_NAME; the middleware compares path_info.
    return "/" + url[len(get_script_prefix()) :]


@register(Tags.urls)
def check_health_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    included = _included_prefix()
    messages: list[CheckMessage] = []
    if MIDDLEWARE_PATH not in middleware:
        if included is not None:
            messages.append(
                Warning(
                    "The health URLs are included but HealthCheckMiddleware is not in "
                    "MIDDLEWARE: probes sent with an IP as Host, over plain HTTP or without "
                    "a login get 400, 301 or 302 instead of 200/503.",
                    hint=f"Add {MIDDLEWARE_PATH!r} as the first entry of MIDDLEWARE.",
                    id="deploykit.W010",
                )
            )
        return messages
    if middleware[0] != MIDDLEWARE_PATH:
        messages.append(
            Warning(
                f"HealthCheckMiddleware comes after {middleware[0]!r}: that middleware can "
                "answer probes with a redirect or an error before the health check runs.",
                hint="Move HealthCheckMiddleware to the first entry of MIDDLEWARE.",
                id="deploykit.W011",
            )
        )
    if included is not None and included != conf.HEALTH_PATH:
        messages.append(
            Warning(
                f"DEPLOYKIT_HEALTH_PATH is {conf.HEALTH_PATH!r} but the health URLs are "
                f"included at {included!r}: the middleware and the probe use the setting.",
                hint=f"Set DEPLOYKIT_HEALTH_PATH = {included!r} (and the DEPLOYKIT_HEALTH_PATH "
                "environment variable of the container probe).",
                id="deploykit.W012",
            )
        )
    return messages


@register(Tags.compatibility)
def check_health_checks(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        for tier in TIERS:
            load_checks(tier)
    except ConfigError as exc:
        return [
            Error(
                str(exc),
                hint="Each entry is the dotted path of a django_deploykit.health.checks.Check "
                "subclass.",
                id="deploykit.E010",
            )
        ]
    return []


@register(Tags.compatibility)
def check_health_deadline(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    deadline = conf.get("DEPLOYKIT_HEALTH_DEADLINE")
    if isinstance(deadline, (int, float)) and deadline >= 1:
        return [
            Warning(
                f"DEPLOYKIT_HEALTH_DEADLINE is {deadline} s: Kubernetes gives up on a probe "
                "after 1 s by default, so a hung dependency fails the probe without a body.",
                hint="Keep it below the probe's timeoutSeconds (default 0.8), or raise "
                "timeoutSeconds.",
                id="deploykit.W013",
            )
        ]
    return []


@register(Tags.security)
def check_health_token(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from django_deploykit.health.views import MIN_TOKEN_LENGTH

    token = conf.HEALTH_TOKEN
    if token and len(token) < MIN_TOKEN_LENGTH:
        return [
            Error(
                f"DEPLOYKIT_HEALTH_TOKEN has {len(token)} characters, fewer than "
                f"{MIN_TOKEN_LENGTH}: it could be guessed, so it shows no health details.",
                hint='Use a long random value, e.g. python -c "import secrets; '
                'print(secrets.token_urlsafe(32))".',
                id="deploykit.E011",
            )
        ]
    return []
