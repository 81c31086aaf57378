"""The adapter interface, with the behaviour most engines share."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from django.core.management.color import no_style
from django.db.backends.base.base import BaseDatabaseWrapper

if TYPE_CHECKING:
    from django_deploykit.dbcopy.plan import Plan, Table
    from django_deploykit.dbcopy.report import Problem
    from django_deploykit.dbcopy.scan import Scan

__all__ = ["INTEGER_FIELDS", "Adapter"]

#: Internal types of the model fields that store whole numbers (booleans as 0/1).
INTEGER_FIELDS = frozenset(
    {
        "AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField",
        "SmallIntegerField", "PositiveIntegerField", "PositiveBigIntegerField",
        "PositiveSmallIntegerField", "BooleanField",
    }
)  # fmt: skip


class Adapter:
    """What dbcopy needs from one engine, as a source and as a target."""

    # Does the engine reject text longer than the column (SQLite does not)?
    enforces_max_length = True
    # Does the server check the FK constraints of the rows dbcopy loads (at commit),
    # or are its FK checks off during the load?
    checks_loaded_foreign_keys = False
    # May a second connection read a committed table while the next group loads?
    digests_while_loading = True

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

    def type_scans(self, table: Table) -> list[Scan]:
        """Checks for values whose storage type does not match the column (only SQLite
        allows them), run in the pre-flight's one scan of the table."""
        return []

    def nul_condition(self, column: str, is_json: bool) -> str | None:
        """SQL true where a text value holds a NUL character (or JSON's \\u0000 escape)."""
        return None

    def column_types(self, table: str) -> dict[str, str]:
        """The column types of ``table`` as this database names them."""
        raise NotImplementedError

    def data_version(self) -> object | None:
        """A value that changes whenever another connection commits to this database,
        or None where the engine has no such cheap marker."""
        return None

    def snapshot(self) -> AbstractContextManager[None]:
        """While open, this connection's reads see one consistent state of the database
        (where the engine offers it cheaply; SQLite: one read transaction)."""
        return nullcontext()

    # --- as a target -------------------------------------------------------
    def target_problems(self, plan: Plan, source: Adapter) -> list[Problem]:
        """Engine-specific reasons the copy would fail or lose data."""
        return []

    def source_scans(self, table: Table, source: Adapter) -> list[Scan]:
        """Checks of the source's rows for values this target cannot take, run in the
        pre-flight's one scan of the table."""
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

    def suspend_foreign_keys(self, tables: Sequence[Table]) -> list[tuple[str, str, str]]:
        """Inside the caller's transaction, take the FK constraints off these tables;
        returns what ``restore_foreign_keys`` adds back (table, name, definition)."""
        return []

    def restore_foreign_keys(self, suspended: list[tuple[str, str, str]]) -> None:
        """Add back what ``suspend_foreign_keys`` took off; the server validates each."""

    def enforced_foreign_keys(self, tables: Sequence[Table]) -> set[tuple[str, str, str, str]]:
        """(table, column, referenced table, referenced column) of the FK constraints
        the server has proven for every row of these tables: they need no orphan check."""
        return set()

    def insert(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def reset_sequences(self, tables: Sequence[Table]) -> None:
        """Make the next generated pk of every table larger than its largest pk."""
        statements = self.connection.ops.sequence_reset_sql(no_style(), [t.model for t in tables])
        with self.connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
