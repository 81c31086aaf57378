"""Search index declarations used by the search tests (listed in DEPLOYKIT_SEARCH_INDEXES)."""

from __future__ import annotations

from typing import Any

from blog.models import Post
from django_deploykit.search import SearchIndex

HERE = "tests.search_test_indexes."


class FlatPostIndex(SearchIndex):
    """A flat model: no relation is followed."""

    name = "flat"
    model = Post
    fields = ["id", "title", "slug", "body", "published"]
    settings = {"searchableAttributes": ["title", "body"], "sortableAttributes": ["published"]}


class BadIdIndex(FlatPostIndex):
    """Rows titled "BAD ..." get a document id Meilisearch rejects (invalid_document_id)."""

    name = "badid"

    def prepare_id(self, post: Post) -> Any:
        return f"bad id {post.pk}" if post.title.startswith("BAD") else post.pk


class DuplicateIdIndex(FlatPostIndex):
    """A primary key that is not unique: fewer documents than rows (verification fails)."""

    name = "dupid"

    def prepare_id(self, post: Post) -> Any:
        return post.pk % 5


class MissingFieldIndex(FlatPostIndex):
    name = "missing"
    fields = ["id", "title", "subtitle"]
