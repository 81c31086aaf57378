"""reindex_search guards found by issue 16: what a real Meilisearch does to a careless run."""

from __future__ import annotations

import pytest

from blog.models import Post
from django_deploykit.exceptions import ConfigError
from django_deploykit.search.client import SearchClient
from django_deploykit.search.documents import iter_batches
from django_deploykit.search.drift import settings_diff
from django_deploykit.search.indexes import get_index
from django_deploykit.search.query import SearchUnavailable, search_pks
from django_deploykit.search.reindex import rebuild
from tests.search_helpers import make_posts, reindex
from tests.search_test_indexes import HERE

pytestmark = pytest.mark.django_db


def _count(meili, uid: str) -> int:
    return meili.client().index(uid).get_stats().number_of_documents


def _uids(meili, prefix: str) -> set[str]:
    results = meili.client().get_raw_indexes({"limit": 1000})["results"]
    return {i["uid"] for i in results if i["uid"].startswith(prefix)}


# -- an empty or much smaller source ---------------------------------------------------


@pytest.mark.meilisearch
@pytest.mark.parametrize("mode", [[], ["--in-place"]])
def test_an_empty_source_does_not_replace_the_live_index(meili, settings, mode):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    uid = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX + "flat"
    make_posts(10)
    assert reindex(*mode).code == 0
    Post.objects.all().delete()  # e.g. the wrong database after a copy
    run = reindex(*mode)
    assert run.code == 1, run.stderr
    assert "0 documents" in run.stderr and "10" in run.stderr
    assert "--allow-shrink" in run.stderr and "DEPLOYKIT_SEARCH_MAX_SHRINK" in run.stderr
    assert _count(meili, uid) == 10  # untouched
    assert _uids(meili, settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX) == {uid}
    run = reindex(*mode, "--allow-shrink")
    assert run.code == 0, run.stderr
    assert _count(meili, uid) == 0


@pytest.mark.meilisearch
def test_a_shrink_beyond_the_threshold_is_refused_unless_allowed(meili, settings):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    uid = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX + "flat"
    make_posts(10)
    assert reindex().code == 0
    Post.objects.filter(pk__in=Post.objects.order_by("pk").values("pk")[:3]).delete()
    assert reindex().code == 0  # 10 -> 7: within the default 50 %
    assert _count(meili, uid) == 7
    Post.objects.filter(pk__in=Post.objects.order_by("pk").values("pk")[:4]).delete()
    run = reindex()  # 7 -> 3: 57 % fewer
    assert run.code == 1 and "7" in run.stderr and "3 documents" in run.stderr
    assert _count(meili, uid) == 7
    settings.DEPLOYKIT_SEARCH_MAX_SHRINK = 0.6
    assert reindex().code == 0
    assert _count(meili, uid) == 3


# -- batches bounded by bytes ---------------------------------------------------------------


@pytest.mark.meilisearch
def test_batches_are_bounded_by_bytes_as_well_as_rows(meili, settings):
    if not meili.bundled:
        pytest.skip("needs the bundled server's configurable payload limit")
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    make_posts(60, body_size=3000)  # ~190 kB of documents
    meili.set_payload_limit(64 * 1024)  # the real server's --http-payload-size-limit
    settings.DEPLOYKIT_SEARCH_BATCH_BYTES = 32 * 1024
    run = reindex("--batch-size", "1000", "--json")
    assert run.code == 0, run.stderr
    [entry] = run.json["indexes"]
    assert entry["documents"] == 60 and entry["batches"] >= 6
    index = get_index("flat")
    batches = list(iter_batches(index, 1000, max_bytes=32 * 1024))
    assert all(len(b.payload) <= 32 * 1024 for b in batches)
    assert sum(b.count for b in batches) == 60


@pytest.mark.meilisearch
def test_a_payload_over_the_server_limit_is_reported_as_such(meili, settings):
    if not meili.bundled:
        pytest.skip("needs the bundled server's configurable payload limit")
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    make_posts(2, body_size=40_000)  # one document is over the server's limit
    meili.set_payload_limit(16 * 1024)
    run = reindex()
    assert run.code == 1
    assert "payload_too_large" in run.stderr and "unreachable" not in run.stderr


def test_upload_timeouts_grow_with_the_payload(settings):
    settings.DEPLOYKIT_MEILISEARCH_URL = "http://127.0.0.1:1"
    client = SearchClient(timeout=10)
    assert client.upload_timeout(1_000) == pytest.approx(10, abs=0.1)
    assert client.upload_timeout(100_000_000) > 60  # a full 100 MB payload on a slow link


# -- --check compares what the server stores ----------------------------------------------

# GET /indexes/x/settings of a real Meilisearch after PATCHing NormalisedSettingsIndex's
# settings (milli: BTreeSet-backed lists, exact words lemmatised, nested settings merged).
REAL_SERVER_STORED = {
    "displayedAttributes": ["*"],
    "searchableAttributes": ["title", "body"],
    "sortableAttributes": ["published", "title"],
    "stopWords": ["fin", "of", "the"],
    "typoTolerance": {
        "enabled": True,
        "minWordSizeForTypos": {"oneTypo": 4, "twoTypos": 9},
        "disableOnWords": ["android", "iphone"],
        "disableOnAttributes": ["body", "title"],
        "disableOnNumbers": False,
    },
    "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha", "title": "count"}},
    "pagination": {"maxTotalHits": 500},
}


