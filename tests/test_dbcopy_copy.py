"""dbcopy end to end on real servers: every field type, round trip, sequences, verification."""

from __future__ import annotations

import datetime
import decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections

from django_deploykit.dbcopy import Options, Progress, dbcopy
from django_deploykit.dbcopy.plan import build_plan
from django_deploykit.dbcopy.state import StateTable
from tests.dbcopy_app import models as m
from tests.dbcopy_data import app_models, fill, present, rows

pytest_plugins = ["tests.dbcopy_support"]
pytestmark = pytest.mark.usefixtures("db_access")


def assert_same(source: str, target: str) -> None:
    both = {t.name for t in present(source, build_plan().tables)} & {
        t.name for t in present(target, build_plan().tables)
    }
    for model in app_models():
        if model._meta.db_table in both:
            assert rows(source, model) == rows(target, model), model._meta.label


@pytest.mark.parametrize(
    "kind", [pytest.param("mariadb", marks=pytest.mark.mariadb),
             pytest.param("postgres", marks=pytest.mark.postgres)],
)  # fmt: skip
def test_every_field_type_copies_exactly(kind, make_sqlite, make_server_db, untouched):
    source, _ = make_sqlite()
    fill(source)
    untouched(source)
    target, _ = make_server_db(kind)
    result = dbcopy(source, target, Options())
    assert result.copied and result.verified, result.as_dict()
    assert_same(source, target)
    # Spot checks of what dumpdata/loaddata and naive copiers lose.
    row = m.Everything.objects.using(target).order_by("pk").first()
    assert row.datetime.microsecond == 463913
    assert row.decimal == decimal.Decimal("-12345678.1234")
    assert row.json == {"b": [1, 2.5, None, True], "a": {"nested": "ü🎉"}}
    assert bytes(row.binary) == bytes(range(256))
    assert row.char == "Zoë 🎉 ünïcødé"
    if hasattr(row, "generated"):  # Django >= 5.0
        assert row.generated == row.integer + 1  # the database computed it again
    item = m.TaggedItem.objects.using(target).get()
    assert item.content_object.name == "R"  # contenttypes kept their pks: the GFK resolves
    chicken = m.Chicken.objects.using(target).get()
    assert chicken.egg.chicken_id == chicken.pk
    assert not StateTable(connections[target]).exists()


@pytest.mark.mariadb
def test_round_trip_sqlite_mariadb_sqlite_is_identical(make_sqlite, make_server_db, untouched):
    source, _ = make_sqlite()
    fill(source)
    untouched(source)
    middle, _ = make_server_db("mariadb")
    back, _ = make_sqlite()
    assert dbcopy(source, middle, Options()).verified
    untouched(middle)
    assert dbcopy(middle, back, Options()).verified
    assert_same(source, back)
    # and byte for byte at the SQL level, table by table
    for table in present(back, build_plan().tables):
        sql = f'SELECT * FROM "{table.name}" ORDER BY 1'
        with connections[source].cursor() as a, connections[back].cursor() as b:
            a.execute(sql)
            b.execute(sql)
            assert a.fetchall() == b.fetchall(), table.name


@pytest.mark.parametrize(
    "kind", [pytest.param("mariadb", marks=pytest.mark.mariadb),
             pytest.param("postgres", marks=pytest.mark.postgres)],
)  # fmt: skip
def test_new_rows_get_new_ids_after_copy(kind, make_sqlite, make_server_db, untouched):
    source, _ = make_sqlite()
    fill(source)
    untouched(source)
    target, _ = make_server_db(kind)
    assert dbcopy(source, target, Options()).verified
    db = target
    author = m.Author.objects.using(db).create(name="new")
    assert author.pk > 3
    book = m.Book.objects.using(db).create(
        author=author,
        title="n",
        body="b",
        price=1,
        published=datetime.datetime.now(datetime.timezone.utc),
    )
    book.tags.add(m.Tag.objects.using(db).create(name="new tag"))
    m.Everything.objects.using(db).create()
    m.SmallKey.objects.using(db).create(name="s")
    m.Node.objects.using(db).create(name="n")
    m.Restaurant.objects.using(db).create(name="r2")
    m.Membership.objects.using(db).create(
        person=m.Person.objects.using(db).create(name="p2"),
        club=m.Club.objects.using(db).create(name="c2"), joined=datetime.date.today(),
    )  # fmt: skip
    m.ContentType.objects.using(db).create(app_label="x", model="y")
    # every table with a generated pk will hand out an id above the copied ones
    plan = build_plan()
    with connections[db].cursor() as cursor:
        for table in present(db, plan.tables):
            if table.pk.get_internal_type() not in ("AutoField", "BigAutoField", "SmallAutoField"):
                continue
            cursor.execute(f"SELECT MAX({table.pk.column}) FROM {table.name}")
            top = cursor.fetchone()[0] or 0
            if kind == "mariadb":
                cursor.execute(
                    "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", [table.name]
                )  # fmt: skip
                assert cursor.fetchone()[0] > top, table.name
            else:
                cursor.execute(
                    f"SELECT nextval(pg_get_serial_sequence('{table.name}', '{table.pk.column}'))"
                )
                assert cursor.fetchone()[0] > top, table.name


class Tamper(Progress):
    """Changes a copied row behind dbcopy's back, before verification runs."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def finish(self) -> None:
        m.Author.objects.using(self.alias).filter(name="A1 ✍️").update(name="changed")


@pytest.mark.mariadb
def test_verification_names_a_tampered_table(make_sqlite, make_server_db, untouched):
    source, _ = make_sqlite()
    fill(source)
    untouched(source)
    target, url = make_server_db("mariadb")
    result = dbcopy(source, target, Options(), progress=Tamper(target))
    assert result.copied and result.verified is False
    assert result.mismatches == ["dbcopy_app_author: same row count (3) but pk=2 differs"]
    # The target is marked: a plain rerun refuses instead of trusting it.
    assert StateTable(connections[target]).get("status") == "verify-failed"
    with pytest.raises(Exception) as exc:
        call_command("dbcopy", "--from", source, "--to", target, "--json", stdout=StringIO())
    assert exc.value.returncode == 2
    # --truncate starts over and succeeds.
    out = StringIO()
    call_command("dbcopy", "--from", source, "--to", target, "--truncate", "--no-input",
                 "--json", stdout=out)  # fmt: skip
    assert '"verified": true' in out.getvalue()


@pytest.mark.mariadb
def test_verification_finds_dangling_foreign_keys(make_sqlite, make_server_db, untouched):
    source, _ = make_sqlite()
    fill(source)
    untouched(source)
    target, _ = make_server_db("mariadb")

    class Dangle(Progress):
        def finish(self) -> None:
            with connections[target].cursor() as cursor:  # FK checks are off during the load
                cursor.execute("UPDATE dbcopy_app_book SET author_id = 999 WHERE id = 1")

    result = dbcopy(source, target, Options(), progress=Dangle())
    assert "dbcopy_app_book pk=1: author_id = 999 points to a missing" in result.mismatches[0]


@pytest.mark.postgres
def test_postgres_to_mariadb_and_back(make_sqlite, make_server_db, untouched):
    source, _ = make_sqlite()
    fill(source)
    untouched(source)
    pg, _ = make_server_db("postgres")
    maria, _ = make_server_db("mariadb")
    assert dbcopy(source, pg, Options()).verified
    untouched(pg)  # a server as the source: checksum-identical afterwards
    assert dbcopy(pg, maria, Options()).verified
    assert_same(source, maria)
