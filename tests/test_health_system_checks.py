"""One test per health system check id (deploykit.E010, W010–W013)."""

from __future__ import annotations

from django.test import override_settings

from django_deploykit.health import system_checks

FIRST = "django_deploykit.health.middleware.HealthCheckMiddleware"
OTHER = "django.middleware.security.SecurityMiddleware"


def ids(messages):
    return [m.id for m in messages]


def test_w010_middleware_missing_while_urls_are_included():
    with override_settings(MIDDLEWARE=[OTHER]):
        assert ids(system_checks.check_health_middleware()) == ["deploykit.W010"]
    with override_settings(MIDDLEWARE=[FIRST, OTHER]):
        assert ids(system_checks.check_health_middleware()) == []


def test_w011_middleware_not_first():
    with override_settings(MIDDLEWARE=[OTHER, FIRST]):
        assert ids(system_checks.check_health_middleware()) == ["deploykit.W011"]


def test_w012_path_differs_from_the_urlconf():
    with override_settings(MIDDLEWARE=[FIRST], DEPLOYKIT_HEALTH_PATH="/healthz/"):
        messages = system_checks.check_health_middleware()
    assert ids(messages) == ["deploykit.W012"]
    assert "'/health/'" in messages[0].msg


def test_w013_deadline_at_or_above_one_second():
    with override_settings(DEPLOYKIT_HEALTH_DEADLINE=1):
        assert ids(system_checks.check_health_deadline()) == ["deploykit.W013"]
    assert ids(system_checks.check_health_deadline()) == []


def test_e010_checks_setting_names_no_check_class():
    with override_settings(DEPLOYKIT_HEALTH_CHECKS=["os.path.join"]):
        assert ids(system_checks.check_health_checks()) == ["deploykit.E010"]
    with override_settings(DEPLOYKIT_HEALTH_CHECKS=["no.such.Thing"]):
        assert ids(system_checks.check_health_checks()) == ["deploykit.E010"]
    assert ids(system_checks.check_health_checks()) == []


def test_e011_health_token_too_short():
    with override_settings(DEPLOYKIT_HEALTH_TOKEN="short-token"):
        messages = system_checks.check_health_token()
    assert ids(messages) == ["deploykit.E011"]
    assert "short-token" not in messages[0].msg  # a secret is never echoed
    with override_settings(DEPLOYKIT_HEALTH_TOKEN="x" * 32):
        assert ids(system_checks.check_health_token()) == []
    assert ids(system_checks.check_health_token()) == []
