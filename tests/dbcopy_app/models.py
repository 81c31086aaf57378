"""Test-only models for dbcopy: every field type Django ships and the awkward relations."""

from __future__ import annotations

import django
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import F


class Everything(models.Model):
    small_integer = models.SmallIntegerField(null=True)
    integer = models.IntegerField(default=0)
    big_integer = models.BigIntegerField(null=True)
    positive_integer = models.PositiveIntegerField(null=True)
    positive_big_integer = models.PositiveBigIntegerField(null=True)
    positive_small_integer = models.PositiveSmallIntegerField(null=True)
    boolean = models.BooleanField(default=False)
    null_boolean = models.BooleanField(null=True)
    char = models.CharField(max_length=40, blank=True)
    text = models.TextField(blank=True)
    slug = models.SlugField(blank=True)
    email = models.EmailField(blank=True)
    url = models.URLField(blank=True)
    ip = models.GenericIPAddressField(null=True)
    file = models.FileField(blank=True)
    file_path = models.FilePathField(path="/tmp", blank=True)
    date = models.DateField(null=True)
    datetime = models.DateTimeField(null=True)
    time = models.TimeField(null=True)
    duration = models.DurationField(null=True)
    decimal = models.DecimalField(max_digits=12, decimal_places=4, null=True)
    float = models.FloatField(null=True)
    json = models.JSONField(null=True)
    binary = models.BinaryField(null=True)
    uuid = models.UUIDField(null=True)
    if django.VERSION >= (5, 0):  # GeneratedField is new in Django 5.0
        generated = models.GeneratedField(
            expression=F("integer") + 1, output_field=models.IntegerField(), db_persist=True
        )


class SmallKey(models.Model):
    id = models.SmallAutoField(primary_key=True)
    name = models.CharField(max_length=20)


class UuidKey(models.Model):
    id = models.UUIDField(primary_key=True)
    label = models.CharField(max_length=20)


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)


class Author(models.Model):
    name = models.CharField(max_length=100)


class Book(models.Model):
    author = models.ForeignKey(Author, models.CASCADE)
    title = models.CharField(max_length=200)
    body = models.TextField()
    price = models.DecimalField(max_digits=8, decimal_places=2)
    published = models.DateTimeField()
    tags = models.ManyToManyField(Tag, blank=True)


class Node(models.Model):
    parent = models.ForeignKey("self", models.CASCADE, null=True)
    name = models.CharField(max_length=20)


class Chicken(models.Model):  # Chicken -> Egg -> Chicken: an FK cycle
    egg = models.ForeignKey("Egg", models.SET_NULL, null=True, related_name="+")


class Egg(models.Model):
    chicken = models.ForeignKey(Chicken, models.CASCADE, null=True, related_name="+")


class Person(models.Model):
    name = models.CharField(max_length=50)


class Club(models.Model):
    name = models.CharField(max_length=50)
    members = models.ManyToManyField(Person, through="Membership")


class Membership(models.Model):
    person = models.ForeignKey(Person, models.CASCADE)
    club = models.ForeignKey(Club, models.CASCADE)
    joined = models.DateField()


class TaggedItem(models.Model):
    content_type = models.ForeignKey(ContentType, models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    content_object = GenericForeignKey()
    note = models.CharField(max_length=50)


class Place(models.Model):
    name = models.CharField(max_length=50)


class Restaurant(Place):  # multi-table inheritance: the child's pk is an FK
    serves_pizza = models.BooleanField(default=False)


class LongKey(models.Model):  # over InnoDB's key limit: MariaDB makes it a HASH index
    code = models.CharField(max_length=800, unique=True)


# The shapes real projects have and that broke dbcopy (issue 13).


class AuditEntry(models.Model):
    """Keeps the id of a deleted author on purpose, like an audit log: no FK constraint."""

    author = models.ForeignKey(Author, models.DO_NOTHING, db_constraint=False, null=True)
    action = models.CharField(max_length=20)


class Voucher(models.Model):
    code = models.CharField(max_length=20, unique=True, null=True)  # many NULLs, no duplicates


class SearchVectorField(models.TextField):
    """A search app's column: a tsvector on PostgreSQL, plain text elsewhere."""

    def db_type(self, connection):  # type: ignore[no-untyped-def]
        return "tsvector" if connection.vendor == "postgresql" else super().db_type(connection)


class SearchEntry(models.Model):
    title = models.CharField(max_length=100)
    body = SearchVectorField()


class Flag(models.Model):
    """Filled by a data migration (0003), like a CMS's root page or default locale."""

    name = models.CharField(max_length=50, unique=True)
    on = models.BooleanField(default=False)


class PostgresOnlyIndex(models.Model):
    """Its table exists on PostgreSQL only (migration 0004), like Wagtail's search
    index tables that each database backend builds for itself."""

    document = models.CharField(max_length=100)
