"""reindex_search against a Meilisearch server: rebuild, swap, failures, lock, drift."""

from __future__ import annotations

import threading
import time

import pytest

from blog.models import Post
from tests.search_helpers import make_posts, reindex
from tests.search_test_indexes import HERE

pytestmark = [pytest.mark.meilisearch, pytest.mark.django_db]


def _count(meili, uid: str) -> int:
    return meili.client().index(uid).get_stats().number_of_documents


def _uids(meili, prefix: str) -> set[str]:
    results = meili.client().get_raw_indexes({"limit": 1000})["results"]
    return {i["uid"] for i in results if i["uid"].startswith(prefix)}


def test_full_rebuild_of_the_example_post_index(meili, settings):
    make_posts(230)
    run = reindex("--batch-size", "100", "--json")
    assert run.code == 0, run.stderr
    summary = run.json
    assert summary["ok"] and summary["mode"] == "rebuild"
    [entry] = summary["indexes"]
    assert entry["index"] == "posts" and entry["documents"] == 230 and entry["batches"] == 3
    assert entry["swapped"] is True
    prefix = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX
    uid = prefix + "posts"
    assert _uids(meili, prefix) == {uid}  # the build index is gone
    index = meili.client().index(uid)
    assert index.get_stats().number_of_documents == 230
    assert meili.client().get_raw_index(uid)["primaryKey"] == "id"
    live = index.get_settings()
    assert live["searchableAttributes"] == ["title", "tags", "body", "author"]
    assert sorted(live["filterableAttributes"]) == ["author", "tags"]
    post = Post.objects.order_by("pk").first()
    doc = index.get_document(post.pk)
    assert doc.title == post.title and doc.author == "ada"
    assert sorted(doc.tags) == sorted(t.name for t in post.tags.all())
    assert doc.published == int(post.published.timestamp())


def test_search_never_sees_an_empty_or_partial_index_during_rebuild(meili, settings):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    make_posts(200)
    assert reindex("--batch-size", "50").code == 0
    uid = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX + "flat"
    make_posts(20, start=200)
    meili.set_task_delay(0.03)  # bundled server only: make the rebuild take a while
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def search_loop() -> None:
        index = meili.client().index(uid)
        deadline = time.monotonic() + 60
        for _ in range(5000):  # bounded in count and in time
            if stop.is_set() or time.monotonic() > deadline:
                return
            try:
                seen.append(index.search("", {"limit": 1})["estimatedTotalHits"])
            except Exception as exc:
                errors.append(exc)
            time.sleep(0.005)

    thread = threading.Thread(target=search_loop)
    thread.start()
    try:
        run = reindex("--batch-size", "20")
    finally:
        stop.set()
        thread.join(30)
    assert run.code == 0, run.stderr
    assert not errors
    assert len(seen) >= 5
    assert set(seen) <= {200, 220}, sorted(set(seen))  # old or new, never partial
    assert seen[-1] == 220 or _count(meili, uid) == 220


def test_failing_batch_exits_1_and_leaves_the_live_index_untouched(meili, settings):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "BadIdIndex"]
    make_posts(120)
    assert reindex("--batch-size", "50").code == 0
    prefix = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX
    uid = prefix + "badid"
    before = meili.client().index(uid).get_documents({"limit": 1000}).results
    make_posts(1, start=500, title="BAD")  # one bad document id in the last batch
    Post.objects.filter(title="Post 3").update(title="Changed")
    run = reindex("--batch-size", "50")
    assert run.code == 1
    assert "invalid_document_id" in run.stderr
    bad = Post.objects.get(title="BAD 500")
    assert "batch 3" in run.stderr and f"..{bad.pk}" in run.stderr
    assert "swapped" not in run.stdout
    after = meili.client().index(uid).get_documents({"limit": 1000}).results
    assert [d.title for d in after] == [d.title for d in before]  # untouched, not swapped
    assert _uids(meili, prefix) == {uid}  # the partial build was deleted


def test_verification_mismatch_is_not_swapped(meili, settings):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "DuplicateIdIndex"]
    make_posts(40)
    run = reindex("--json")
    assert run.code == 1
    [entry] = run.json["indexes"]
    assert not entry["ok"] and "holds 5 documents but 40 rows were sent" in entry["error"]
    assert _uids(meili, settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX) == set()


def test_a_running_rebuild_locks_the_index_and_a_leftover_is_cleaned(meili, settings):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    make_posts(30)
    prefix = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX
    lock_uid = prefix + "flat__rebuild"
    client = meili.client()
    client.wait_for_task(client.create_index(lock_uid, {"primaryKey": "id"}).task_uid)
    task = client.index(lock_uid).add_documents([{"id": 1, "title": "in progress"}])
    client.wait_for_task(task.task_uid)

    run = reindex()
    assert run.code == 3
    assert "Another rebuild of" in run.stderr and lock_uid in run.stderr
    assert _count(meili, lock_uid) == 1  # the other rebuild's index is left alone

    settings.DEPLOYKIT_SEARCH_LOCK_TIMEOUT = 0  # now it counts as an interrupted run's
    run = reindex()
    assert run.code == 0, run.stderr
    assert "left over by an interrupted rebuild" in run.stderr
    assert _uids(meili, prefix) == {prefix + "flat"}
    assert _count(meili, prefix + "flat") == 30


def test_in_place_rebuild(meili, settings):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    make_posts(25)
    assert reindex("--in-place").code == 0
    Post.objects.filter(pk__in=Post.objects.order_by("pk").values("pk")[:5]).delete()
    run = reindex("--in-place", "--json")
    assert run.code == 0, run.stderr
    assert run.json["indexes"][0]["mode"] == "in-place"
    prefix = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX
    assert _count(meili, prefix + "flat") == 20  # stale documents are gone
    assert _uids(meili, prefix) == {prefix + "flat"}


def test_dry_run_changes_nothing_and_check_detects_drift(meili, settings):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    make_posts(12)
    prefix = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX
    run = reindex("--dry-run")
    assert run.code == 0, run.stderr
    assert "would index 12 rows of blog.Post" in run.stdout
    assert "first document" in run.stdout and "does not exist yet" in run.stdout
    assert _uids(meili, prefix) == set()
    assert reindex("--check").code == 1  # no live index yet

    assert reindex().code == 0
    run = reindex("--check")
    assert run.code == 0 and "settings match" in run.stdout

    client = meili.client()
    task = client.index(prefix + "flat").update_settings({"sortableAttributes": ["title"]})
    client.wait_for_task(task.task_uid)
    run = reindex("--check", "--json")
    assert run.code == 1
    [entry] = run.json["indexes"]
    assert entry["drift"] == [
        {"setting": "sortableAttributes", "live": ["title"], "declared": ["published"]}
    ]
    run = reindex("--dry-run")
    assert "setting sortableAttributes: live ['title'] -> declared ['published']" in run.stdout
    assert reindex().code == 0
    assert reindex("--check").code == 0  # a rebuild re-applies the declaration
