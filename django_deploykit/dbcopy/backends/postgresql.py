"""PostgreSQL: rows go in through COPY, sequences are reset with setval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.db import DatabaseError, models

from django_deploykit.dbcopy.backends.base import Adapter
from django_deploykit.dbcopy.plan import Plan, Table
from django_deploykit.dbcopy.report import Problem

SAMPLE = 20

__all__ = ["PostgreSQLAdapter"]


class PostgreSQLAdapter(Adapter):
    def identity(self) -> tuple[Any, ...]:
        # The cluster's system identifier (set by initdb), its start time (two servers
        # restored from one physical backup share the identifier) and the database.
        try:
            return self._row(
                "SELECT (SELECT system_identifier FROM pg_control_system()), "
                "pg_postmaster_start_time(), current_setting('port'), current_database()"
            )
        except DatabaseError:  # a hosted server that hides pg_control_system()
            return self._row(
                "SELECT pg_postmaster_start_time(), current_setting('port'), "
                "current_database(), (SELECT oid FROM pg_database "
                "WHERE datname = current_database())"
            )

    def octet_length(self, column: str, binary: bool = False) -> str:
        # ::text: a column the model calls text may be another type here (tsvector).
        return f"OCTET_LENGTH({column})" if binary else f"OCTET_LENGTH({column}::text)"

    def column_types(self, table: str) -> dict[str, str]:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                [self.quote(table)],
            )
            return dict(cursor.fetchall())

    def value_problems(self, plan: Plan, source: Adapter) -> list[Problem]:
        """PostgreSQL text cannot hold NUL characters (nor jsonb the \\u0000 escape); the
        driver refuses them before the server sees them, so the source finds them."""
        problems = []
        text = (models.CharField, models.TextField, models.JSONField)
        with source.connection.cursor() as cursor:
            for table in plan.tables:
                pk = source.quote(table.pk.column)
                for field in table.fields:
                    if not isinstance(field, text) or isinstance(field, models.UUIDField):
                        continue
                    col = source.quote(cast(str, field.column))
                    cond = source.nul_condition(col, isinstance(field, models.JSONField))
                    if cond is None:
                        continue
                    cursor.execute(f"SELECT {pk} FROM {source.quote(table.name)} WHERE {cond} "
                                   f"ORDER BY {pk} LIMIT {SAMPLE}")  # fmt: skip
                    problems += [
                        Problem(
                            "nul",
                            "the text holds a NUL character (\\x00), which PostgreSQL "
                            "cannot store.",
                            f"Remove it in the source, e.g. UPDATE {table.name} SET "
                            f"{field.column} = REPLACE({field.column}, char(0), '') WHERE "
                            f"{table.pk.column} = {pk_value}.",
                            table.name,
                            pk_value,
                            field.column or "",
                            "source",
                        )  # fmt: skip
                        for (pk_value,) in cursor.fetchall()
                    ]
        return problems

    def begin_load(self) -> None:
        # Django creates PostgreSQL FKs DEFERRABLE INITIALLY DEFERRED: they are checked at
        # the commit of each group, which holds every table of an FK cycle.
        pass

    def end_load(self) -> None:
        pass

    def insert(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        sql = "COPY {} ({}) FROM STDIN".format(
            self.quote(table.name), ", ".join(self.quote(c) for c in columns)
        )
        with self.connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
