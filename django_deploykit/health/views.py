"""Health endpoints: ``/health/`` (ready), ``live/``, ``ready/``, ``startup/``.

200 when every required check of the tier is ok, 503 otherwise; an optional
check that fails (search) makes the body ``"status": "degraded"`` with 200. ``Cache-Control:
no-store``; JSON by default, a plain-text listing with ``?verbose``. The public
body carries statuses and reason codes only; each check's private detail is
added for a caller that sends ``Authorization: Bearer <DEPLOYKIT_HEALTH_TOKEN>``.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.utils.cache import add_never_cache_headers

from django_deploykit.conf import conf
from django_deploykit.exceptions import ConfigError
from django_deploykit.health.runner import Report, run_tier

__all__ = ["health_response", "live", "ready", "render_json", "render_text", "startup"]

logger = logging.getLogger("django_deploykit.health")
_last_state: dict[str, tuple[bool, frozenset[str]]] = {}


def _status(report: Report) -> str:
    if not report.healthy:
        return "fail"
    return "degraded" if report.degraded else "ok"


#: A shorter token could be guessed; it unlocks nothing (system check deploykit.E011).
MIN_TOKEN_LENGTH = 32


def authorized(request: HttpRequest) -> bool:
    token = conf.HEALTH_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not token or len(token) < MIN_TOKEN_LENGTH or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())


def render_json(report: Report, details: bool = False) -> dict[str, Any]:
    checks: dict[str, dict[str, Any]] = {}
    for result in report.results:
        optional = result.name in report.optional
        item: dict[str, Any] = {
            "status": "ok" if result.ok else ("degraded" if optional else "fail"),
            "duration_ms": round(result.duration_ms, 1),
        }
        if not result.ok:
            item["reason"] = result.reason
        if result.name in report.ages_ms:
            item["age_ms"] = round(report.ages_ms[result.name])
        if details and result.detail:
            item["detail"] = result.detail
        checks[result.name] = item
    return {
        "status": _status(report),
        "tier": report.tier,
        "checked_at": report.checked_at.isoformat(timespec="milliseconds"),
        "checks": checks,
    }


def render_text(report: Report, details: bool = False) -> str:
    lines = []
    for result in report.results:
        if result.ok:
            mark, state = "+", "ok"
        elif result.name in report.optional:
            mark, state = "~", f"degraded: {result.reason}"
        else:
            mark, state = "-", f"fail: {result.reason}"
        line = f"[{mark}]{result.name} {state} ({result.duration_ms:.1f} ms)"
        if details and result.detail:
            line += f" {result.detail}"
        lines.append(line)
    outcome = {"ok": "passed", "degraded": "passed (degraded)", "fail": "failed"}[_status(report)]
    lines.append(f"{report.tier} check {outcome}")
    return "\n".join(lines) + "\n"


def _log_transition(report: Report) -> None:
    # Once per change of state, not once per probe; the detail is for the server log only.
    degraded = frozenset(f"{r.name}: {r.reason}" for r in report.degraded)
    state = (report.healthy, degraded)
    if _last_state.get(report.tier) == state:
        return
    _last_state[report.tier] = state
    status = _status(report)
    if status == "ok":
        logger.info("health %s: ok", report.tier)
        return
    failing = "; ".join(
        f"{r.name}: {r.reason} {r.detail}".strip() for r in report.results if not r.ok
    )
    if status == "degraded":
        logger.warning("health %s: degraded (still serving): %s", report.tier, failing)
    else:
        logger.warning("health %s: failing: %s", report.tier, failing)


def health_response(request: HttpRequest, tier: str) -> HttpResponse:
    """The response of one tier; never calls ``request.get_host()`` (no host validation)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    try:
        report = run_tier(tier)
    except ConfigError:
        logger.exception("health %s: DEPLOYKIT_HEALTH_CHECKS is invalid", tier)
        response = HttpResponse(
            json.dumps({"status": "fail", "tier": tier, "checks": {}, "reason": "misconfigured"}),
            content_type="application/json",
            status=503,
        )
    else:
        _log_transition(report)
        details = authorized(request)
        status = 200 if report.healthy else 503
        if "verbose" in request.GET:
            response = HttpResponse(
                render_text(report, details),
                content_type="text/plain; charset=utf-8",
                status=status,
            )
        else:
            response = HttpResponse(
                json.dumps(render_json(report, details)),
                content_type="application/json",
                status=status,
            )
    add_never_cache_headers(response)
    if request.method == "HEAD":
        response.content = b""
    return response


def live(request: HttpRequest) -> HttpResponse:
    return health_response(request, "live")


def ready(request: HttpRequest) -> HttpResponse:
    return health_response(request, "ready")


def startup(request: HttpRequest) -> HttpResponse:
    return health_response(request, "startup")
