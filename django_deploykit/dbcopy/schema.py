"""Compare each copied table with the target's real table, as the target reports it.

Migrations may build a table differently per database: a search app keeps a
``tsvector`` column on PostgreSQL and text elsewhere, a RunSQL adds a column on one
vendor only. Such a table passes the migration check yet fails half-way through the
copy, so every copied table's columns are read back from the target (Django's
introspection) and compared with the model before anything is written.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Any, cast

from django.db import models

from django_deploykit.dbcopy.backends import Adapter
from django_deploykit.dbcopy.backends.base import INTEGER_FIELDS
from django_deploykit.dbcopy.plan import Plan, Table
from django_deploykit.dbcopy.report import Problem

__all__ = ["schema_problems"]

# NullBooleanField: still named by the models of old migrations.
_INTEGER = INTEGER_FIELDS | {"NullBooleanField"}
_TEXT = {
    "CharField", "TextField", "SlugField", "EmailField", "URLField", "FilePathField",
    "FileField", "ImageField", "GenericIPAddressField", "IPAddressField",
    "CommaSeparatedIntegerField",
}  # fmt: skip
# What the target's introspection may call a column that holds a model field's values,
# by the field's internal type (the same storage under another name is fine).
_ACCEPTS: dict[str, AbstractSet[str]] = {
    **dict.fromkeys(_INTEGER, _INTEGER),
    **{name: _TEXT | {"UUIDField"} for name in _TEXT},
    "UUIDField": {"UUIDField", "CharField", "TextField"},
    "JSONField": {"JSONField", "TextField"},
    "DurationField": {"DurationField", "BigIntegerField"},
    "DateTimeField": {"DateTimeField"},
    "DateField": {"DateField"},
    "TimeField": {"TimeField"},
    "DecimalField": {"DecimalField"},
    "FloatField": {"FloatField"},
    "BinaryField": {"BinaryField"},
}


def _stored(field: models.Field) -> models.Field:
    """The field that decides a column's type: an FK stores what its target stores."""
    while field.is_relation:
        field = cast("models.ForeignKey", field).target_field
    return field


def _kind(target: Adapter, info: Any) -> str | None:
    try:
        return target.connection.introspection.get_field_type(info.type_code, info)
    except KeyError:  # a type Django does not map (tsvector, geometry, ...)
        return None


def _has_rows(source: Adapter, table: Table) -> bool:
    with source.connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {source.quote(table.name)} LIMIT 1")
        return cursor.fetchone() is not None


def _fix(table: Table) -> str:
    app = table.model._meta.app_label
    return (
        f"Leave the app out with --exclude {app} (a search index or cache table is rebuilt "
        f"on the target by the app's own command), or make the {table.name} table on the "
        "target match the model and migrate."
    )


def schema_problems(plan: Plan, source: Adapter, target: Adapter) -> list[Problem]:
    problems: list[Problem] = []
    with target.connection.cursor() as cursor:
        for table in plan.tables:
            columns = {
                info.name: info
                for info in target.connection.introspection.get_table_description(
                    cursor, table.name
                )
            }
            found = _table_problems(table, columns, source, target)
            if found and not _has_rows(source, table):
                # Nothing would be written into it: say so, but do not block the copy.
                found = [
                    Problem(
                        p.code,
                        p.message + " (the source table is empty)",
                        p.fix,
                        p.table,
                        p.pk,
                        p.column,
                        p.side,
                        "warning",
                    )  # fmt: skip
                    for p in found
                ]
            problems += found
    return problems


def _table_problems(table: Table, columns: dict[str, Any], source: Adapter,
                    target: Adapter) -> list[Problem]:  # fmt: skip
    problems = []
    types = target.column_types(table.name)
    model_columns = {f.column for f in table.model._meta.local_concrete_fields}
    for field in table.fields:
        column = cast(str, field.column)
        info = columns.get(column)
        if info is None:
            problems.append(Problem(
                "schema", f"column {column} of {table.label} is missing in the target table.",
                _fix(table), table.name, None, column, "target",
            ))  # fmt: skip
            continue
        stored = _stored(field)
        accepted = _ACCEPTS.get(stored.get_internal_type())
        if accepted is None:
            continue  # a custom internal type: the value checks and verification judge it
        kind = _kind(target, info)
        if kind == "TextField" and "blob" in types.get(column, "").lower():
            kind = "BinaryField"  # MySQL's introspection calls every BLOB a TextField
        if kind not in accepted:
            problems.append(Problem(
                "schema",
                f"the target's column {column} is {types.get(column, kind)}, but the model "
                f"({table.label}.{field.name}) holds {stored.get_internal_type()} values: "
                "the table differs on this database, and the values would be refused or "
                "changed.",
                _fix(table), table.name, None, column, "target",
            ))  # fmt: skip
    for name, info in columns.items():
        if name in model_columns or info.null_ok or info.default is not None:
            continue
        if "auto_increment" in (getattr(info, "extra", "") or ""):
            continue
        problems.append(Problem(
            "schema",
            f"the target table has a column {name} ({types.get(name, '?')}, NOT NULL, no "
            f"default) that {table.label} does not know: every insert would fail.",
            _fix(table), table.name, None, name, "target",
        ))  # fmt: skip
    return problems
