"""reindex_search's configuration errors: clear message, exit 2, nothing changed."""

from __future__ import annotations

import socket

import pytest

from tests.search_helpers import make_posts, reindex
from tests.search_test_indexes import HERE

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends


def test_search_not_configured(settings):
    settings.DEPLOYKIT_MEILISEARCH_URL = None
    run = reindex()
    assert run.code == 2
    assert "set DEPLOYKIT_MEILISEARCH_URL" in run.stderr


def test_unreachable_server_names_the_url_and_never_the_key(settings):
    url = f"http://127.0.0.1:{_closed_port()}"
    settings.DEPLOYKIT_MEILISEARCH_URL = url
    settings.DEPLOYKIT_MEILISEARCH_MASTER_KEY = "s3cret-master-key"
    run = reindex()
    assert run.code == 2
    assert f"Meilisearch at {url} is unreachable (Connection refused)" in run.stderr
    assert "s3cret" not in run.stderr + run.stdout


@pytest.mark.meilisearch
def test_bad_key(meili, settings):
    if not meili.key:
        pytest.skip("the configured Meilisearch server runs without a master key")
    settings.DEPLOYKIT_MEILISEARCH_MASTER_KEY = "not-the-key"
    run = reindex()
    assert run.code == 2
    assert "rejected the API key (invalid_api_key)" in run.stderr
    assert "not-the-key" not in run.stderr
    settings.DEPLOYKIT_MEILISEARCH_MASTER_KEY = None
    run = reindex()
    assert run.code == 2 and "missing_authorization_header" in run.stderr


@pytest.mark.meilisearch
def test_unknown_index(meili):
    run = reindex("--index", "posts", "--index", "nope")
    assert run.code == 2
    assert "Unknown search index 'nope'. Declared indexes: posts." in run.stderr


@pytest.mark.meilisearch
def test_model_without_the_declared_field_is_refused_before_anything_is_sent(meili, settings):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex", HERE + "MissingFieldIndex"]
    make_posts(3)
    run = reindex()
    assert run.code == 2
    assert "model blog.Post has no field or attribute 'subtitle'" in run.stderr
    prefix = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX
    uids = [i["uid"] for i in meili.client().get_raw_indexes({"limit": 1000})["results"]]
    assert not [u for u in uids if u.startswith(prefix)]  # not even the valid index


def test_index_setting_that_cannot_be_imported(settings):
    settings.DEPLOYKIT_MEILISEARCH_URL = "http://127.0.0.1:1"
    settings.DEPLOYKIT_SEARCH_INDEXES = ["tests.nowhere.Index"]
    run = reindex()
    assert run.code == 2 and "'tests.nowhere.Index', which cannot be imported" in run.stderr


def test_bad_batch_size(settings):
    settings.DEPLOYKIT_MEILISEARCH_URL = "http://127.0.0.1:1"
    run = reindex("--batch-size", "0")
    assert run.code == 2 and "--batch-size must be at least 1" in run.stderr
