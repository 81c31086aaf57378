"""The server's own bulk path, fed as a stream, with the rows hashed on the way out.

SQLite -> MariaDB streams tab-separated text through a FIFO into ``LOAD DATA LOCAL
INFILE``; SQLite -> PostgreSQL writes the same text to ``COPY ... FROM STDIN``. SQLite's
stored values are already in the text form the servers parse (ints, text, ISO dates,
JSON), so most columns pass as they are; datetimes and decimals are normalised once.

Each row's text line is hashed (MD5) as it is written, and the table's sum of hashes is
kept. Verification then asks the target for one aggregate per table: the same text
rebuilt from the stored values, hashed and summed by the server. A value the server
truncated, rounded, mangled or lost makes the sums differ, without reading the rows back.

Only built-in field types whose stored form both sides render identically take this
path; any other table (floats, custom fields, JSON or times on PostgreSQL, a non-SQLite
source, differing database time zones) goes through the ORM path in ``copy.py``.
"""

from __future__ import annotations

import datetime
import decimal
import errno
import hashlib
import os
import queue
import shutil
import struct
import tempfile
import threading
import uuid
import zlib
from collections.abc import Callable, Generator, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.db import DatabaseError, models
from django.db.backends.base.base import BaseDatabaseWrapper

from django_deploykit.dbcopy.backends import Adapter, adapter_for
from django_deploykit.dbcopy.plan import Table, fk_fields
from django_deploykit.dbcopy.preflight import field_label, orphans

__all__ = [
    "Digest", "Digester", "LocalInfileRefused", "TableLoad", "differing", "digests_at_once",
    "load", "orphan_free", "prepare",
]  # fmt: skip

_FETCH = 2000  # rows per fetch from SQLite and per write to the server
Format = Callable[[Any], bytes]


# The server's refusals of LOAD DATA LOCAL (local_infile turned off, or not allowed).
_REFUSED = {1148, 3948, 4166}


class LocalInfileRefused(Exception):
    """The server refused LOAD DATA LOCAL; nothing was loaded."""


@dataclass(frozen=True)
class Digest:
    """What was sent of one table: its row count and the sum of its rows' hashes."""

    rows: int
    total: int


def _crc32_of_crc32(lines: list[bytes]) -> int:
    # CRC32 is linear: a plain sum of row CRCs can cancel out (values swapped between
    # rows in a way whose CRC differences sum to zero). Hashing the decimal text of each
    # row's CRC once more, as the server does with CRC32(CRC32(...)), breaks that.
    return sum(map(zlib.crc32, map(b"%d".__mod__, map(zlib.crc32, lines))))


def _rows_hash(vendor: str) -> Callable[[list[bytes]], int]:
    """The sum of a page's per-row hashes, each a hash the server can compute too: on
    MariaDB the CRC32 of the row's CRC32 (cheap C functions on both sides; a changed row
    passes unseen with odds of 1 in 4 billion), the first 64 bits of MD5 (signed, as
    PostgreSQL's bigint reads them) on PostgreSQL."""
    if vendor == "mysql":
        return _crc32_of_crc32
    md5 = hashlib.md5

    def first_64_bits(lines: list[bytes]) -> int:
        # One unpack of the joined digests: half the time of an int per row.
        heads = b"".join([md5(line).digest()[:8] for line in lines])
        return sum(struct.unpack(f">{len(lines)}q", heads))

    return first_64_bits


@dataclass(frozen=True)
class TableLoad:
    """How one table is streamed: a text formatter and SQL expressions per column."""

    table: Table
    columns: tuple[str, ...]  # in the order of each line
    sqlite_text: str  # SQLite expression for the first columns' text, "" when none
    formats: tuple[Format, ...]  # for the remaining columns, in Python
    selects: tuple[str, ...]  # what SQLite reads for each of those
    load_targets: tuple[str, ...]  # MariaDB: a column or a @variable set from it
    load_sets: tuple[str, ...]  # MariaDB: SET clauses for the variables
    renders: tuple[str, ...]  # SQL giving the stored value back as the sent text


