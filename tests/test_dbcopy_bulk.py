"""The streamed bulk path (LOAD DATA LOCAL INFILE / COPY FROM STDIN) on real servers:
which tables take it, exact values, verification by server aggregates, no half copy."""

from __future__ import annotations

import datetime
import decimal
import hashlib
import os
import zlib
from collections.abc import Callable

import pytest
from django.db import connections

from django_deploykit.dbcopy import Options, Progress, dbcopy
from django_deploykit.dbcopy.backends import adapter_for
from django_deploykit.dbcopy.bulk import TableLoad, prepare
from django_deploykit.dbcopy.plan import Table, build_plan
from django_deploykit.dbcopy.preflight import vendor_only_tables
from django_deploykit.dbcopy.state import StateTable
from tests.dbcopy_app import models as m
from tests.dbcopy_data import UTC, fill, rows

pytest_plugins = ["tests.dbcopy_support"]
pytestmark = pytest.mark.usefixtures("db_access")

BOTH = [pytest.param("mariadb", marks=pytest.mark.mariadb),
        pytest.param("postgres", marks=pytest.mark.postgres)]  # fmt: skip
STREAMED = {"dbcopy_app_tag", "dbcopy_app_author", "dbcopy_app_book", "dbcopy_app_book_tags"}
# Text that a tab-separated stream could mistake for its own syntax.
HOSTILE = [
    "tab\there", "new\nline", "cr\rlf\r\n", "back\\slash\\", "\\N", "\\\\N", "\\", "",
    "end\\", "\\t not a tab", "Zoë 🎉 ✍️ 𝄞", "'quotes' \"double\" `back`", "a,b;c|d",
]  # fmt: skip


def fill_hostile(alias: str) -> None:
    fill(alias)
    authors = m.Author.objects.using(alias).bulk_create([m.Author(name=n) for n in HOSTILE])
    stamps = [
        datetime.datetime(2024, 1, 1, 0, 0, 0, 0, tzinfo=UTC),  # stored without a fraction
        datetime.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime.datetime(2024, 2, 29, 12, 0, 0, 1, tzinfo=UTC),
        datetime.datetime(1, 1, 1, 0, 0, 0, 10, tzinfo=UTC),
    ]
    prices = ["0.00", "-0.01", "999999.99", "-999999.99", "0.10", "123456.78"]
    m.Book.objects.using(alias).bulk_create(
        m.Book(author=authors[i % len(authors)], title=text, body=text * 50,
               price=decimal.Decimal(prices[i % len(prices)]),
               published=stamps[i % len(stamps)])
        for i, text in enumerate(HOSTILE)
    )  # fmt: skip


def streamed(source: str, target: str) -> set[str]:
    src, dst = adapter_for(connections[source]), adapter_for(connections[target])
    plan = build_plan()
    plan = plan.without(set(vendor_only_tables(plan, src, dst)))  # as dbcopy does
    return set(prepare(plan.tables, src, dst)[0])


@pytest.mark.parametrize("kind", BOTH)
def test_streamed_tables_are_exact_and_verified(kind, make_sqlite, make_server_db):
    source, _ = make_sqlite()
    fill_hostile(source)
    if kind == "mariadb":  # PostgreSQL text cannot hold a NUL (pre-flight refuses it)
        author = m.Author.objects.using(source).create(name="nul\0inside\\0 and\t\0🎉")
        m.Book.objects.using(source).create(  # a long text: escaped in Python, not SQLite
            author=author, title="nul", body="\0 a NUL\\0, tabs\t\t\\t 🎉\0" * 40,
            price=decimal.Decimal("1.50"), published=datetime.datetime(2024, 1, 1, tzinfo=UTC),
        )  # fmt: skip
    target, _ = make_server_db(kind)
    assert streamed(source, target) >= STREAMED  # the path under test is the one taken
    result = dbcopy(source, target, Options())
    assert result.copied and result.verified, result.as_dict()
    for model in (m.Tag, m.Author, m.Book, m.Book.tags.through):
        assert rows(source, model) == rows(target, model), model._meta.label
    names = set(m.Author.objects.using(target).values_list("name", flat=True))
    assert set(HOSTILE) <= names
    book = m.Book.objects.using(target).get(title="new\nline")
    assert book.published == datetime.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert book.price == decimal.Decimal("-0.01")
    assert m.Book.objects.using(target).get(title="\\N").body == "\\N" * 50


