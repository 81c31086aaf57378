"""MariaDB/MySQL: utf8mb4, collations, packet size and InnoDB limits."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from django.db import models

from django_deploykit.dbcopy.backends.base import Adapter
from django_deploykit.dbcopy.plan import Plan, Table
from django_deploykit.dbcopy.report import Problem
from django_deploykit.dbcopy.scan import Scan

if TYPE_CHECKING:
    from django.db.backends.mysql.base import DatabaseWrapper as MySQLDatabaseWrapper

__all__ = ["MySQLAdapter"]

SAMPLE = 20
_AUTO = (models.AutoField, models.BigAutoField, models.SmallAutoField)
# Field classes whose values are plain integers on every backend (booleans excluded).
_INTEGER = (models.IntegerField, models.AutoField)
# Column types whose values MariaDB validates beyond their text form.
_CHECKED_TYPES = {"uuid", "inet4", "inet6"}
_WHY_REFUSED = {"uuid": "MariaDB checks UUIDs; SQLite keeps any 32 hex digits"}


class MySQLAdapter(Adapter):
    def octet_length(self, column: str, binary: bool = False) -> str:
        return f"LENGTH({column})"

    def identity(self) -> tuple[Any, ...]:
        # The server's own name, port and data directory: localhost (a socket) and
        # 127.0.0.1 are the same server; two servers with a database "app" are not.
        found = self._row("SELECT @@hostname, @@port, @@datadir, DATABASE()")
        if not cast("MySQLDatabaseWrapper", self.connection).mysql_is_mariadb:
            found += self._row("SELECT @@server_uuid")
        return found

    def column_types(self, table: str) -> dict[str, str]:
        return {name: column_type for name, (column_type, _) in self._columns(table).items()}

    def _columns(self, table: str) -> dict[str, tuple[str, str]]:
        """Each column's full type (``varchar(20)``) and its data type (``varchar``)."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", [table]
            )  # fmt: skip
            return {name: (full, data.lower()) for name, full, data in cursor.fetchall()}

    def nul_condition(self, column: str, is_json: bool) -> str | None:
        nul = f"INSTR({column}, CHAR(0 USING utf8mb4)) > 0"
        return f"{nul} OR INSTR({column}, CONCAT(CHAR(92), 'u0000')) > 0" if is_json else nul

    def value_problems(self, plan: Plan, source: Adapter) -> list[Problem]:
        """Values a typed column refuses (MariaDB's native UUID refuses some 32-hex-digit
        values SQLite keeps): the server casts each source value, as the insert would."""
        problems = []
        for table in plan.tables:
            types = {name: data for name, (_, data) in self._columns(table.name).items()}
            for field in table.fields:
                data_type = types.get(cast(str, field.column))
                if data_type in _CHECKED_TYPES:
                    problems += self._refused(table, field, data_type, source)
        return problems

    def _refused(self, table: Table, field: Any, data_type: str, source: Adapter) -> list[Problem]:
        from django_deploykit.dbcopy.convert import column_converter

        convert = column_converter(field, table, source.connection, self.connection)
        q = source.quote
        with self.connection.cursor() as cursor:
            cursor.execute("DROP TEMPORARY TABLE IF EXISTS dbcopy_value_probe")
            cursor.execute("CREATE TEMPORARY TABLE dbcopy_value_probe (pk_value TEXT, v TEXT) "
                           "CHARACTER SET utf8mb4")  # fmt: skip
            try:
                with source.connection.cursor() as src:
                    src.execute(f"SELECT {q(table.pk.column)}, {q(cast(str, field.column))} "
                                f"FROM {q(table.name)} WHERE {q(cast(str, field.column))} "
                                "IS NOT NULL")  # fmt: skip
                    while rows := src.fetchmany(5000):
                        values = [(str(pk), _text(convert(v) if convert else v))
                                  for pk, v in rows]  # fmt: skip
                        cursor.executemany("INSERT INTO dbcopy_value_probe VALUES (%s, %s)", values)
                cursor.execute(
                    f"SELECT pk_value, v FROM dbcopy_value_probe WHERE CAST(v AS {data_type}) "
                    f"IS NULL LIMIT {SAMPLE}"
                )
                refused = cursor.fetchall()
            finally:
                cursor.execute("DROP TEMPORARY TABLE dbcopy_value_probe")
        return [
            Problem(
                "refused",
                f"{value!r} is not a value the target's {data_type} column accepts "
                f"({_WHY_REFUSED.get(data_type, 'the server refuses it')}).",
                f"Correct the value in the source (UPDATE {table.name} SET {field.column} = "
                f"... WHERE {table.pk.column} = {pk_value}), and the rows that refer to it.",
                table.name,
                pk_value,
                cast(str, field.column),
                "source",
            )  # fmt: skip
            for pk_value, value in refused
        ]

    def _value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    @property
    def max_packet(self) -> int:
        return int(self._value("SELECT @@max_allowed_packet"))

    def batch_bytes(self, wanted: int) -> int:
        return max(64 * 1024, min(wanted, self.max_packet // 2))

    def insert(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if all(isinstance(f, _INTEGER) for f in _targets(table.fields)):
            return self._insert_integers(table, columns, rows)
        sql = "INSERT INTO {} ({}) VALUES ({})".format(
            self.quote(table.name),
            ", ".join(self.quote(c) for c in columns),
            ", ".join(["%s"] * len(columns)),
        )
        # mysqlclient turns executemany into multi-row INSERTs of at most max_stmt_length.
        cursor = self.connection.connection.cursor()
        cursor.max_stmt_length = self._stmt_bytes
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def _insert_integers(self, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
        """Integer-only tables (M2M links above all) skip the driver's per-value escaping:
        int() makes every literal safe, and the statements are cut to the packet size."""
        head = "INSERT INTO {} ({}) VALUES ".format(
            self.quote(table.name), ", ".join(self.quote(c) for c in columns)
        )
        per_row = 24 * len(columns)  # a bigint and its separators, at most
        step = max(1, self._stmt_bytes // per_row)
        with self.connection.connection.cursor() as cursor:
            for start in range(0, len(rows), step):
                values = ",".join(
                    "(" + ",".join("NULL" if v is None else str(int(v)) for v in row) + ")"
                    for row in rows[start : start + step]
                )
                cursor.execute(head + values)

    def begin_load(self) -> None:
        super().begin_load()
        self._stmt_bytes = self.max_packet - 64 * 1024

    def reset_sequences(self, tables: Sequence[Table]) -> None:
        # InnoDB moves AUTO_INCREMENT past explicit ids; where it has not (another
        # engine), ALTER ... AUTO_INCREMENT sets it (never below max(pk) + 1).
        with self.connection.cursor() as cursor:
            for table in tables:
                if isinstance(table.pk, _AUTO):
                    assert table.pk.column is not None  # a concrete field always has a column
                    cursor.execute(
                        f"SELECT MAX({self.quote(table.pk.column)}) FROM {self.quote(table.name)}"
                    )
                    top = cursor.fetchone()[0] or 0
                    # Skipped where the counter is past it already (InnoDB moves it past
                    # explicit ids): right after a load the ALTER waits a second or two
                    # for the server's background statistics of the table.
                    cursor.execute(
                        "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                        [table.name],
                    )
                    counter = cursor.fetchone()
                    if counter is None or counter[0] is None or counter[0] <= top:
                        cursor.execute(
                            f"ALTER TABLE {self.quote(table.name)} AUTO_INCREMENT = {top + 1}"
                        )

    # --- pre-flight ---------------------------------------------------------
    def target_problems(self, plan: Plan, source: Adapter) -> list[Problem]:
        problems = self._charset_problems(plan)
        not_utf8mb4 = {(p.table, p.column) for p in problems}  # ("", ""): the connection
        connection = cast("MySQLDatabaseWrapper", self.connection)  # this adapter's vendor
        is_mariadb = connection.mysql_is_mariadb
        hash_ok = is_mariadb and connection.mysql_version >= (10, 4)
        for table in plan.tables:
            for columns in unique_sets(table):
                problems += self._key_length(table, columns, hash_ok)
                if any(_is_text(f) for f in columns) and not (
                    ("", "") in not_utf8mb4
                    or any((table.name, f.column) in not_utf8mb4 for f in columns)
                ):
                    # A column that is not utf8mb4 is reported above; probing it with
                    # values it cannot hold would fail instead of reporting.
                    problems += self._collisions(table, columns, source)
        return problems

    def _charset_problems(self, plan: Plan) -> list[Problem]:
        problems = []
        charset = self._value("SELECT @@character_set_connection")
        if charset != "utf8mb4":
            problems.append(
                Problem(
                    "charset",
                    f"the connection uses {charset}, so 4-byte characters (emoji) cannot be sent.",
                    "Set OPTIONS {'charset': 'utf8mb4'} on the target alias (database URLs get "
                    "it automatically).",
                    side="target",
                )  # fmt: skip
            )
        connection_collation, database_collation = self._row(
            "SELECT @@collation_connection, @@collation_database"
        )
        if connection_collation != database_collation:
            problems.append(
                Problem(
                    "collation_connection",
                    f"the connection uses the collation {connection_collation} but the "
                    f"database's default is {database_collation}; comparing text of the two "
                    '(in a migration, say) fails with "Illegal mix of collations".',
                    "Create the database with CHARACTER SET utf8mb4 and no COLLATE (the "
                    "server's default, which the connection uses too), or set OPTIONS "
                    f"{{'collation': '{database_collation}'}} on the target alias.",
                    side="target",
                    severity="warning",
                )  # fmt: skip
            )
        names = [t.name for t in plan.tables]
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME "
                "FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND CHARACTER_SET_NAME IS NOT NULL "
                "AND CHARACTER_SET_NAME != 'utf8mb4' ORDER BY TABLE_NAME, ORDINAL_POSITION"
            )
            for table, column, charset in cursor.fetchall():
                if table in names:
                    problems.append(
                        Problem(
                            "charset",
                            f"column charset is {charset}; 4-byte characters "
                            "(emoji) would be rejected or mangled.",
                            f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 (and "
                            "create new databases with CHARACTER SET utf8mb4).",
                            table,
                            None,
                            column,
                            "target",
                        )  # fmt: skip
                    )
        return problems

    def source_scans(self, table: Table, source: Adapter) -> list[Scan]:
        scans = []
        pk = source.quote(table.pk.column)
        if isinstance(table.pk, _AUTO):
            scans.append(Scan(f"{pk} = 0", partial(_pk_zero, table)))
        wide = [f for f in table.fields if _is_text(f) or isinstance(f, models.BinaryField)]
        if wide:
            lengths = [source.octet_length(source.quote(cast(str, f.column)), _is_binary(f))
                       for f in wide]  # fmt: skip
            size = " + ".join(f"COALESCE({length}, 0)" for length in lengths)
            limit = self.max_packet - 64 * 1024
            scans.append(Scan(f"{size} > {limit}", partial(_packet, table, source, size, limit)))
        return scans

    def _key_length(self, table: Table, columns: list[Any], hash_ok: bool) -> list[Problem]:
        size = sum(_key_bytes(f) for f in columns)
        if size <= 3072:
            return []
        names = ", ".join(f.column for f in columns)
        return [
            Problem(
                "key_length",
                f"the unique index on ({names}) needs {size} bytes, over "
                "InnoDB's 3072-byte key limit. "
                + (
                    "MariaDB keeps it as a slower HASH index."
                    if hash_ok
                    else "This server cannot build it."
                ),
                "Lower max_length (768 characters at most for one utf8mb4 column) or drop "
                "the uniqueness, and migrate.",
                table.name,
                None,
                names,
                "target",
                "warning" if hash_ok else "error",
            )  # fmt: skip
        ]

    def _collisions(self, table: Table, columns: list[Any], source: Adapter) -> list[Problem]:
        """Let the server group the source's values under the target's real collations."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT COLUMN_NAME, COLUMN_TYPE, COLLATION_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                [table.name],
            )
            types = {name: (ctype, coll) for name, ctype, coll in cursor.fetchall()}
            if not all(f.column in types for f in columns):
                return []  # the missing table is reported by the migration check
            defs = ", ".join(
                f"c{i} {types[f.column][0]}"
                + (f" COLLATE {types[f.column][1]}" if types[f.column][1] else "")
                for i, f in enumerate(columns)
            )
            cursor.execute("DROP TEMPORARY TABLE IF EXISTS dbcopy_unique_probe")
            cursor.execute(f"CREATE TEMPORARY TABLE dbcopy_unique_probe (pk_value TEXT, {defs})")
            try:
                self._fill_probe(cursor, table, columns, source)
                keys = ", ".join(f"c{i}" for i in range(len(columns)))
                # A row with a NULL in the key is never a duplicate (in any of the three).
                present = " AND ".join(f"c{i} IS NOT NULL" for i in range(len(columns)))
                cursor.execute(
                    "SELECT GROUP_CONCAT(pk_value ORDER BY pk_value SEPARATOR ', '), "
                    f"COUNT(*) FROM dbcopy_unique_probe WHERE {present} GROUP BY {keys} "
                    "HAVING COUNT(*) > 1 "
                    f"LIMIT {SAMPLE}"
                )
                groups = cursor.fetchall()
            finally:
                cursor.execute("DROP TEMPORARY TABLE dbcopy_unique_probe")
        names = ", ".join(f.column for f in columns)
        return [
            Problem(
                "collation",
                f"{n} rows (pks {pks}) have values in ({names}) that differ in "
                "the source but are equal under the target's collation (case, accents or "
                "trailing spaces).",
                "Make the values distinct in the source, or give the column a binary "
                "collation (db_collation='utf8mb4_bin') and migrate.",
                table.name,
                pks.split(", ")[0],
                names,
                "target",
            )  # fmt: skip
            for pks, n in groups
        ]

    def _fill_probe(self, cursor: Any, table: Table, columns: list[Any], source: Adapter) -> None:
        cols = ", ".join(source.quote(f.column) for f in columns)
        lengths = [getattr(f, "max_length", None) for f in columns]
        with source.connection.cursor() as src:
            src.execute(
                f"SELECT {source.quote(table.pk.column)}, {cols} FROM {source.quote(table.name)}"
            )
            marks = ", ".join(["%s"] * (len(columns) + 1))
            while rows := src.fetchmany(5000):
                # Overlong values are reported by the max_length check; cut them here.
                cut = [(str(r[0]), *map(_cut, r[1:], lengths)) for r in rows]
                cursor.executemany(f"INSERT INTO dbcopy_unique_probe VALUES ({marks})", cut)


def _pk_zero(table: Table) -> list[Problem]:
    return [
        Problem(
            "pk_zero",
            "primary key 0: MariaDB's AUTO_INCREMENT would replace it with a "
            "new number, breaking every reference to it.",
            f"Renumber the row in the source (UPDATE {table.name} SET "
            f"{table.pk.column} = <unused id> WHERE {table.pk.column} = 0, and the rows "
            "that point to it).",
            table.name,
            0,
            table.pk.column,
        )  # fmt: skip
    ]


def _packet(table: Table, source: Adapter, size: str, limit: int) -> list[Problem]:
    pk = source.quote(table.pk.column)
    with source.connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {pk}, {size} FROM {source.quote(table.name)} WHERE {size} > %s "
            f"ORDER BY {pk} LIMIT {SAMPLE}",
            [limit],
        )
        rows = cursor.fetchall()
    return [
        Problem(
            "packet",
            f"row is {n} bytes, over the target's max_allowed_packet "
            f"({limit + 64 * 1024} bytes, less room for the statement).",
            "Raise max_allowed_packet on the MariaDB server (SET GLOBAL "
            "max_allowed_packet = 1073741824, and in its config file).",
            table.name,
            pk_value,
            side="target",
        )  # fmt: skip
        for pk_value, n in rows
    ]


def _targets(fields: Sequence[Any]) -> list[Any]:
    """The fields that decide the stored type: an FK stores what its target stores."""
    out = []
    for field in fields:
        while field.is_relation:
            field = field.target_field
        out.append(field)
    return out


def _text(value: Any) -> Any:
    """The probe column is text: what the server would see, as text."""
    if value is None or isinstance(value, (str, bytes)):
        return value
    return str(value)


def _cut(value: Any, length: int | None) -> Any:
    return value[:length] if isinstance(value, str) and length else value


def unique_sets(table: Table) -> list[list[Any]]:
    """Column sets the target enforces as unique, the primary key included."""
    opts = table.model._meta
    by_name = {f.name: f for f in table.fields}
    sets = [[f] for f in table.fields if f.unique]
    names = [list(u) for u in opts.unique_together]
    names += [
        list(c.fields)
        for c in opts.constraints
        if isinstance(c, models.UniqueConstraint) and c.fields and c.condition is None
    ]
    for group in names:
        if all(n in by_name for n in group):
            sets.append([by_name[n] for n in group])
    return sets


def _is_binary(field: Any) -> bool:
    return isinstance(field, models.BinaryField)


def _is_text(field: Any) -> bool:
    return isinstance(field, (models.CharField, models.TextField)) and not isinstance(
        field, models.UUIDField
    )


def _key_bytes(field: Any) -> int:
    if isinstance(field, models.CharField):
        return 4 * (field.max_length or 255)
    if isinstance(field, models.TextField):
        return 4 * 65535
    return 8
