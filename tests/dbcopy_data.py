"""Data helpers of the dbcopy tests (the fixtures live in tests/dbcopy_support.py)."""

from __future__ import annotations

import datetime
import decimal
import uuid

from tests.dbcopy_app import models as m

UTC = datetime.timezone.utc


def fill(alias: str) -> None:
    """A little of everything, with the values that lose precision elsewhere."""
    when = datetime.datetime(2024, 8, 6, 20, 34, 8, 463913, tzinfo=UTC)
    m.Everything.objects.using(alias).create(
        small_integer=-32768, integer=2**31 - 2, big_integer=-(2**63), positive_integer=7,
        positive_big_integer=2**63 - 1, positive_small_integer=32767, boolean=True,
        null_boolean=False, char="Zoë 🎉 ünïcødé", text="line\nbreak\ttab 'quote' \"dq\" \\ 🐍",
        slug="a-slug", email="bob@example.com", url="https://example.com/?q=1",
        ip="2001:db8::1", file="uploads/a.txt", file_path="/tmp/x", date=datetime.date(2020, 2, 29),
        datetime=when, time=datetime.time(23, 59, 59, 999999),
        duration=datetime.timedelta(days=3, seconds=5, microseconds=7),
        decimal=decimal.Decimal("-12345678.1234"), float=0.1 + 0.2,
        json={"b": [1, 2.5, None, True], "a": {"nested": "ü🎉"}}, binary=bytes(range(256)),
        uuid=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    )  # fmt: skip
    m.Everything.objects.using(alias).create()  # all NULLs and defaults
    m.SmallKey.objects.using(alias).create(name="small")
    m.UuidKey.objects.using(alias).bulk_create(
        [m.UuidKey(id=uuid.UUID(int=i * 7919), label=f"u{i}") for i in range(1, 6)]
    )
    tags = m.Tag.objects.using(alias).bulk_create(
        [m.Tag(name=n) for n in ("café", "Bob", "naïve", "x")]
    )
    authors = m.Author.objects.using(alias).bulk_create(
        [m.Author(name=f"A{i} ✍️") for i in range(3)]
    )
    for i in range(12):
        book = m.Book.objects.using(alias).create(
            author=authors[i % 3], title=f"Book {i}", body="ß" * 1000,
            price=decimal.Decimal("532.09") + i, published=when + datetime.timedelta(seconds=i),
        )  # fmt: skip
        book.tags.set(tags[: i % 4 + 1])
    root = m.Node.objects.using(alias).create(name="root")
    kid = m.Node.objects.using(alias).create(name="kid", parent=root)
    m.Node.objects.using(alias).create(name="grandkid", parent=kid)
    chicken = m.Chicken.objects.using(alias).create()
    egg = m.Egg.objects.using(alias).create(chicken=chicken)
    m.Chicken.objects.using(alias).filter(pk=chicken.pk).update(egg=egg)
    person = m.Person.objects.using(alias).create(name="P")
    club = m.Club.objects.using(alias).create(name="C")
    m.Membership.objects.using(alias).create(
        person=person, club=club, joined=datetime.date(2021, 1, 2)
    )
    restaurant = m.Restaurant.objects.using(alias).create(name="R", serves_pizza=True)
    ct = m.ContentType.objects.db_manager(alias).get_for_model(m.Restaurant)
    m.TaggedItem.objects.using(alias).create(content_type=ct, object_id=restaurant.pk, note="gfk")
    m.LongKey.objects.using(alias).create(code="k" * 800)


def rows(alias: str, model: type) -> list[tuple]:
    """Every row of ``model`` as Python values, by pk."""
    names = [f.attname for f in model._meta.local_concrete_fields]
    values = model._base_manager.using(alias).order_by("pk").values_list(*names)
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in values]


def present(alias: str, tables: list) -> list:
    """The tables that this database has (PostgresOnlyIndex exists on PostgreSQL only)."""
    from django.db import connections

    with connections[alias].cursor() as cursor:
        names = set(connections[alias].introspection.table_names(cursor))
    return [t for t in tables if t.name in names]


def app_models() -> list[type]:
    from django.apps import apps

    return [
        model
        for config in (apps.get_app_config("dbcopy_app"), apps.get_app_config("contenttypes"),
                       apps.get_app_config("auth"))
        for model in config.get_models(include_auto_created=True)
    ]  # fmt: skip
