"""PostgreSQL: rows go in through COPY, sequences are reset with setval."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, cast

from django.db import DatabaseError, models

from django_deploykit.dbcopy.backends.base import Adapter
from django_deploykit.dbcopy.plan import Table
from django_deploykit.dbcopy.report import Problem
from django_deploykit.dbcopy.scan import Scan

SAMPLE = 20

__all__ = ["PostgreSQLAdapter"]


class PostgreSQLAdapter(Adapter):
    checks_loaded_foreign_keys = True
    # The next group's suspend_foreign_keys locks the tables its FKs point to, which a
    # digest of those (running beside it) would hold up: digests come after the load.
    digests_while_loading = False

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

    def source_scans(self, table: Table, source: Adapter) -> list[Scan]:
        """PostgreSQL text cannot hold NUL characters (nor jsonb the \\u0000 escape); the
        driver refuses them before the server sees them, so the source finds them."""
        scans = []
        text = (models.CharField, models.TextField, models.JSONField)
        for field in table.fields:
            if not isinstance(field, text) or isinstance(field, models.UUIDField):
                continue
            col = source.quote(cast(str, field.column))
            cond = source.nul_condition(col, isinstance(field, models.JSONField))
            if cond is not None:
                scans.append(Scan(cond, partial(_nul_rows, table, field, cond, source)))
        return scans

    def begin_load(self) -> None:
        # Django creates PostgreSQL FKs DEFERRABLE INITIALLY DEFERRED: they are checked at
        # the commit of each group, which holds every table of an FK cycle.
        pass

    def end_load(self) -> None:
        pass

    def suspend_foreign_keys(self, tables: Sequence[Table]) -> list[tuple[str, str, str]]:
        # A deferred FK is checked at commit by one trigger call per row (12 s for 1.75M
        # references here); added back after the load, it is validated by one anti-join.
        # DDL is transactional: a killed copy rolls back to the constraints as they were.
        # Only constraints this user may drop and add back (owner, REFERENCES), validated.
        if not tables:
            return []
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
                "FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid "
                "WHERE c.contype = 'f' AND c.convalidated AND c.conrelid = ANY(%s::regclass[]) "
                "AND pg_has_role(r.relowner, 'USAGE') "
                "AND has_table_privilege(c.confrelid, 'REFERENCES') ORDER BY 1, 2",
                [[self.quote(t.name) for t in tables]],
            )
            found = [(table, name, definition) for table, name, definition in cursor.fetchall()]
            for table, name, _ in found:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {self.quote(name)}")
        return found

    def restore_foreign_keys(self, suspended: list[tuple[str, str, str]]) -> None:
        with self.connection.cursor() as cursor:
            for table, name, definition in suspended:
                cursor.execute(
                    f"ALTER TABLE {table} ADD CONSTRAINT {self.quote(name)} {definition}"
                )

    def enforced_foreign_keys(self, tables: Sequence[Table]) -> set[tuple[str, str, str, str]]:
        # Validated single-column constraints hold for every row (checked at commit, or
        # when added back after the load), unless their triggers were turned off.
        if not tables:
            return set()
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT r.relname, a.attname, p.relname, pa.attname FROM pg_constraint c "
                "JOIN pg_class r ON r.oid = c.conrelid JOIN pg_class p ON p.oid = c.confrelid "
                "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
                "JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1] "
                "WHERE c.contype = 'f' AND c.convalidated AND array_length(c.conkey, 1) = 1 "
                # and none of its triggers disabled (ALTER TABLE ... DISABLE TRIGGER ALL)
                "AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgconstraint = c.oid "
                "AND t.tgenabled = 'D') "
                "AND c.conrelid = ANY(%s::regclass[])",
                [[self.quote(t.name) for t in tables]],
            )
            return {cast("tuple[str, str, str, str]", tuple(row)) for row in cursor.fetchall()}

    def insert(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        sql = "COPY {} ({}) FROM STDIN".format(
            self.quote(table.name), ", ".join(self.quote(c) for c in columns)
        )
        with self.connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)


def _nul_rows(table: Table, field: models.Field, cond: str, source: Adapter) -> list[Problem]:
    pk = source.quote(table.pk.column)
    with source.connection.cursor() as cursor:
        cursor.execute(f"SELECT {pk} FROM {source.quote(table.name)} WHERE {cond} "
                       f"ORDER BY {pk} LIMIT {SAMPLE}")  # fmt: skip
        rows = cursor.fetchall()
    return [
        Problem(
            "nul",
            "the text holds a NUL character (\\x00), which PostgreSQL cannot store.",
            f"Remove it in the source, e.g. UPDATE {table.name} SET "
            f"{field.column} = REPLACE({field.column}, char(0), '') WHERE "
            f"{table.pk.column} = {pk_value}.",
            table.name,
            pk_value,
            field.column or "",
            "source",
        )  # fmt: skip
        for (pk_value,) in rows
    ]
