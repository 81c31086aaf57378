"""The blog's Meilisearch index (built by ``manage.py reindex_search``)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from blog.models import Post
from django_deploykit.search import SearchIndex


class PostIndex(SearchIndex):
    name = "posts"  # the index uid is MEILISEARCH_INDEX_PREFIX + "posts"
    model = Post
    primary_key = "id"
    fields = ["id", "title", "slug", "body", "author", "tags", "published"]
    settings = {
        "searchableAttributes": ["title", "tags", "body", "author"],
        "filterableAttributes": ["author", "tags"],
        "sortableAttributes": ["published"],
    }

    def get_queryset(self) -> QuerySet[Post]:
        return Post.live.select_related("author").prefetch_related("tags")

    def prepare_author(self, post: Post) -> str:
        return post.author.get_username()

    def prepare_tags(self, post: Post) -> list[str]:
        return [tag.name for tag in post.tags.all()]

    def prepare_published(self, post: Post) -> Any:
        return int(post.published.timestamp())  # a number, so Meilisearch can sort on it
