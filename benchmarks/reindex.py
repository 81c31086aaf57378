"""Benchmark of reindex_search: client-side docs/s and peak memory for 100k posts.

    .venv/bin/python benchmarks/reindex.py [--rows 100000] [--batch-size 5000]

The database is a SQLite file in a temporary directory, filled with the example
blog's posts (two tags each). Meilisearch is ``DEPLOYKIT_TEST_MEILISEARCH_URL``
(+ ``_KEY``) when set, else the bundled Meilisearch-compatible *test* server
(tests/meilisearch_server.py, in its own process): the figures then measure
deploykit's side (reading, serializing, sending, task checks), not a real
engine's indexing speed. Goal: >= 10k docs/s for a flat model (haystack ~640).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "example_project")]


def configure(db_path: Path, url: str, key: str | None) -> None:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="benchmark",
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django_deploykit",
            "blog",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(db_path)}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        DEPLOYKIT_MEILISEARCH_URL=url,
        DEPLOYKIT_MEILISEARCH_MASTER_KEY=key,
        DEPLOYKIT_MEILISEARCH_INDEX_PREFIX=f"bench{int(time.time())}_",
        DEPLOYKIT_MEILISEARCH_TIMEOUT=60,
    )
    django.setup()


def seed(rows: int) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from blog.models import Post, Tag

    call_command("migrate", verbosity=0)
    author = get_user_model().objects.create(username="ada")
    tags = [Tag.objects.create(name=f"Tag {i}", slug=f"tag-{i}") for i in range(15)]
    now = timezone.now()
    body = "Search should never be empty while the index is rebuilt. " * 12
    through = Post.tags.through
    with transaction.atomic():
        for start in range(0, rows, 5000):
            posts = Post.objects.bulk_create(
                Post(
                    title=f"Deploying Django without downtime #{n}",
                    slug=f"post-{n}",
                    body=f"{body}{n}",
                    author=author,
                    published=now - timedelta(seconds=n + 1),
                )
                for n in range(start, min(start + 5000, rows))
            )
            through.objects.bulk_create(
                through(post_id=p.pk, tag_id=tags[(p.pk + k) % 15].pk)
                for p in posts
                for k in (0, 7)
            )


def flat_index() -> object:
    from blog.models import Post
    from django_deploykit.search import SearchIndex

    class FlatPostIndex(SearchIndex):
        name = "posts_flat"
        model = Post
        fields = ["id", "title", "slug", "body", "published"]
        settings = {"searchableAttributes": ["title", "body"]}

    return FlatPostIndex()


def run(index: object, batch_size: int) -> dict[str, float]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from django_deploykit.search.client import SearchClient
    from django_deploykit.search.reindex import rebuild

    client = SearchClient()
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = rebuild(index, client, batch_size=batch_size)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
    client.call(client.client.delete_index, result.uid)
    return {
        "docs": result.documents,
        "batches": result.batches,
        "seconds": seconds,
        "docs_per_s": result.documents / seconds,
        "queries": len(queries.captured_queries),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()

    url = os.environ.get("DEPLOYKIT_TEST_MEILISEARCH_URL", "").rstrip("/")
    key = os.environ.get("DEPLOYKIT_TEST_MEILISEARCH_KEY") or None
    server = None
    if not url:
        key = "benchmark-key"
        server = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "meilisearch_server.py"),
                "--port",
                "0",
                "--key",
                key,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline().split()[1])}"
    target = "the bundled Meilisearch-compatible test server" if server else f"Meilisearch {url}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            configure(Path(tmp) / "bench.sqlite3", url, key)
            started = time.perf_counter()
            seed(args.rows)
            print(
                f"seeded {args.rows:,} posts in {time.perf_counter() - started:.1f} s; "
                f"indexing into {target}, batch size {args.batch_size:,}"
            )
            from blog.search_indexes import PostIndex

            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"peak RSS before indexing: {rss_before:.0f} MB")
            for label, index in (
                ("flat model (no relations)", flat_index()),
                ("example PostIndex (select_related author, prefetch tags)", PostIndex()),
            ):
                r = run(index, args.batch_size)
                print(
                    f"{label}: {r['docs']:,.0f} docs in {r['seconds']:.2f} s = "
                    f"{r['docs_per_s']:,.0f} docs/s; {r['batches']:.0f} batches, "
                    f"{r['queries']:.0f} queries; peak RSS {r['peak_rss_mb']:.0f} MB"
                )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
