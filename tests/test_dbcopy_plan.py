"""The copy order: referenced tables first, FK cycles kept together in one group."""

from __future__ import annotations

import threading
from functools import partial

import pytest
from django.db import connections

from django_deploykit.dbcopy.backends import Adapter
from django_deploykit.dbcopy.plan import build_plan
from django_deploykit.dbcopy.scan import read_in_parallel

pytest_plugins = ["tests.dbcopy_support"]


def test_order_satisfies_foreign_keys_and_groups_cycles():
    plan = build_plan(include=["dbcopy_app", "contenttypes"])
    names = [t.name for t in plan.tables]
    assert names.index("dbcopy_app_author") < names.index("dbcopy_app_book")
    assert names.index("dbcopy_app_book") < names.index("dbcopy_app_book_tags")
    assert names.index("dbcopy_app_place") < names.index("dbcopy_app_restaurant")
    assert names.index("django_content_type") < names.index("dbcopy_app_taggeditem")
    groups = {tuple(t.name for t in g.tables): g.cyclic for g in plan.groups}
    assert groups[("dbcopy_app_chicken", "dbcopy_app_egg")] is True
    assert groups[("dbcopy_app_node",)] is True  # self-FK
    assert groups[("dbcopy_app_author",)] is False
    # database-generated columns are never inserted
    everything = next(t for t in plan.tables if t.name == "dbcopy_app_everything")
    assert "generated" not in [f.column for f in everything.fields]


def test_exclude_drops_a_model_and_its_m2m_table():
    names = [t.name for t in build_plan(include=["dbcopy_app"], exclude=["dbcopy_app.Book"]).tables]
    assert "dbcopy_app_book" not in names and "dbcopy_app_book_tags" not in names
    assert "dbcopy_app_author" in names


def test_reads_in_parallel_come_back_in_order_on_connections_of_their_own(make_sqlite):
    """The pre-flight's reads (scan.read_in_parallel): two at a time, each thread on a
    connection of its own, results in the order asked, the first error raised."""
    source, _ = make_sqlite()
    mine = connections[source]
    both_running = threading.Barrier(2, timeout=10)  # the first two reads wait for each other

    def read(n: int, side: Adapter) -> tuple[int, bool, str]:
        if n < 2:
            both_running.wait()
        with side.connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) + %s FROM django_migrations WHERE 0", [n])
            value = cursor.fetchone()[0]
        return value, side.connection is not mine, threading.current_thread().name

    found = read_in_parallel(source, [partial(read, n) for n in range(6)])
    assert [value for value, _, _ in found] == list(range(6))
    assert all(own for _, own, _ in found)
    assert len({thread for _, _, thread in found}) == 2

    def broken(side: Adapter) -> None:
        raise ZeroDivisionError("a read failed")

    with pytest.raises(ZeroDivisionError, match="a read failed"):
        read_in_parallel(source, [partial(read, 9), broken, partial(read, 10)])
