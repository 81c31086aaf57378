"""The adapter interface, with the behaviour most engines share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.management.color import no_style
from django.db.backends.base.base import BaseDatabaseWrapper

if TYPE_CHECKING:
    from django_deploykit.dbcopy.plan import Plan, Table
    from django_deploykit.dbcopy.report import Problem

__all__ = ["Adapter"]


class Adapter:
    """What dbcopy needs from one engine, as a source and as a target."""

    # Does the engine reject text longer than the column (SQLite does not)?
    enforces_max_length = True

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection

    def quote(self, name: str) -> str:
        return self.connection.ops.quote_name(name)

    def identity(self) -> tuple[Any, ...]:
        """Who this database really is, however it was spelled: equal for two
        connections exactly when they reach the same database (asked of the server)."""
        raise NotImplementedError

    def _row(self, sql: str) -> tuple[Any, ...]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)
            return tuple(cursor.fetchone())

    # --- as a source -------------------------------------------------------
    def char_length(self, column: str) -> str:
        return f"CHAR_LENGTH({column})"

    def octet_length(self, column: str, binary: bool = False) -> str:
        return f"OCTET_LENGTH({column})"

    def type_problems(self, table: Table) -> list[Problem]:
        """Values whose storage type does not match the column (only SQLite allows it)."""
        return []

    def nul_condition(self, column: str, is_json: bool) -> str | None:
        """SQL true where a text value holds a NUL character (or JSON's \\u0000 escape)."""
        return None

    def column_types(self, table: str) -> dict[str, str]:
        """The column types of ``table`` as this database names them."""
        raise NotImplementedError

    # --- as a target -------------------------------------------------------
    def target_problems(self, plan: Plan, source: Adapter) -> list[Problem]:
        """Engine-specific reasons the copy would fail or lose data."""
        return []

    def value_problems(self, plan: Plan, source: Adapter) -> list[Problem]:
        """Source values this target would refuse, judged by the target where it can."""
        return []

    def batch_bytes(self, wanted: int) -> int:
        """The byte size of one multi-row insert."""
        return wanted

    def begin_load(self) -> None:
        """Called once before loading, outside any transaction: turn FK checks off."""
        self.connection.disable_constraint_checking()

    def end_load(self) -> None:
        self.connection.enable_constraint_checking()

    def insert(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def reset_sequences(self, tables: Sequence[Table]) -> None:
        """Make the next generated pk of every table larger than its largest pk."""
        statements = self.connection.ops.sequence_reset_sql(no_style(), [t.model for t in tables])
        with self.connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
