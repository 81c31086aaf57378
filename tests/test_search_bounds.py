"""reindex_search's costs: queries per batch, not per row; memory per batch, not per table."""

from __future__ import annotations

import tracemalloc

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from blog.models import Post
from django_deploykit.search.client import SearchClient
from django_deploykit.search.documents import iter_batches
from django_deploykit.search.indexes import get_index
from django_deploykit.search.reindex import rebuild
from tests.search_helpers import make_posts
from tests.search_test_indexes import HERE

pytestmark = pytest.mark.django_db


def test_keyset_batches_cover_every_row_once_in_pk_order():
    make_posts(23)
    index = get_index("posts")
    batches = list(iter_batches(index, 5))
    assert [b.count for b in batches] == [5, 5, 5, 5, 3]
    pks = list(Post.objects.order_by("pk").values_list("pk", flat=True))
    assert [(b.first_pk, b.last_pk) for b in batches] == [
        (pks[i], pks[min(i + 4, 22)]) for i in range(0, 23, 5)
    ]
    assert all(b"OFFSET" not in b.payload for b in batches)


def test_queries_grow_with_batches_not_rows(django_assert_max_num_queries):
    make_posts(300)
    index = get_index("posts")  # select_related("author") + prefetch_related("tags")
    with CaptureQueriesContext(connection) as ctx:
        batches = list(iter_batches(index, 50))
    assert len(batches) == 6
    # Per batch: the page (with its author join) + one prefetch query for the tags,
    # plus the empty page that ends a table whose size is a multiple of the batch.
    assert len(ctx.captured_queries) == 6 * 2 + 1
    assert all("OFFSET" not in q["sql"] for q in ctx.captured_queries)
    with django_assert_max_num_queries(2 * 3 + 1):
        list(iter_batches(index, 100))


@pytest.mark.meilisearch
def test_the_whole_rebuild_makes_o_batches_queries(meili, django_assert_max_num_queries):
    make_posts(200)
    with django_assert_max_num_queries(1 + 4 * 2 + 1):  # count + 4 batches x 2 + last page
        result = rebuild(get_index("posts"), SearchClient(), batch_size=50)
    assert result.documents == 200


def _peak_bytes(index, batch_size: int) -> int:
    client = SearchClient()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        rebuild(index, client, batch_size=batch_size)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.meilisearch
def test_memory_is_bounded_by_the_batch_not_the_table(meili, settings):
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    index = get_index("flat")
    body = 2000
    make_posts(400, body_size=body)
    small = _peak_bytes(index, 100)
    make_posts(1600, start=400, body_size=body)
    large = _peak_bytes(index, 100)
    table_bytes = 2000 * body
    # Five times the rows, about the same peak; far below the table's text.
    assert large < small * 1.5, (small, large)
    assert large < table_bytes / 2, (large, table_bytes)
