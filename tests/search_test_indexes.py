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


class SecondFlatIndex(FlatPostIndex):
    """A second index, to see what a run does with the indexes after a failing one."""

    name = "flat2"


class NormalisedSettingsIndex(FlatPostIndex):
    """Settings a real Meilisearch stores in another form than they are sent."""

    name = "normalised"
    settings = {
        "searchableAttributes": ["title", "body"],
        "sortableAttributes": ["title", "published"],  # stored sorted
        "displayedAttributes": ["*", "title"],  # a wildcard list is stored as ["*"]
        "stopWords": ["the", "of", "ﬁn"],  # stored sorted, NFKD ("ﬁ" ligature -> "fi")
        "typoTolerance": {
            "disableOnWords": ["iPhone", "Android"],  # stored lower-cased, sorted
            "disableOnAttributes": ["title", "body"],  # stored sorted
            "minWordSizeForTypos": {"oneTypo": 4},  # merged: twoTypos keeps its value
        },
        "faceting": {"sortFacetValuesBy": {"title": "count"}},  # merged with "*": "alpha"
        "pagination": {"maxTotalHits": 500},
    }


class HiddenPkIndex(FlatPostIndex):
    """displayedAttributes leaves the primary key out (searches cannot return it)."""

    name = "hiddenpk"
    settings = {"displayedAttributes": ["title", "body"]}