def test_drift_compares_the_way_the_server_stores_settings(settings):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "NormalisedSettingsIndex"]
    declared = get_index("normalised").settings
    assert settings_diff(declared, REAL_SERVER_STORED) == []
    changed = {**REAL_SERVER_STORED, "stopWords": ["of", "the"]}
    [diff] = settings_diff(declared, changed)
    assert diff.key == "stopWords"
    typo = {**REAL_SERVER_STORED["typoTolerance"], "disableOnWords": ["iphone"]}
    [diff] = settings_diff(declared, {**REAL_SERVER_STORED, "typoTolerance": typo})
    assert diff.key == "typoTolerance"


@pytest.mark.meilisearch
def test_check_passes_right_after_a_rebuild(meili, settings):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "NormalisedSettingsIndex"]
    make_posts(3)
    assert reindex().code == 0
    run = reindex("--check", "--json")
    assert run.code == 0, run.stdout
    uid = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX + "normalised"
    live = meili.client().index(uid).get_settings()
    for key in ("sortableAttributes", "stopWords", "typoTolerance", "faceting"):
        assert live[key] == REAL_SERVER_STORED[key], key


# -- index names ------------------------------------------------------------------------------


@pytest.mark.meilisearch
@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("my.site_", "'.'"), ("x" * 392, "bytes long")],
)
def test_an_invalid_index_name_is_a_config_error_before_anything_is_created(
    meili, settings, prefix, expected
):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    real_prefix = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX
    settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX = real_prefix + prefix
    make_posts(2)
    run = reindex()
    assert run.code == 2, run.stderr
    assert "DEPLOYKIT_MEILISEARCH_INDEX_PREFIX" in run.stderr and expected in run.stderr
    assert _uids(meili, real_prefix) == set()


def test_the_system_check_reports_an_invalid_index_name(settings):
    from django_deploykit.search.checks import check_search_indexes

    settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX = "blog posts/"
    [error] = check_search_indexes()
    assert error.id == "deploykit.E040" and "' '" in error.msg


# -- a key missing one permission -------------------------------------------------------------


@pytest.mark.meilisearch
def test_a_key_without_one_permission_reports_what_was_done(meili, settings):
    if not meili.key:
        pytest.skip("the configured Meilisearch server runs without a master key")
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex", HERE + "SecondFlatIndex"]
    prefix = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX
    make_posts(5)
    actions = [
        "version",
        "indexes.create",
        "indexes.get",
        "indexes.delete",
        "documents.add",
        "documents.get",
        "settings.get",
        "settings.update",
        "stats.get",
        "tasks.get",
        "search",
    ]  # everything but indexes.swap
    key = meili.client().create_key(
        {"actions": actions, "indexes": ["*"], "expiresAt": None, "description": "no swap"}
    )
    settings.DEPLOYKIT_MEILISEARCH_MASTER_KEY = key.key
    run = reindex()
    assert run.code == 1, run.stderr  # indexes were changed: not "nothing changed" (2)
    for uid in (prefix + "flat", prefix + "flat2"):  # the second index was tried too
        assert f"FAILED {uid}" in run.stderr, run.stderr
    assert "live index" in run.stderr and "not changed" in run.stderr
    assert "permission" in run.stderr or "invalid_api_key" in run.stderr
    assert _uids(meili, prefix) == set()  # the build indexes were deleted
    meili.client().delete_key(key.key)


# -- search_pks -----------------------------------------------------------------------------


@pytest.mark.meilisearch
def test_search_pks_never_silently_returns_nothing_when_the_pk_is_hidden(meili, settings):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    make_posts(3)
    assert reindex().code == 0
    assert len(search_pks("flat", "post")) == 3
    client = meili.client()
    uid = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX + "flat"
    task = client.index(uid).update_displayed_attributes(["title"])
    client.wait_for_task(task.task_uid)
    with pytest.raises(SearchUnavailable, match="displayedAttributes"):
        search_pks("flat", "post")


def test_a_declaration_hiding_its_primary_key_is_refused(settings):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "HiddenPkIndex"]
    with pytest.raises(ConfigError, match="displayedAttributes"):
        get_index("hiddenpk").validate()


# -- heartbeat during the final clean-up --------------------------------------------------------


@pytest.mark.meilisearch
def test_the_final_clean_up_wait_has_a_heartbeat(meili, settings):
    if not meili.bundled:
        pytest.skip("needs the bundled server's task delay")
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    make_posts(3)
    meili.set_task_delay(0.4)
    messages: list[str] = []
    client = SearchClient(heartbeat_every=0.1)
    rebuild(get_index("flat"), client, batch_size=100, on_message=messages.append)
    lock_uid = get_index("flat").rebuild_uid
    beats = [m for m in messages if "waiting for Meilisearch" in m and f"deleting {lock_uid}" in m]
    assert beats, messages
