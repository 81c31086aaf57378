import contextlib

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from blog.models import Post
from django_deploykit.search.query import SearchUnavailable, search_page

PER_PAGE = 20
# Meilisearch returns hits up to its maxTotalHits setting (1000 by default): pages
# beyond it cannot be fetched, though the count of all matches is still reported.
MAX_REACHABLE_HITS = 1000


class _Hits:
    """What Paginator needs from a search: a count and the already loaded page."""

    def __init__(self, total: int, posts: list[Post]) -> None:
        self.total, self.posts = total, posts

    def count(self) -> int:
        return min(self.total, MAX_REACHABLE_HITS)

    def __getitem__(self, _slice: slice) -> list[Post]:
        return self.posts


def post_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    posts = Post.live.select_related("author").prefetch_related("tags")
    if query:
        try:  # Meilisearch when configured; the database when not, or when it fails
            return _search(request, query, posts)
        except SearchUnavailable:
            posts = posts.filter(Q(title__icontains=query) | Q(body__icontains=query))
    page = Paginator(posts, PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "query": query, "total": page.paginator.count}
    return render(request, "blog/post_list.html", context)


def _search(request: HttpRequest, query: str, posts) -> HttpResponse:
    """Ask Meilisearch for one page of ranked hits, then load only that page's posts."""
    number = 1
    with contextlib.suppress(ValueError):
        number = max(1, int(request.GET.get("page") or 1))
    hits = search_page("posts", query, page=number, per_page=PER_PAGE)
    paginator = Paginator(_Hits(hits.total, []), PER_PAGE)
    page_number = paginator.get_page(number).number
    if page_number != number:  # past the last page: show the last one, as Paginator does
        hits = search_page("posts", query, page=page_number, per_page=PER_PAGE)
    by_pk = posts.in_bulk(hits.pks)
    page = Paginator(_Hits(hits.total, [by_pk[pk] for pk in hits.pks if pk in by_pk]), PER_PAGE)
    context = {"page": page.get_page(page_number), "query": query, "total": hits.total}
    return render(request, "blog/post_list.html", context)


def post_detail(request: HttpRequest, slug: str) -> HttpResponse:
    post = get_object_or_404(Post.live.select_related("author").prefetch_related("tags"), slug=slug)
    return render(request, "blog/post_detail.html", {"post": post})
