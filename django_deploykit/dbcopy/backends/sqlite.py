"""SQLite: loose types on the way out, plain executemany on the way in."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, cast

from django.db import models

from django_deploykit.dbcopy.backends.base import INTEGER_FIELDS, Adapter
from django_deploykit.dbcopy.plan import Table
from django_deploykit.dbcopy.report import Problem
from django_deploykit.dbcopy.scan import Scan

__all__ = ["SQLiteAdapter"]

# SQLite stores a duration as whole microseconds.
_INTEGER = INTEGER_FIELDS | {"DurationField"}
_DATE_GLOBS = {
    "DateTimeField": "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]*",
    "DateField": "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]",
    "TimeField": "[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*",
}
_DATE_VALID = {
    # Through a Julian day and back: 2023-02-30 comes back as 2023-03-01, 2023-13-01 as
    # NULL, so either differs from the stored text.
    "DateTimeField": "datetime(julianday(substr({col}, 1, 19))) IS substr({col}, 1, 19)",
    "DateField": "date(julianday({col})) IS {col}",
    "TimeField": "time(julianday('2000-01-01 ' || substr({col}, 1, 8))) IS substr({col}, 1, 8)",
}
# Rows reported per column and check; the report says when there are more.
SAMPLE = 20


class SQLiteAdapter(Adapter):
    enforces_max_length = False

    def char_length(self, column: str) -> str:
        return f"LENGTH({column})"

    def octet_length(self, column: str, binary: bool = False) -> str:
        return f"LENGTH(CAST({column} AS BLOB))"

    def identity(self) -> tuple[Any, ...]:
        name = str(self.connection.settings_dict["NAME"])
        if name in ("", ":memory:") or "mode=memory" in name:
            return ("memory", id(self.connection))  # never the same as another connection
        if name.startswith("file:"):
            name = name[5:].split("?", 1)[0]
        # sqlite3 opens a relative name from the working directory, as realpath resolves it;
        # device and inode also see through hard links and bind mounts.
        path = os.path.realpath(name)
        try:
            stat = os.stat(path)
        except OSError:
            return ("file", path)
        return ("inode", stat.st_dev, stat.st_ino)

    def column_types(self, table: str) -> dict[str, str]:
        with self.connection.cursor() as cursor:
            cursor.execute(f"PRAGMA table_info({self.quote(table)})")
            return {row[1]: row[2] for row in cursor.fetchall()}

    def nul_condition(self, column: str, is_json: bool) -> str | None:
        if is_json:
            return f"instr({column}, char(0)) > 0 OR instr({column}, '\\u0000') > 0"
        return f"instr({column}, char(0)) > 0"

    def data_version(self) -> object | None:
        # PRAGMA data_version changes when another connection commits; it is only
        # comparable on one connection, so the connection object is part of it.
        self.connection.ensure_connection()
        raw = self.connection.connection
        if not raw.in_transaction:
            raw.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # a fresh look
        return (id(raw), raw.execute("PRAGMA data_version").fetchone()[0])

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        # DEFERRED: the session is query_only, and the snapshot is taken at the first
        # read. In WAL mode the site's writers go on; with a rollback journal their
        # commits wait until it ends (as they did for the length of each table's read).
        self.connection.ensure_connection()
        raw = self.connection.connection
        if raw.in_transaction:  # the caller's own transaction already is one
            yield
            return
        raw.execute("BEGIN DEFERRED")
        try:
            raw.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # the snapshot
            yield
        finally:
            if raw.in_transaction:
                raw.execute("ROLLBACK")  # nothing was written: it only ends the read

    def begin_load(self) -> None:
        # PRAGMA foreign_keys only works outside a transaction, which is where we are.
        self.connection.ensure_connection()
        self.connection.disable_constraint_checking()

    def insert(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        sql = "INSERT INTO {} ({}) VALUES ({})".format(
            self.quote(table.name),
            ", ".join(self.quote(c) for c in columns),
            ", ".join("?" * len(columns)),
        )
        self.connection.connection.executemany(sql, rows)

    def reset_sequences(self, tables: Sequence[Table]) -> None:
        """AUTOINCREMENT tables track explicit ids in sqlite_sequence by themselves."""

    def _condition(self, internal: str, col: str) -> str | None:
        if internal in _INTEGER:
            return f"typeof({col}) NOT IN ('integer', 'null')"
        if internal in ("FloatField", "DecimalField"):
            return f"typeof({col}) NOT IN ('integer', 'real', 'null')"
        if internal in _DATE_GLOBS:
            # The pattern first, then SQLite's own calendar judges the value.
            valid = _DATE_VALID[internal].format(col=col)
            return (
                f"typeof({col}) NOT IN ('text', 'null') OR ({col} IS NOT NULL AND "
                f"({col} NOT GLOB '{_DATE_GLOBS[internal]}' OR NOT ({valid})))"
            )
        if internal == "UUIDField":
            return f"typeof({col}) NOT IN ('text', 'null') OR LENGTH({col}) != 32"
        if internal == "JSONField":
            return f"{col} IS NOT NULL AND NOT json_valid({col})"
        if internal == "BinaryField":
            return f"typeof({col}) NOT IN ('blob', 'null')"
        return None

    def type_scans(self, table: Table) -> list[Scan]:
        scans = []
        for field in table.fields:
            assert field.column is not None  # a concrete field always has a column
            relation = cast("models.ForeignKey", field)
            target = relation.target_field if field.is_relation else field
            internal = target.get_internal_type()
            col = self.quote(field.column)
            cond = self._condition(internal, col)
            if cond is not None:
                scans.append(Scan(cond, partial(self._type_rows, table, field, internal, cond)))
            if internal == "DecimalField":
                limit = 10 ** (field.max_digits - field.decimal_places)  # type: ignore[attr-defined]
                scans.append(Scan(
                    f"typeof({col}) IN ('integer', 'real') AND ABS({col}) >= {limit}",
                    partial(self._decimal_range, table, field, limit),
                ))  # fmt: skip
        return scans

    def _type_rows(self, table: Table, field: Any, internal: str, cond: str) -> list[Problem]:
        pk, col = self.quote(table.pk.column), self.quote(field.column)
        problems = []
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {pk}, CAST({col} AS TEXT), typeof({col}) "
                f"FROM {self.quote(table.name)} WHERE {cond} ORDER BY {pk} LIMIT {SAMPLE}"
            )
            # CAST: the raw text, past the converters sqlite3 would apply to a date
            # column (and that fail on exactly these values).
            for pk_value, value, stored in cursor.fetchall():
                if internal == "DecimalField" and _is_decimal(value):
                    continue  # a long decimal SQLite kept as text is fine
                problems.append(
                    Problem(
                        "type",
                        _type_message(stored, value, internal),
                        f"Correct or NULL the value in the source, e.g. UPDATE "
                        f"{table.name} SET {field.column} = ... WHERE "
                        f"{table.pk.column} = {pk_value}.",
                        table.name, pk_value, field.column,
                    )
                )  # fmt: skip
        return problems

    def _decimal_range(self, table: Table, field: Any, limit: int) -> list[Problem]:
        pk, col = self.quote(table.pk.column), self.quote(field.column)
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {pk}, {col} FROM {self.quote(table.name)} WHERE typeof({col}) IN "
                f"('integer', 'real') AND ABS({col}) >= {limit} ORDER BY {pk} LIMIT {SAMPLE}"
            )
            rows = cursor.fetchall()
        return [
            Problem(
                "decimal_range",
                f"{value!r} does not fit decimal({field.max_digits}, {field.decimal_places}).",
                "Correct the value in the source or raise max_digits (and migrate).",
                table.name,
                pk_value,
                field.column,
            )  # fmt: skip
            for pk_value, value in rows
        ]


def _type_message(stored: str, value: Any, internal: str) -> str:
    if internal in _DATE_GLOBS and stored == "text":
        return (
            f"{_short(value)} in a {internal} column is not a valid "
            f"{'time' if internal == 'TimeField' else 'date'} (SQLite stores any text)."
        )
    return (
        f"{stored} value {_short(value)} stored in a {internal} column (SQLite type "
        "affinity lets any value in)."
    )


def _is_decimal(value: Any) -> bool:
    try:
        Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return False
    return isinstance(value, str) and Decimal(value).is_finite()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
