"""The copy order: referenced tables first, FK cycles kept together in one group."""

from __future__ import annotations

from django_deploykit.dbcopy.plan import build_plan


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
