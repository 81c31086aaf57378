"""Search is optional: a missing, hung or empty Meilisearch degrades, it never takes pages down."""

from __future__ import annotations

import json
import logging
import time

import pytest
from django.test import Client

from django_deploykit.health.runner import runner
from django_deploykit.search.checks import check_missing_indexes
from django_deploykit.search.query import (
    SearchUnavailable,
    breaker,
    search_page,
    search_pks,
)
from tests.health_fixtures import HungServer, closed_port  # noqa: F401
from tests.search_helpers import make_posts, reindex
from tests.search_test_indexes import HERE

pytestmark = pytest.mark.django_db

CHECKS = [
    "django_deploykit.health.checks.DatabaseCheck",
    "django_deploykit.health.checks.SearchCheck",
]


@pytest.fixture(autouse=True)
def fresh(settings):
    settings.DEPLOYKIT_HEALTH_CHECKS = CHECKS
    settings.DEPLOYKIT_HEALTH_CACHE_SECONDS = 0
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    runner.reset()
    breaker.reset()
    yield
    runner.reset()
    breaker.reset()


def _ready(client: Client) -> tuple[int, dict]:
    response = client.get("/health/")
    return response.status_code, json.loads(response.content)


def test_unreachable_search_degrades_the_probe_without_failing_it(
    client,
    settings,
    closed_port,  # noqa: F811
):
    settings.DEPLOYKIT_MEILISEARCH_URL = f"http://127.0.0.1:{closed_port}"
    status, body = _ready(client)
    assert status == 200, body
    assert body["status"] == "degraded"
    assert body["checks"]["search"] == {
        "status": "degraded",
        "reason": "refused",
        "duration_ms": body["checks"]["search"]["duration_ms"],
    }
    assert body["checks"]["database:default"]["status"] == "ok"
    text = client.get("/health/?verbose").content.decode()
    assert "[~]search degraded: refused" in text and "ready check passed (degraded)" in text


def test_a_failing_database_still_fails_the_probe(client, settings, closed_port):  # noqa: F811
    settings.DEPLOYKIT_MEILISEARCH_URL = f"http://127.0.0.1:{closed_port}"
    settings.DEPLOYKIT_HEALTH_CHECKS = [*CHECKS, "tests.test_search_degrade.AlwaysFails"]
    status, body = _ready(client)
    assert status == 503 and body["status"] == "fail"
    assert body["checks"]["always"]["status"] == "fail"


def test_hung_search_costs_one_bounded_wait_then_falls_back_at_once(settings, caplog):
    hung = HungServer()
    settings.DEPLOYKIT_MEILISEARCH_URL = f"http://127.0.0.1:{hung.port}"
    settings.DEPLOYKIT_MEILISEARCH_TIMEOUT = 10  # reindex's timeout: not the one pages use
    settings.DEPLOYKIT_SEARCH_QUERY_TIMEOUT = 0.5
    try:
        with caplog.at_level(logging.WARNING, logger="django_deploykit.search"):
            started = time.monotonic()
            with pytest.raises(SearchUnavailable, match="did not answer within 0.5 s"):
                search_pks("flat", "deploy")
            first = time.monotonic() - started
            started = time.monotonic()
            for _ in range(20):
                with pytest.raises(SearchUnavailable, match="recent failure"):
                    search_pks("flat", "deploy")
            rest = time.monotonic() - started
    finally:
        hung.close()
    assert first < 2.0, first
    assert rest < 0.5, rest  # 20 searches, none waited on the hung server
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "falling back to the database for 10 s" in lines[0]


class AlwaysFails:
    pass


def _always_fails():
    from django_deploykit.health.checks import Check, CheckFailed

    class AlwaysFailsCheck(Check):
        name = "always"

        def check(self, timeout: float) -> None:
            raise CheckFailed("failed", "on purpose")

    return AlwaysFailsCheck


AlwaysFails = _always_fails()  # noqa: F811


@pytest.mark.meilisearch
def test_missing_index_is_reported_in_health_log_and_system_check(meili, client, caplog):
    with caplog.at_level(logging.WARNING, logger="django_deploykit.health"):
        status, body = _ready(client)
    assert status == 200 and body["status"] == "degraded"
    assert body["checks"]["search"]["reason"] == "missing_index"
    assert any(
        "missing_index" in r.getMessage() and "reindex_search" in r.getMessage()
        for r in caplog.records
    )
    warnings = check_missing_indexes()
    assert [w.id for w in warnings] == ["deploykit.W041"]
    assert "flat" in warnings[0].msg
    make_posts(3)
    assert reindex().code == 0
    runner.reset()
    status, body = _ready(client)
    assert status == 200 and body["status"] == "ok", body
    assert check_missing_indexes() == []


@pytest.mark.meilisearch
def test_search_page_counts_every_match_beyond_the_hit_cap(meili):
    make_posts(25)
    assert reindex().code == 0
    from django_deploykit.search.client import SearchClient

    client = SearchClient()
    uid = meili.client().get_raw_indexes()["results"]
    uid = next(i["uid"] for i in uid if i["uid"].endswith("flat"))
    client.run(
        client.index(uid).update_settings, {"pagination": {"maxTotalHits": 10}}, context="cap"
    )
    assert len(search_pks("flat", "deploy")) == 10  # what the old example counted
    page = search_page("flat", "deploy", page=2, per_page=4)
    assert page.total == 25 and len(page.pks) == 4
    assert search_page("flat", "deploy", page=3, per_page=4).pks != page.pks