# --- formatting: one SQLite value to the text both servers parse -----------------------
_SEPARATORS = b"\\\t\n\r"


def _text(value: bytes) -> bytes:
    # The escapes LOAD DATA and COPY's text format share; a tab, newline or backslash can
    # then never be taken for a separator (NULs are escaped per line, see _blocks). The
    # value comes as its UTF-8 bytes; one C call (translate) tells that most need nothing.
    if len(value.translate(None, _SEPARATORS)) != len(value):
        return (
            value.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")
            .replace(b"\r", b"\\r")
        )  # fmt: skip
    return value


def _integer(value: Any) -> bytes:
    return b"%d" % int(value)


def _datetime(value: Any) -> bytes:
    parsed = _parse_datetime(value)
    if parsed.tzinfo is not None:
        if not settings.USE_TZ:
            raise ValueError(f"{value!r} has a time zone but USE_TZ is False")
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed.isoformat(" ", "microseconds").encode()


def _parse_datetime(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        from django.utils.dateparse import parse_datetime  # 1-5 fraction digits, Python 3.10

        parsed = parse_datetime(value)
        if parsed is None:
            raise
        return parsed


def _date(value: Any) -> bytes:
    return datetime.date.fromisoformat(str(value)).isoformat().encode()


def _time(value: Any) -> bytes:
    return datetime.time.fromisoformat(str(value)).isoformat("microseconds").encode()


def _uuid(value: Any) -> bytes:
    return uuid.UUID(str(value)).hex.encode()


def _decimal(field: models.DecimalField, connection: BaseDatabaseWrapper) -> Format:
    # SQLite keeps decimals as REAL, INTEGER or TEXT: Django's own converter rebuilds the
    # exact value (15 significant digits from a float, quantized), as the ORM path does.
    col = field.get_col(field.model._meta.db_table)
    readers = connection.ops.get_db_converters(col) + col.get_db_converters(connection)

    def fmt(value: Any) -> bytes:
        for reader in readers:
            value = reader(value, col, connection)
        number = cast(decimal.Decimal, value)
        return f"{number.copy_abs() if number.is_zero() else number:f}".encode()

    return fmt


def _binary_mysql(value: Any) -> bytes:
    return bytes(value).hex().upper().encode()


def _binary_postgres(value: Any) -> bytes:
    return b"\\\\x" + bytes(value).hex().encode()  # bytea's \x form, its backslash escaped for COPY


# --- which columns can take the path, and how the servers render them back -------------
_TEXT = {
    models.CharField, models.TextField, models.SlugField, models.EmailField, models.URLField,
    models.GenericIPAddressField, models.FileField, models.FilePathField,
    models.ImageField,
}  # fmt: skip
_INTEGERS = {
    models.AutoField, models.BigAutoField, models.SmallAutoField, models.IntegerField,
    models.BigIntegerField, models.SmallIntegerField, models.PositiveIntegerField,
    models.PositiveBigIntegerField, models.PositiveSmallIntegerField, models.BooleanField,
}  # fmt: skip
_RELATIONS = (models.ForeignKey, models.OneToOneField)


def _stored(field: models.Field) -> models.Field:
    while type(field) in _RELATIONS:
        field = cast("models.ForeignKey", field).target_field
    return field


# True for a value holding a character the stream escapes: tab, newline, CR, backslash, NUL
# (a PCRE class; the backslashes are spelled as CHAR(92) whatever the sql_mode).
_MYSQL_ESCAPED = "CONCAT('[', CHAR(9), CHAR(10), CHAR(13), CHAR(92), CHAR(92), CHAR(92), 'x00]')"


def _mysql_text(col: str) -> str:
    # The escapes of _text (and _blocks' NULs), applied by the server to the stored
    # bytes; only to values that hold such a character: one regex test is far cheaper
    # than five REPLACEs over every value (a 1 KB text column's digest took 40% less).
    expr = f"CAST({col} AS BINARY)"
    for raw, code in ((92, 92), (9, ord("t")), (10, ord("n")), (13, ord("r")), (0, ord("0"))):
        expr = f"REPLACE({expr}, CHAR({raw}), CONCAT(CHAR(92), CHAR({code})))"
    return f"IF({col} REGEXP {_MYSQL_ESCAPED}, {expr}, {col})"


def _pg_text(expr: str) -> str:
    for raw, code in ((92, 92), (9, ord("t")), (10, ord("n")), (13, ord("r"))):
        expr = f"replace({expr}, chr({raw}), chr(92) || chr({code}))"
    return expr


def _mysql_column(
    field: models.Field, col: str, var: str, connection: BaseDatabaseWrapper
) -> tuple[Format, str, str, str] | None:
    """(format, load target, SET clause, render) for one column, or None: not supported."""
    kind = type(field)
    if kind in _TEXT:
        return _text, col, "", _mysql_text(col)
    # Numbers go into CONCAT_WS as they are: it writes the same text as a CAST AS CHAR.
    if kind in _INTEGERS or kind is models.DurationField:  # durations: bigint microseconds
        return _integer, col, "", col
    if kind is models.DateTimeField:
        return _datetime, col, "", f"DATE_FORMAT({col}, '%Y-%m-%d %H:%i:%s.%f')"
    if kind is models.DateField:
        return _date, col, "", f"DATE_FORMAT({col}, '%Y-%m-%d')"
    if kind is models.TimeField:
        return _time, col, "", f"TIME_FORMAT({col}, '%H:%i:%s.%f')"
    if kind is models.DecimalField:
        decimal_text = _decimal(cast(models.DecimalField, field), connection)
        return decimal_text, col, "", col
    if kind is models.UUIDField:  # char(32) or MariaDB's native uuid (with dashes)
        return _uuid, col, "", f"REPLACE(CAST({col} AS CHAR), '-', '')"
    if kind is models.JSONField:  # MariaDB keeps JSON as the text it was given
        return _text, col, "", _mysql_text(col)
    if kind is models.BinaryField:
        return _binary_mysql, var, f"{col} = UNHEX({var})", f"HEX({col})"
    return None


def _pg_column(
    field: models.Field, col: str, connection: BaseDatabaseWrapper
) -> tuple[Format, str] | None:
    kind = type(field)
    if kind in _TEXT:
        return _text, _pg_text(f"{col}::text")
    if kind is models.BooleanField:
        return _integer, f"{col}::int::text"
    if kind in _INTEGERS:
        return _integer, f"{col}::text"
    if kind is models.DateTimeField:
        return _datetime, f"to_char({col}, 'YYYY-MM-DD HH24:MI:SS.US')"
    if kind is models.DateField:
        return _date, f"to_char({col}, 'YYYY-MM-DD')"
    if kind is models.DecimalField:
        return _decimal(cast(models.DecimalField, field), connection), f"{col}::text"
    if kind is models.UUIDField:
        return _uuid, f"replace({col}::text, '-', '')"
    if kind is models.BinaryField:
        return _binary_postgres, f"'\\\\x' || encode({col}, 'hex')"
    return None  # jsonb and time render differently from what was sent: the ORM path


def _table_load(table: Table, source: Adapter, target: Adapter) -> TableLoad | None:
    """How to stream ``table``, or None when it must take the ORM path."""
    src, dst = source.connection, target.connection
    by_sqlite: list[tuple[str, str, str, str]] = []  # (column, SQLite text, load target, render)
    by_python: list[tuple[str, Format, str, str, str, str]] = []
    for i, field in enumerate(table.fields):
        column = cast(str, field.column)
        col = target.quote(column)
        stored = _stored(field)
        if type(field) not in _RELATIONS and stored is not field:
            return None
        set_clause = ""
        if dst.vendor == "mysql":
            found = _mysql_column(stored, col, f"@v{i}", src)
            if found is None:
                return None
            fmt, load_target, set_clause, render = found
        else:
            pg = _pg_column(stored, col, src)
            if pg is None:
                return None
            (fmt, render), load_target = pg, col
        text = _sqlite_text(source, column, fmt, stored)
        if text is not None:
            by_sqlite.append((column, text, load_target, render))
        else:
            select = _sqlite_select(source.quote(column), fmt)
            by_python.append((column, fmt, load_target, set_clause, render, select))
    # SQLite writes the text of integers and short text columns itself (in C, faster
    # than Python); they go first on each line, the columns Python formats after them.
    return TableLoad(
        table,
        tuple(c[0] for c in by_sqlite) + tuple(c[0] for c in by_python),
        " || char(9) || ".join(c[1] for c in by_sqlite),
        tuple(c[1] for c in by_python),
        tuple(c[5] for c in by_python),
        tuple(c[2] for c in by_sqlite) + tuple(c[2] for c in by_python),
        tuple(c[3] for c in by_python if c[3]),
        tuple(c[3] for c in by_sqlite) + tuple(c[4] for c in by_python),
    )


# Long text: SQLite's replace() copies each value four times whether or not it holds a
# separator; Python looks once (_text) and copies only the few that do.
_LONG_TEXT = (models.TextField, models.JSONField)


def _sqlite_text(source: Adapter, column: str, fmt: Format, field: models.Field) -> str | None:
    """SQLite's expression for the column's line text, when it writes it exactly and
    faster than Python would."""
    col = source.quote(column)
    if fmt is _integer:  # pre-flight proved these are SQLite integers (or NULL)
        return f"coalesce(CAST({col} AS TEXT), '\\N')"
    if fmt is not _text or isinstance(field, _LONG_TEXT):
        return None
    # SQLite's replace() cannot match a NUL: _blocks escapes those, the only NULs a line
    # can hold.
    for raw, code in ((92, 92), (9, ord("t")), (10, ord("n")), (13, ord("r"))):
        col = f"replace({col}, char({raw}), char(92, {code}))"
    return f"coalesce({col}, '\\N')"


def _sqlite_select(col: str, fmt: Format) -> str:
    """What SQLite reads for a column Python formats."""
    if fmt is _text:
        return f"CAST({col} AS BLOB)"  # its UTF-8 bytes: nothing decoded, nothing encoded again
    if fmt in (_datetime, _date, _time):
        # The stored text, past the converters Django gives sqlite3 for these declared
        # types (parsers in Python); the formats parse it in C (fromisoformat).
        return f"CAST({col} AS TEXT)"
    return col


# --- streaming ---------------------------------------------------------------------------
def _blocks(source: Adapter, spec: TableLoad, digests: bool, vendor: str,
            counted: list[Digest]) -> Generator[bytes, None, None]:  # fmt: skip
    """The table as text blocks; ``counted`` receives the digest when the table ends."""
    q = source.quote
    # SQLite's part comes as UTF-8 bytes (a BLOB): no str of four bytes per character
    # (one emoji makes a whole text that wide), no decoding and encoding again.
    first = [f"CAST({spec.sqlite_text} AS BLOB)"] if spec.sqlite_text else []
    selects = first + list(spec.selects)
    pk = q(cast(str, spec.table.pk.column))
    formats = spec.formats
    start = len(first)  # the row's first value is SQLite's text
    raw = source.connection.connection  # sqlite3: only this thread uses it during the load
    cursor = raw.execute(f"SELECT {', '.join(selects)} FROM {q(spec.table.name)} ORDER BY {pk}")
    rows = total = 0
    rows_hash = _rows_hash(vendor) if digests else None
    try:
        while batch := cursor.fetchmany(_FETCH):
            if not formats:
                lines = [row[0] for row in batch]
            else:
                lines = [
                    b"\t".join(
                        [*row[:start]]
                        + [
                            b"\\N" if v is None else fmt(v)
                            for fmt, v in zip(formats, row[start:], strict=True)
                        ]
                    )
                    for row in batch
                ]
            lines = [line.replace(b"\0", b"\\0") if b"\0" in line else line for line in lines]
            if rows_hash is not None:
                total += rows_hash(lines)
            rows += len(lines)
            yield b"\n".join(lines) + b"\n"
    finally:
        cursor.close()
    counted.append(Digest(rows, total))


def load(spec: TableLoad, source: Adapter, target: Adapter, *, digests: bool,
         advance: Callable[[int], None]) -> Digest:  # fmt: skip
    """Stream one table into the target, inside the caller's transaction."""
    if target.connection.vendor == "mysql":
        return _load_mysql(spec, source, target, digests, advance)
    return _load_postgres(spec, source, target, digests, advance)


def _load_postgres(spec: TableLoad, source: Adapter, target: Adapter, digests: bool,
                   advance: Callable[[int], None]) -> Digest:  # fmt: skip
    counted: list[Digest] = []
    sql = "COPY {} ({}) FROM STDIN".format(
        target.quote(spec.table.name), ", ".join(target.quote(c) for c in spec.columns)
    )
    blocks = _blocks(source, spec, digests, target.connection.vendor, counted)
    with closing(blocks), target.connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
        for block in blocks:
            copy.write(block)
            advance(block.count(b"\n"))
    return counted[0]


try:
    import fcntl

    _SET_PIPE_SIZE = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
except ImportError:  # Windows
    _SET_PIPE_SIZE = None


class _Feeder(threading.Thread):
    """Writes the table's text into the FIFO the server's LOAD DATA reads from."""

    def __init__(self, path: str, blocks: Generator[bytes, None, None],
                 advance: Callable[[int], None]) -> None:  # fmt: skip
        super().__init__(name="dbcopy-bulk", daemon=True)
        self.path, self.blocks, self.advance = path, blocks, advance
        self.error: BaseException | None = None
        self.aborted = False

    def run(self) -> None:
        try:
            with open(self.path, "wb", buffering=0) as fifo:
                if _SET_PIPE_SIZE is not None:  # Linux: 16 writes of 64 KB become one
                    with suppress(OSError):
                        fcntl.fcntl(fifo.fileno(), _SET_PIPE_SIZE, 1 << 20)
                for block in self.blocks:
                    if self.aborted:
                        return
                    view = memoryview(block)
                    while view:  # a pipe write may be cut short (by a signal, say)
                        view = view[fifo.write(view) or 0 :]
                    self.advance(block.count(b"\n"))
        except BrokenPipeError:
            self.aborted = True  # the statement failed; its error is the one reported
        except BaseException as exc:
            self.error = exc
        finally:
            self.blocks.close()  # here, while the source connection is still open

    def release(self) -> None:
        """Stop the writer after a failed statement, wherever it is.

        A reader is held on the FIFO until the writer has ended: a writer that had not
        yet opened it gets in (opening and closing at once could come before its open,
        which then waited forever), and what it still writes is drained until it sees
        ``aborted``.
        """
        self.aborted = True
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
            return
        try:
            while self.is_alive():
                with suppress(BlockingIOError):
                    os.read(fd, 1 << 16)
                self.join(0.01)
        finally:
            os.close(fd)


def _load_mysql(spec: TableLoad, source: Adapter, target: Adapter, digests: bool,
                advance: Callable[[int], None]) -> Digest:  # fmt: skip
    counted: list[Digest] = []
    folder = tempfile.mkdtemp(prefix="dbcopy-")  # private (0700): only this process reads
    path = os.path.join(folder, "rows.tsv")
    os.mkfifo(path, 0o600)
    # Every column in order; the escape and separators are spelled out, whatever the
    # server's sql_mode says about backslashes.
    sql = (
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {target.quote(spec.table.name)} "
        "CHARACTER SET utf8mb4 FIELDS TERMINATED BY 0x09 ESCAPED BY 0x5c "
        f"LINES TERMINATED BY 0x0a ({', '.join(spec.load_targets)})"
        + (f" SET {', '.join(spec.load_sets)}" if spec.load_sets else "")
    )
    blocks = _blocks(source, spec, digests, target.connection.vendor, counted)
    feeder = _Feeder(path, blocks, advance)
    feeder.start()
    raw = target.connection.connection
    try:
        with raw.cursor() as cursor:
            try:
                cursor.execute(sql, [path])
            except BaseException as exc:
                feeder.release()
                if isinstance(exc, raw.OperationalError) and exc.args[:1] in [
                    (c,) for c in _REFUSED
                ]:
                    raise LocalInfileRefused(str(exc)) from exc
                raise
            finally:
                feeder.join()
            loaded = cursor.rowcount
            warnings = raw.warning_count()
            if warnings:
                cursor.execute("SHOW WARNINGS LIMIT 1")
                first = cursor.fetchone()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if feeder.error is not None:
        raise feeder.error
    sent = counted[0] if counted else None
    # LOAD DATA LOCAL turns refused values and duplicates into warnings: any warning or
    # any row short fails the table, and its transaction is rolled back.
    if warnings:
        raise DatabaseError(f"the server changed or skipped values: {first[2]}")
    if sent is None or loaded != sent.rows:
        raise DatabaseError(
            f"the server loaded {loaded} rows of {sent.rows if sent else 'an unfinished'} stream"
        )
    return sent


# --- verification: one aggregate per table -----------------------------------------------
def server_digest(spec: TableLoad, target: Adapter) -> Digest:
    """The target's rows rendered back to the sent text, hashed and summed by the server."""
    table = target.quote(spec.table.name)
    if target.connection.vendor == "mysql":
        parts = ", ".join(f"IFNULL({r}, CONCAT(CHAR(92), 'N'))" for r in spec.renders)
        sql = (
            "SELECT COUNT(*), COALESCE(SUM(CRC32(CRC32(CONCAT_WS(CHAR(9), "
            f"{parts})))), 0) FROM {table}"
        )
    else:
        parts = ", ".join(f"coalesce({r}, chr(92) || 'N')" for r in spec.renders)
        sql = (
            "SELECT COUNT(*), COALESCE(SUM(('x' || substr(md5(concat_ws(chr(9), "
            f"{parts})), 1, 16))::bit(64)::bigint), 0) FROM {table}"
        )
    with target.connection.cursor() as cursor:
        cursor.execute(sql)
        count, total = cursor.fetchone()
    return Digest(int(count), int(total))


def orphan_free(loads: dict[str, TableLoad], source: Adapter, keep: Sequence[str],
                checked: bool = False) -> dict[str, tuple[str, str]]:  # fmt: skip
    """The FKs between two streamed tables that have no dangling value in the source, by
    label, with (table, referenced table).

    Run in the same source snapshot as the streams: once both tables' server digests
    match what was sent, the target holds these same values, so it has no dangling
    value either, and the anti-join on the target (one index lookup per row, seconds
    at a million rows on MariaDB) is not needed. ``checked``: the snapshot is the data
    the pre-flight read (no commit since), whose orphan check passed for these FKs (any
    orphan it found stopped the copy), so it is not run again.
    """
    kept = {k.lower() for k in keep}
    found = {}
    for spec in loads.values():
        for field in fk_fields(spec.table.model):
            label = field_label(field).lower()
            parent = field.related_model._meta.db_table
            constrained: bool = field.db_constraint  # type: ignore[attr-defined]
            if not constrained or label in kept or parent not in loads:
                continue  # fk_problems skips the first two; the target proves the third
            if checked or not orphans(source, spec.table, field):
                found[label] = (spec.table.name, parent)
    return found


class Digester(threading.Thread):
    """Asks the target for the digests of committed tables while the next ones load: on
    two cores the server's aggregate of one table overlaps the load of the next. Its own
    connection, in autocommit, sees exactly what was committed."""

    def __init__(self, loads: dict[str, TableLoad], alias: str,
                 todo: queue.Queue[str | None] | None = None) -> None:  # fmt: skip
        super().__init__(name="dbcopy-digest", daemon=True)
        self.loads, self.alias = loads, alias
        # Table names to digest, None to stop; several digesters may share one queue.
        self.todo: queue.Queue[str | None] = queue.Queue() if todo is None else todo
        self.found: dict[str, Digest] = {}

    def run(self) -> None:
        from django.db import connections

        connection = connections[self.alias]  # this thread's own
        try:
            target = adapter_for(connection)
            while (name := self.todo.get()) is not None:
                self.found[name] = server_digest(self.loads[name], target)
        except Exception:  # noqa: S110 - the tables it did not do are asked again by the caller
            pass
        finally:
            connection.close()

    def finish(self) -> dict[str, Digest]:
        """The digests found; the others are for the caller to ask."""
        self.todo.put(None)
        self.join()
        return dict(self.found)


def digests_at_once(
    loads: dict[str, TableLoad], sent: dict[str, Digest], alias: str, workers: int = 2
) -> dict[str, Digest]:
    """The target digests of the ``sent`` tables, asked ``workers`` at a time once the
    load is over (where they cannot run beside it): the largest tables first, so that
    the last one to finish is a small one. The tables not found are for the caller."""
    todo: queue.Queue[str | None] = queue.Queue()
    for name in sorted(sent, key=lambda name: sent[name].rows, reverse=True):
        todo.put(name)
    digesters = [Digester(loads, alias, todo) for _ in range(workers)]
    for digester in digesters:
        todo.put(None)  # one stop per digester, after every table
        digester.start()
    for digester in digesters:
        digester.join()
    return {name: digest for d in digesters for name, digest in d.found.items()}


def differing(loads: dict[str, TableLoad], sent: dict[str, Digest], source: Adapter,
              target: Adapter, found: dict[str, Digest] | None = None) -> set[str]:  # fmt: skip
    """The streamed tables whose target rows differ from what was sent (or whose source
    has changed its row count since); ``found`` has the target digests already asked."""
    found = found or {}
    differ = set()
    for name, digest in sent.items():
        with source.connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {source.quote(name)}")
            in_source = int(cursor.fetchone()[0])
        in_target = found.get(name) or server_digest(loads[name], target)
        if in_source != digest.rows or in_target != digest:
            differ.add(name)
    return differ


def prepare(
    tables: list[Table], source: Adapter, target: Adapter
) -> tuple[dict[str, TableLoad], str]:
    """The tables to stream, by name, and a note when the bulk path is not available.

    Called before the load starts, outside any transaction: on MariaDB the target is
    reconnected with the client's LOCAL INFILE enabled (the server must allow it too).
    """
    src, dst = source.connection, target.connection
    if src.vendor != "sqlite" or dst.vendor not in ("mysql", "postgresql"):
        return {}, ""
    if src.settings_dict.get("TIME_ZONE") != dst.settings_dict.get("TIME_ZONE"):
        return {}, ""  # naive datetimes would need shifting between the two zones
    loads = {t.name: spec for t in tables if (spec := _table_load(t, source, target))}
    if not loads or dst.vendor != "mysql":
        return loads, ""
    with dst.cursor() as cursor:
        cursor.execute("SELECT @@local_infile")
        allowed = bool(cursor.fetchone()[0])
    if not allowed:
        return {}, (
            "the MariaDB server has local_infile OFF, so rows went in as multi-row INSERTs "
            "(several times slower than LOAD DATA). To use the bulk path: SET GLOBAL "
            "local_infile = 1 (and local_infile = 1 under [mysqld] in the server's config)."
        )
    if not dst.settings_dict["OPTIONS"].get("local_infile"):
        dst.close()
        # Only this process's connection object: the client may now send local files,
        # and dbcopy only ever names its own FIFO.
        dst.settings_dict["OPTIONS"] = {**dst.settings_dict["OPTIONS"], "local_infile": 1}
        dst.ensure_connection()
    return loads, ""
