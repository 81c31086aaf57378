from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from blog.models import Post
from django_deploykit.search.query import SearchUnavailable, search_pks


def post_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    posts = Post.live.select_related("author").prefetch_related("tags")
    if query:
        try:  # Meilisearch when configured; the database when not, or when it fails
            pks = search_pks("posts", query)
        except SearchUnavailable:
            posts = posts.filter(Q(title__icontains=query) | Q(body__icontains=query))
        else:  # page through the ranked hits, load only the page's posts
            page = Paginator(pks, 20).get_page(request.GET.get("page"))
            by_pk = posts.in_bulk(page.object_list)
            page.object_list = [by_pk[pk] for pk in page.object_list if pk in by_pk]
            return render(request, "blog/post_list.html", {"page": page, "query": query})
    page = Paginator(posts, 20).get_page(request.GET.get("page"))
    return render(request, "blog/post_list.html", {"page": page, "query": query})


def post_detail(request: HttpRequest, slug: str) -> HttpResponse:
    post = get_object_or_404(Post.live.select_related("author").prefetch_related("tags"), slug=slug)
    return render(request, "blog/post_detail.html", {"post": post})
