"""Values move through the model fields: read as the source backend returns them, turned
into Python values by the source's converters (so SQLite's float Decimals, text datetimes
and 0/1 booleans become exact types), then prepared for the target by the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from django_deploykit.dbcopy.plan import Table

__all__ = ["column_converter", "row_converter"]

Row = tuple[Any, ...]

# Fields whose values pass unchanged from any backend to any backend; skipping their
# conversion is most of the speed of a copy.
_PLAIN = {
    models.AutoField, models.BigAutoField, models.SmallAutoField, models.IntegerField,
    models.BigIntegerField, models.SmallIntegerField, models.PositiveIntegerField,
    models.PositiveBigIntegerField, models.PositiveSmallIntegerField, models.CharField,
    models.TextField, models.SlugField, models.EmailField, models.URLField, models.FloatField,
}  # fmt: skip


def _plain(field: models.Field) -> bool:
    while field.is_relation:
        field = cast("models.ForeignKey", field).target_field
    return type(field) in _PLAIN


def column_converter(
    field: models.Field, table: Table, src: BaseDatabaseWrapper, dst: BaseDatabaseWrapper
) -> Callable[[Any], Any] | None:
    col = field.get_col(table.name)
    readers = src.ops.get_db_converters(col) + col.get_db_converters(src)
    if not readers and _plain(field):
        return None
    prepare = field.get_db_prep_save

    def convert(value: Any) -> Any:
        for reader in readers:
            value = reader(value, col, src)
        return prepare(value, connection=dst)

    return convert


def row_converter(
    table: Table, src: BaseDatabaseWrapper, dst: BaseDatabaseWrapper
) -> Callable[[list[Row]], list[Row]]:
    """A function turning a batch of source rows into rows ready for the target."""
    converters = [column_converter(f, table, src, dst) for f in table.fields]
    if not any(converters):
        return lambda rows: rows
    pairs = [(i, c) for i, c in enumerate(converters) if c is not None]

    def convert(rows: list[Row]) -> list[Row]:
        out = []
        for row in rows:
            values = list(row)
            for i, c in pairs:
                values[i] = c(values[i])
            out.append(tuple(values))
        return out

    return convert
