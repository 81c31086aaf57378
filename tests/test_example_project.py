"""The example site: pages, sample data, health, on SQLite and on real servers."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from blog.models import Post, Tag

pytestmark = pytest.mark.django_db


def seed(count=30, database="default"):
    out = StringIO()
    call_command("seed_posts", count=count, stdout=out)
    return out.getvalue()


def test_seed_posts_is_realistic_and_idempotent():
    assert "Created 30 posts" in seed()
    assert "Created 0 posts (30 in total)" in seed()
    post = Post.objects.first()
    assert post.tags.exists() and post.author.username
    assert len(post.body) > 100
    assert any(p.published.microsecond for p in Post.objects.all())
    assert Tag.objects.count() >= 10


def test_list_detail_and_search_pages(client):
    seed()
    response = client.get(reverse("blog:list"))
    assert response.status_code == 200
    first = Post.live.first()
    assert first.title.encode() in response.content
    detail = client.get(first.get_absolute_url())
    assert detail.status_code == 200 and first.title.encode() in detail.content
    word = first.title.split()[1]
    found = client.get(reverse("blog:list"), {"q": word})
    assert found.status_code == 200 and b"result" in found.content
    assert client.get("/posts/no-such-post/").status_code == 404


def test_future_posts_are_not_listed(client, django_user_model):
    author = django_user_model.objects.create(username="future")
    Post.objects.create(
        title="Tomorrow",
        slug="tomorrow",
        body="x",
        author=author,
        published=dt.datetime(2999, 1, 1, tzinfo=dt.timezone.utc),
    )
    assert b"Tomorrow" not in client.get("/").content


@pytest.mark.django_db(databases="__all__")
def test_health_is_wired(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["status"] in {"ok", "healthy", "pass"}


def _round_trip(alias):
    exact = dt.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=dt.timezone.utc)
    author = (
        Post._meta.get_field("author")
        .related_model.objects.using(alias)
        .create(username=f"emoji-{alias}")
    )
    post = Post.objects.using(alias).create(
        title="Deploy 🚀 with 🐍",
        slug=f"rt-{alias}",
        body="ünïcödé 🎉" * 50,
        author=author,
        published=exact,
    )
    again = Post.objects.using(alias).get(pk=post.pk)
    assert again.title == "Deploy 🚀 with 🐍"
    assert again.published == exact  # microseconds survive
    assert again.body == "ünïcödé 🎉" * 50


@pytest.mark.mariadb
@pytest.mark.django_db(databases=["default", "mariadb"])
def test_example_models_on_mariadb():
    _round_trip("mariadb")


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "postgres"])
def test_example_models_on_postgres():
    _round_trip("postgres")