@pytest.mark.mariadb
def test_a_value_the_server_changes_is_not_a_silent_half_copy(make_sqlite, make_server_db):
    """LOAD DATA LOCAL turns refused rows into warnings (duplicates are skipped): the
    table fails and its transaction is rolled back instead."""
    source, _ = make_sqlite()
    fill(source)
    m.Book.objects.using(source).filter(title="Book 3").update(title="Book 2")
    target, _ = make_server_db("mariadb")
    with connections[target].cursor() as cursor:  # a rule only the target has
        cursor.execute("CREATE UNIQUE INDEX only_here ON dbcopy_app_book (title)")
    with pytest.raises(Exception, match="rows|skipped|Duplicate"):
        dbcopy(source, target, Options())
    assert m.Book.objects.using(target).count() == 0
    assert StateTable(connections[target]).exists()  # marked unfinished, not as done
    assert "dbcopy_app_book" not in StateTable(connections[target]).done()


@pytest.mark.mariadb
def test_verification_sees_a_value_changed_after_the_stream(make_sqlite, make_server_db):
    source, _ = make_sqlite()
    fill_hostile(source)
    target, _ = make_server_db("mariadb")

    class Tamper(Progress):
        def finish(self) -> None:  # microseconds lost behind dbcopy's back
            with connections[target].cursor() as cursor:
                cursor.execute(
                    "UPDATE dbcopy_app_book SET published = "
                    "DATE_FORMAT(published, '%Y-%m-%d %H:%i:%s') WHERE id = 2"
                )

    result = dbcopy(source, target, Options(), progress=Tamper())
    assert result.verified is False
    assert "dbcopy_app_book: same row count" in " ".join(result.mismatches)


@pytest.mark.mariadb
def test_server_without_local_infile_falls_back_and_says_so(make_sqlite, make_server_db):
    source, _ = make_sqlite()
    fill(source)
    target, _ = make_server_db("mariadb")
    from tests.dbcopy_support import forget, register

    admin = register(os.environ["DEPLOYKIT_TEST_MARIADB_URL"], "admin")
    with connections[admin].cursor() as cursor:
        # The setting is server-wide: checkouts sharing the server take turns at it.
        cursor.execute("SELECT GET_LOCK('deploykit_test_local_infile', 120)")
        cursor.execute("SELECT @@GLOBAL.local_infile")
        (before,) = cursor.fetchone()
        cursor.execute("SET GLOBAL local_infile = 0")
        try:
            connections[target].close()
            assert streamed(source, target) == set()
            result = dbcopy(source, target, Options())
        finally:
            cursor.execute(f"SET GLOBAL local_infile = {int(before)}")
            cursor.execute("SELECT RELEASE_LOCK('deploykit_test_local_infile')")
    forget(admin)
    assert result.copied and result.verified
    assert "local_infile" in [p.code for p in result.problems if p.severity == "warning"]
    assert rows(source, m.Book) == rows(target, m.Book)


@pytest.mark.mariadb
def test_local_infile_turned_off_during_the_copy_falls_back_to_inserts(make_sqlite, make_server_db):
    from tests.dbcopy_support import forget, register

    source, _ = make_sqlite()
    fill_hostile(source)
    target, _ = make_server_db("mariadb")
    admin = register(os.environ["DEPLOYKIT_TEST_MARIADB_URL"], "admin")

    class TurnOff(Progress):
        def start(self, table, total) -> None:  # after dbcopy found it on
            if table.name == "dbcopy_app_book":
                with connections[admin].cursor() as cursor:
                    cursor.execute("SET GLOBAL local_infile = 0")

    with connections[admin].cursor() as cursor:
        cursor.execute("SELECT GET_LOCK('deploykit_test_local_infile', 120)")
        cursor.execute("SELECT @@GLOBAL.local_infile")
        (before,) = cursor.fetchone()
        try:
            result = dbcopy(source, target, Options(), progress=TurnOff())
        finally:
            cursor.execute(f"SET GLOBAL local_infile = {int(before)}")
            cursor.execute("SELECT RELEASE_LOCK('deploykit_test_local_infile')")
    forget(admin)
    assert result.copied and result.verified, result.as_dict()
    assert rows(source, m.Book) == rows(target, m.Book)
    assert rows(source, m.Book.tags.through) == rows(target, m.Book.tags.through)


