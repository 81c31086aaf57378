"""Incremental updates on save/delete, and the example site's search box."""

from __future__ import annotations

import logging
import time

import pytest

from blog.models import Post, Tag
from tests.search_helpers import make_posts, reindex

pytestmark = pytest.mark.django_db


def _wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # bounded polling of the server
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _doc(index, pk):
    try:
        return index.get_document(pk)
    except Exception:
        return None


@pytest.mark.meilisearch
def test_auto_update_follows_saves_m2m_changes_and_deletes(
    meili, settings, django_capture_on_commit_callbacks
):
    make_posts(5)
    assert reindex().code == 0
    settings.DEPLOYKIT_SEARCH_AUTO_UPDATE = True
    index = meili.client().index(settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX + "posts")
    author = Post.objects.first().author
    with django_capture_on_commit_callbacks(execute=True):
        post = Post.objects.create(title="Fresh", slug="fresh", body="b", author=author)
    assert _wait_for(lambda: _doc(index, post.pk)).title == "Fresh"

    with django_capture_on_commit_callbacks(execute=True):
        post.title = "Renamed"
        post.save()
        post.tags.add(Tag.objects.get(slug="docker"))
    _wait_for(lambda: (d := _doc(index, post.pk)) and d.title == "Renamed" and d.tags)
    assert _doc(index, post.pk).tags == ["Docker"]

    pk = post.pk
    with django_capture_on_commit_callbacks(execute=True):
        post.delete()
    _wait_for(lambda: _doc(index, pk) is None)


def test_auto_update_is_off_by_default(settings, django_capture_on_commit_callbacks):
    settings.DEPLOYKIT_MEILISEARCH_URL = "http://127.0.0.1:1"
    make_posts(1)
    with django_capture_on_commit_callbacks() as callbacks:
        Post.objects.update(title="x")
        Post.objects.first().save()
    assert callbacks == []


def test_auto_update_failure_is_logged_never_raised(
    settings, django_capture_on_commit_callbacks, caplog
):
    settings.DEPLOYKIT_MEILISEARCH_URL = "http://127.0.0.1:1"
    settings.DEPLOYKIT_MEILISEARCH_MASTER_KEY = "s3cret-key"
    settings.DEPLOYKIT_SEARCH_AUTO_UPDATE = True
    make_posts(1)
    post = Post.objects.first()
    with (
        caplog.at_level(logging.ERROR, "django_deploykit.search"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        post.title = "Saved anyway"
        post.save()
    assert Post.objects.get(pk=post.pk).title == "Saved anyway"
    assert "Search index update failed for blog.Post" in caplog.text
    assert "s3cret" not in caplog.text


def test_search_box_uses_the_database_without_meilisearch(client, settings):
    settings.DEPLOYKIT_MEILISEARCH_URL = None
    make_posts(3)
    assert "1 result for" in client.get("/?q=Post 2").content.decode()
    assert "0 results for" in client.get("/?q=ada").content.decode()  # author: not in the DB search


def test_search_box_falls_back_to_the_database_when_meilisearch_is_down(client, settings):
    settings.DEPLOYKIT_MEILISEARCH_URL = "http://127.0.0.1:1"
    make_posts(3)
    assert "1 result for" in client.get("/?q=Post 2").content.decode()


@pytest.mark.meilisearch
def test_search_box_uses_meilisearch_when_configured(client, meili):
    make_posts(25)
    assert reindex().code == 0
    page = client.get("/?q=ada").content.decode()  # the author is searchable in Meilisearch
    assert "25 results for" in page and "Post 0" in page
    page = client.get("/?q=ada&page=2").content.decode()
    assert "page 2 of 2" in page
