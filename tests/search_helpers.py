"""Helpers of the search tests: sample rows and running the command."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from blog.models import Post, Tag


def make_posts(count: int, *, start: int = 0, body_size: int = 200, title: str = "Post") -> None:
    """Create ``count`` published posts with two tags each, in a few queries."""
    author, _ = get_user_model().objects.get_or_create(username="ada")
    tags = [
        Tag.objects.get_or_create(slug=s, defaults={"name": s.title()})[0]
        for s in ("django", "docker", "search")
    ]
    now = timezone.now()
    words = ("deploy search index rebuild swap verify " * (body_size // 40 + 1))[:body_size]
    posts = Post.objects.bulk_create(
        Post(
            title=f"{title} {n}",
            slug=f"{title.lower().replace(' ', '-')}-{n}",
            body=f"{words} {n}",
            author=author,
            published=now - timedelta(minutes=n + 1),
        )
        for n in range(start, start + count)
    )
    Through = Post.tags.through
    Through.objects.bulk_create(
        Through(post_id=p.pk, tag_id=tags[i % 3].pk) for i, p in enumerate(posts)
    )
    Through.objects.bulk_create(
        Through(post_id=p.pk, tag_id=tags[(i + 1) % 3].pk) for i, p in enumerate(posts)
    )


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def reindex(*args: str) -> Run:
    """``manage.py reindex_search *args``, returning its exit code and output."""
    out, err = StringIO(), StringIO()
    try:
        call_command("reindex_search", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        err.write(str(exc))
        code = exc.returncode
    return Run(code, out.getvalue(), err.getvalue())