@pytest.mark.mariadb
def test_a_write_to_the_source_during_the_copy_cannot_leave_a_dangling_reference(
    make_sqlite, make_server_db
):
    """The streamed tables are read in one snapshot, the one whose FKs were checked (so
    the target's anti-joins are skipped): a reference broken by the site half-way
    through the copy is not in it."""
    import sqlite3

    source, url = make_sqlite()
    fill(source)
    path = url.removeprefix("sqlite:///")
    connections[source].close()
    site = sqlite3.connect(path, isolation_level=None)
    site.execute("PRAGMA journal_mode = WAL")  # the site's writes go on beside a reader
    first = m.Book.objects.using(source).order_by("pk").first()
    target, _ = make_server_db("mariadb")

    class SiteWrites(Progress):
        def start(self, table, total) -> None:  # after the FK check, before the book rows
            if table.name == "dbcopy_app_book":
                site.execute("UPDATE dbcopy_app_book SET author_id = 999999 WHERE id = ?",
                             [first.pk])  # fmt: skip

    result = dbcopy(source, target, Options(), progress=SiteWrites())
    site.close()
    assert result.copied and result.verified, result.as_dict()
    assert m.Book.objects.using(target).get(pk=first.pk).author_id == first.author_id
    assert (
        not m.Book.objects.using(target)
        .exclude(author_id__in=m.Author.objects.using(target).values("pk"))
        .exists()
    )


def _foreign_keys(alias: str) -> list[tuple]:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), "
            "condeferrable, condeferred, convalidated FROM pg_constraint "
            "WHERE contype = 'f' ORDER BY 1, 2"
        )
        return cursor.fetchall()


@pytest.mark.postgres
def test_postgres_foreign_keys_come_back_as_they_were(make_sqlite, make_server_db):
    """The FK constraints are taken off each group's tables inside its transaction and
    added back (validated) before its commit: after a copy, and after a failed one, the
    target has exactly the constraints it had."""
    source, _ = make_sqlite()
    fill_hostile(source)
    target, _ = make_server_db("postgres")
    before = _foreign_keys(target)
    assert any(name == "dbcopy_app_book_tags" for name, *_ in before)
    result = dbcopy(source, target, Options())
    assert result.copied and result.verified, result.as_dict()
    assert _foreign_keys(target) == before

    failing, _ = make_server_db("postgres")
    with connections[failing].cursor() as cursor:  # a rule only the target has
        cursor.execute("CREATE UNIQUE INDEX only_here ON dbcopy_app_book_tags (tag_id)")
    with pytest.raises(Exception, match="dbcopy_app_book_tags"):
        dbcopy(source, failing, Options())
    assert _foreign_keys(failing) == _foreign_keys(target)
    assert m.Book.objects.using(failing).count() > 0  # earlier groups stayed
    assert not m.Book.tags.through.objects.using(failing).exists()


@pytest.mark.mariadb
def test_a_reference_broken_after_the_preflight_is_found(make_sqlite, make_server_db):
    """The pre-flight's FK check stands for the copy only while the source is unchanged
    (PRAGMA data_version): a commit in between makes the copy check again."""
    import sqlite3

    source, url = make_sqlite()
    fill(source)
    first = m.Book.objects.using(source).order_by("pk").first()
    target, _ = make_server_db("mariadb")

    def site_writes(message: str) -> bool:  # between the pre-flight and the copy
        site = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        site.execute("UPDATE dbcopy_app_book SET author_id = 999999 WHERE id = ?", [first.pk])
        site.close()
        return True

    result = dbcopy(source, target, Options(truncate=True, confirm=site_writes))
    assert result.copied and not result.verified
    assert any(
        f"dbcopy_app_book pk={first.pk}: author_id = 999999" in line for line in result.mismatches
    ), result.mismatches


def _swap_titles(alias: str) -> None:
    first, second = m.Book.objects.using(alias).order_by("pk")[:2]
    m.Book.objects.using(alias).filter(pk=first.pk).update(title=second.title)
    m.Book.objects.using(alias).filter(pk=second.pk).update(title=first.title)


def _move_a_tab(alias: str) -> None:
    m.Book.objects.using(alias).filter(title="tab\there").update(title="ta\tbhere")


def _copy_another_row(alias: str) -> None:
    other = m.Book.objects.using(alias).order_by("pk")[2]
    m.Book.objects.using(alias).filter(pk=other.pk - 1).update(
        author=other.author_id, title=other.title, body=other.body, price=other.price,
        published=other.published,
    )  # fmt: skip


def _lose_a_row(alias: str) -> None:
    through = m.Book.tags.through.objects.using(alias)
    through.filter(pk=through.order_by("-pk")[0].pk).delete()


def _change_one_byte(alias: str) -> None:
    book = m.Book.objects.using(alias).order_by("pk")[0]
    m.Book.objects.using(alias).filter(pk=book.pk).update(body="#" + book.body[1:])


def _lose_microseconds(alias: str) -> None:
    book = m.Book.objects.using(alias).order_by("pk")[1]
    assert book.published.microsecond
    m.Book.objects.using(alias).filter(pk=book.pk).update(
        published=book.published.replace(microsecond=0)
    )


