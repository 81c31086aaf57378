"""PostgreSQL: rows go in through COPY, sequences are reset with setval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django_deploykit.dbcopy.backends.base import Adapter
from django_deploykit.dbcopy.plan import Table

__all__ = ["PostgreSQLAdapter"]


class PostgreSQLAdapter(Adapter):
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
