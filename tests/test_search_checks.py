"""System checks deploykit.E040 and W040 (search)."""

from __future__ import annotations

from django_deploykit.search.checks import check_auto_update, check_search_indexes
from tests.search_test_indexes import HERE


def test_e040_invalid_index_declaration(settings):
    assert check_search_indexes() == []  # the example project's PostIndex is valid
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "MissingFieldIndex"]
    [error] = check_search_indexes()
    assert error.id == "deploykit.E040"
    assert "no field or attribute 'subtitle'" in error.msg


def test_w040_auto_update_without_meilisearch(settings):
    settings.DEPLOYKIT_SEARCH_AUTO_UPDATE = True
    settings.DEPLOYKIT_MEILISEARCH_URL = None
    assert [m.id for m in check_auto_update()] == ["deploykit.W040"]
    settings.DEPLOYKIT_MEILISEARCH_URL = "http://127.0.0.1:7700"
    assert check_auto_update() == []
