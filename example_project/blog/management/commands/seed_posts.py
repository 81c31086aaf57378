"""Create a few hundred realistic blog posts (idempotent: existing slugs are kept)."""

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from blog.models import Post, Tag

TOPICS = [
    "Django",
    "Docker",
    "MariaDB",
    "PostgreSQL",
    "SQLite",
    "Meilisearch",
    "gunicorn",
    "nginx",
    "Celery",
    "Redis",
    "backups",
    "health checks",
    "Raspberry Pi",
    "migrations",
    "static files",
]
VERBS = [
    "Deploying",
    "Debugging",
    "Scaling",
    "Backing up",
    "Monitoring",
    "Upgrading",
    "Securing",
    "Containerizing",
    "Tuning",
    "Migrating",
]
ENDINGS = [
    "on a Raspberry Pi",
    "without downtime",
    "in production",
    "for a small team",
    "the boring way",
    "with one command",
    "on a single VM",
    "step by step",
]
SENTENCES = [
    "The first deploy is the easy part; the tenth is where habits matter.",
    "Keep secrets out of the image and out of the logs.",
    "A health endpoint that lies is worse than none at all.",
    "Microseconds matter when two rows were written in the same millisecond.",
    "Émoji like 🚀 and 🐍 need utf8mb4 on MariaDB, or they turn into question marks.",
    "Every backup is a rumour until it has been restored once.",
    "Run migrations once per deploy, never in every replica.",
    "Static files belong in the image, media files on a volume.",
    "Search should never be empty while the index is rebuilt.",
    "A read-only root filesystem catches writes nobody knew about.",
]
USERS = ["ada", "grace", "linus", "guido", "barbara"]


class Command(BaseCommand):
    help = "Create sample authors, tags and blog posts (default 300 posts)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=300, help="How many posts (default 300).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")

    @transaction.atomic
    def handle(self, *args, count, seed, **options):
        rng = random.Random(seed)
        user_model = get_user_model()
        authors = []
        for name in USERS:
            user, created = user_model.objects.get_or_create(username=name)
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            authors.append(user)
        tags = [
            Tag.objects.get_or_create(slug=slugify(topic), defaults={"name": topic})[0]
            for topic in TOPICS
        ]
        existing = set(Post.objects.values_list("slug", flat=True))
        now = timezone.now()
        created = 0
        for number in range(1, count + 1):
            # Draw every random value before the existence check, so a rerun sees
            # the same sequence and creates nothing twice.
            title = f"{rng.choice(VERBS)} {rng.choice(TOPICS)} {rng.choice(ENDINGS)} #{number}"
            paragraphs = [
                " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(3, 7)))
                for _ in range(rng.randint(2, 5))
            ]
            author = rng.choice(authors)
            age = timedelta(
                minutes=rng.randint(1, 60 * 24 * 365), microseconds=rng.randint(0, 999_999)
            )
            post_tags = rng.sample(tags, rng.randint(1, 3))
            slug = slugify(title)
            if slug in existing:
                continue
            post = Post.objects.create(
                title=title,
                slug=slug,
                body="\n\n".join(paragraphs),
                author=author,
                published=now - age,
            )
            post.tags.set(post_tags)
            created += 1
        self.stdout.write(f"Created {created} posts ({Post.objects.count()} in total).")