CHANGES = {
    "swapped titles": ("dbcopy_app_book", _swap_titles),
    "a tab moved": ("dbcopy_app_book", _move_a_tab),
    "a copy of another row": ("dbcopy_app_book", _copy_another_row),
    "a row lost": ("dbcopy_app_book_tags", _lose_a_row),
    "one byte": ("dbcopy_app_book", _change_one_byte),
    "microseconds lost": ("dbcopy_app_book", _lose_microseconds),
}


@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("kind", BOTH)
def test_verification_sees_every_change_to_streamed_rows(kind, change, make_sqlite,
                                                         make_server_db):  # fmt: skip
    """A change made to a streamed table inside its own transaction, after its rows were
    sent and hashed, is committed with it: the server's digest must differ."""
    source, _ = make_sqlite()
    fill_hostile(source)
    target, _ = make_server_db(kind)
    assert streamed(source, target) >= STREAMED
    table, tamper = CHANGES[change]

    class Tamper(Progress):
        def start(self, table: Table, total: int) -> None:
            self.table = table.name

        def finish(self) -> None:
            if self.table == table:
                tamper(target)

    result = dbcopy(source, target, Options(), progress=Tamper())
    assert result.copied and result.verified is False, result.as_dict()
    assert any(mismatch.startswith(f"{table}:") for mismatch in result.mismatches), (
        result.mismatches
    )


def _titles_a_crc32_sum_cannot_tell_apart(line: Callable[[int, str], bytes]) -> tuple[str, str]:
    """Two titles whose swap between rows 1 and 2 leaves the sum of the rows' CRC32s as
    it was. CRC32 is affine: for titles of one length crc(row 1) XOR crc(row 2) is the
    same whatever the title, so crc(row 1) - crc(row 2) takes only 2^(bits set) values,
    and two titles among a few thousand share one."""
    seen: dict[int, str] = {}
    for i in range(20000):
        title = hashlib.sha1(str(i).encode()).hexdigest()
        gap = zlib.crc32(line(1, title)) - zlib.crc32(line(2, title))
        if gap in seen:
            return seen[gap], title
        seen[gap] = title
    raise AssertionError("no pair found")


@pytest.mark.mariadb
def test_values_swapped_where_a_sum_of_crc32s_cancels_out_are_seen(make_sqlite, make_server_db):
    source, _ = make_sqlite()
    target, _ = make_server_db("mariadb")
    author = m.Author.objects.using(source).create(name="A")
    when = datetime.datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    spec = streaming_spec(source, target, "dbcopy_app_book")
    text = {"author_id": str(author.pk), "body": "b", "price": "1.00",
            "published": "2024-01-01 12:00:00.123456"}  # fmt: skip

    def line(pk: int, title: str) -> bytes:
        values = {**text, "id": str(pk), "title": title}
        return "\t".join(values[column] for column in spec.columns).encode()

    first, second = _titles_a_crc32_sum_cannot_tell_apart(line)
    m.Book.objects.using(source).bulk_create(
        m.Book(pk=pk, author=author, title=title, body="b", price=decimal.Decimal("1.00"),
               published=when)
        for pk, title in ((1, first), (2, second))
    )  # fmt: skip
    plain_sum = (
        "SELECT SUM(CRC32(CONCAT_WS(CHAR(9), "
        + ", ".join(f"IFNULL({r}, CONCAT(CHAR(92), 'N'))" for r in spec.renders)
        + "))) FROM dbcopy_app_book"
    )
    sums = []

    class Swap(Progress):
        def start(self, table: Table, total: int) -> None:
            self.table = table.name

        def finish(self) -> None:
            if self.table != "dbcopy_app_book":
                return
            with connections[target].cursor() as cursor:
                cursor.execute(plain_sum)
                sums.append(cursor.fetchone()[0])
                _swap_titles(target)
                cursor.execute(plain_sum)
                sums.append(cursor.fetchone()[0])

    result = dbcopy(source, target, Options(), progress=Swap())
    assert sums[0] == sums[1]  # a digest of plain CRC32 sums would have passed the swap
    assert m.Book.objects.using(target).get(pk=1).title == second
    assert result.verified is False
    assert any(mismatch.startswith("dbcopy_app_book:") for mismatch in result.mismatches)


def streaming_spec(source: str, target: str, table: str) -> TableLoad:
    src, dst = adapter_for(connections[source]), adapter_for(connections[target])
    return prepare(build_plan().tables, src, dst)[0][table]
