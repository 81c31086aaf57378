"""Stream every table from the source into the target.

A reader thread pages through the source by primary key (keyset, never OFFSET) and
converts the values; the calling thread writes them with multi-row inserts. The two
overlap, because the drivers release the GIL while the servers work. One transaction
per group of tables (a group holds an FK cycle) ends with its checkpoint row, so a
group is either wholly in the target and recorded, or not there at all.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

from django.db import DatabaseError, connections, transaction

from django_deploykit.dbcopy import bulk
from django_deploykit.dbcopy.backends import Adapter, adapter_for
from django_deploykit.dbcopy.convert import Row, row_converter
from django_deploykit.dbcopy.plan import Plan, Table
from django_deploykit.dbcopy.progress import Progress
from django_deploykit.dbcopy.report import TableResult
from django_deploykit.dbcopy.state import StateTable
from django_deploykit.exceptions import DeployKitError

__all__ = ["CopyFailed", "copy_plan"]

_END = object()


class CopyFailed(DeployKitError):
    """A table could not be written; its group was rolled back (exit code 1)."""


def _failure(table: Table, exc: BaseException) -> CopyFailed:
    # One line of the driver's message: enough to act on, no traceback.
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CopyFailed(
        f"The copy stopped in table {table.name} ({table.label}): {type(exc).__name__}: "
        f"{reason}. Its rows were rolled back."
    )


def _pages(cursor: Any, table: Table, adapter: Adapter, batch_rows: int) -> Iterator[list[Row]]:
    q = adapter.quote
    columns = ", ".join(q(cast(str, f.column)) for f in table.fields)
    pk = q(table.pk.column)
    pk_index = [f.column for f in table.fields].index(table.pk.column)
    first = f"SELECT {columns} FROM {q(table.name)} ORDER BY {pk} LIMIT {batch_rows}"
    after = (
        f"SELECT {columns} FROM {q(table.name)} WHERE {pk} > %s ORDER BY {pk} LIMIT {batch_rows}"
    )
    cursor.execute(first)
    while rows := cursor.fetchall():
        yield rows
        if len(rows) < batch_rows:
            return
        cursor.execute(after, [rows[-1][pk_index]])


def _chunks(rows: list[Row], wide: list[int], limit: int) -> Iterator[list[Row]]:
    """Cut a page into inserts of at most ``limit`` bytes (text and binary counted)."""
    if not wide:
        yield rows
        return
    start, size = 0, 0
    for i, row in enumerate(rows):
        size += 32 + sum(
            len(v) if isinstance(v, (str, bytes)) else 64 for v in map(row.__getitem__, wide)
        )
        if size > limit and i > start:
            yield rows[start:i]
            start, size = i, 0
    yield rows[start:]


class _Reader(threading.Thread):
    def __init__(self, alias: str, tables: list[Table], target: Adapter, batch_rows: int,
                 batch_bytes: int) -> None:  # fmt: skip
        super().__init__(name="dbcopy-reader", daemon=True)
        self.alias, self.tables, self.target = alias, tables, target
        self.batch_rows, self.batch_bytes = batch_rows, batch_bytes
        # Two pages in flight at most: memory stays flat however large the tables are.
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self.stop = threading.Event()
        self.failed_table: Table | None = None  # the table being read when it failed
        self.error: Exception | None = None

    def _put(self, item: Any) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def run(self) -> None:
        # Django connections belong to one thread: this one opens its own.
        conn = connections[self.alias]
        from django_deploykit.dbcopy.backends import adapter_for

        source = adapter_for(conn)
        try:
            with conn.cursor() as cursor:
                for table in self.tables:
                    self.failed_table = table
                    convert = row_converter(table, conn, self.target.connection)
                    wide = [i for i, f in enumerate(table.fields) if _is_wide(f)]
                    for rows in _pages(cursor, table, source, self.batch_rows):
                        for chunk in _chunks(convert(rows), wide, self.batch_bytes):
                            self._put((table.name, chunk))
                        if self.stop.is_set():
                            return
                    self._put((table.name, _END))
                self.failed_table = None
        except Exception as exc:  # handed to the writer, which re-raises it
            self.error = exc
            self._put(("", exc))
        finally:
            conn.close()


def _is_wide(field: Any) -> bool:
    return field.get_internal_type() in ("CharField", "TextField", "BinaryField", "JSONField")


def copy_plan(
    plan: Plan,
    source_alias: str,
    target: Adapter,
    state: StateTable,
    *,
    totals: dict[str, int],
    done: set[str],
    batch_rows: int,
    batch_bytes: int,
    progress: Progress,
    on_group: Callable[[list[str]], None] | None = None,
    loads: dict[str, bulk.TableLoad] | None = None,
    sent: dict[str, bulk.Digest] | None = None,
) -> list[TableResult]:
    """Copy every table not ``done``. Tables in ``loads`` are streamed through the
    server's bulk path (``bulk.py``); their digests go into ``sent`` when it is given."""
    results: list[TableResult] = []
    todo = [t for t in plan.tables if t.name not in done]
    loads = loads or {}
    _clear(target, todo)
    reader = _Reader(source_alias, [t for t in todo if t.name not in loads], target,
                     batch_rows, target.batch_bytes(batch_bytes))  # fmt: skip
    # Inserts go through the driver's own cursor: its errors are not Django's wrappers.
    # The backends' wrappers have .Database (the driver module); django-stubs do not say so.
    failures = (DatabaseError, target.connection.Database.Error,  # type: ignore[attr-defined]
                connections[source_alias].Database.Error,  # type: ignore[attr-defined]
                ValueError, TypeError,
                OverflowError, OSError)  # fmt: skip
    reader.start()
    try:
        for group in plan.groups:
            if all(t.name in done for t in group.tables):
                results += [TableResult(t.name, totals[t.name], skipped=True) for t in group.tables]
                continue
            current: list[Table] = []
            try:
                with transaction.atomic(using=target.connection.alias):
                    suspended = target.suspend_foreign_keys(group.tables)
                    group_results = []
                    for t in group.tables:
                        current[:] = [t]
                        group_results.append(
                            _stream_table(
                                loads[t.name], source_alias, target, totals, progress, sent
                            )
                            if t.name in loads
                            else _write_table(t, reader, target, totals, progress)
                        )
                    target.restore_foreign_keys(suspended)
                    for r in group_results:
                        state.put(f"done:{r.table}", str(r.rows))
            except failures as exc:
                # The reader's conversion errors arrive here too; the group is rolled back.
                failed = reader.failed_table if exc is reader.error else None
                raise _failure(failed or (current[0] if current else group.tables[0]),
                               exc) from exc  # fmt: skip
            results += group_results
            if on_group is not None:  # the group is committed
                on_group([r.table for r in group_results])
    finally:
        reader.stop.set()
        reader.join(timeout=30)
    return results


def _clear(target: Adapter, tables: list[Table]) -> None:
    """Remove migrate's own rows (contenttypes, permissions) and leftovers, in one go."""
    with transaction.atomic(using=target.connection.alias), target.connection.cursor() as cursor:
        for table in reversed(tables):
            cursor.execute(f"DELETE FROM {target.quote(table.name)}")


def _write_table(table: Table, reader: _Reader, target: Adapter, totals: dict[str, int],
                 progress: Progress) -> TableResult:  # fmt: skip
    started = time.monotonic()
    progress.start(table, totals.get(table.name, 0))
    columns = [cast(str, f.column) for f in table.fields]  # concrete fields have columns
    rows = 0
    while True:
        name, chunk = reader.queue.get()
        if isinstance(chunk, BaseException):
            raise chunk
        if chunk is _END:
            break
        assert name == table.name, (name, table.name)  # the reader follows the same order
        target.insert(table, columns, chunk)
        rows += len(chunk)
        progress.advance(len(chunk))
    progress.finish()
    return TableResult(table.name, rows, time.monotonic() - started)


def _stream_table(spec: bulk.TableLoad, source_alias: str, target: Adapter,
                  totals: dict[str, int], progress: Progress,
                  sent: dict[str, bulk.Digest] | None) -> TableResult:  # fmt: skip
    started = time.monotonic()
    table = spec.table
    progress.start(table, totals.get(table.name, 0))
    connection = connections[source_alias]
    source = adapter_for(connection)
    try:
        digest = bulk.load(spec, source, target, digests=sent is not None,
                           advance=progress.advance)  # fmt: skip
    except bulk.LocalInfileRefused:
        # local_infile was turned off since the copy began: this table (and the next)
        # go in as inserts, and are verified row by row.
        rows = _insert_table(table, connection, target, progress)
        return TableResult(table.name, rows, time.monotonic() - started)
    if sent is not None:
        sent[table.name] = digest
    progress.finish()
    return TableResult(table.name, digest.rows, time.monotonic() - started)


def _insert_table(table: Table, connection: Any, target: Adapter, progress: Progress) -> int:
    """The ORM path in this thread: pages read, converted and inserted one after another."""
    convert = row_converter(table, connection, target.connection)
    columns = [cast(str, f.column) for f in table.fields]
    wide = [i for i, f in enumerate(table.fields) if _is_wide(f)]
    rows = 0
    with connection.cursor() as cursor:
        for page in _pages(cursor, table, adapter_for(connection), 2000):
            for chunk in _chunks(convert(page), wide, target.batch_bytes(2 * 1024 * 1024)):
                target.insert(table, columns, chunk)
                rows += len(chunk)
                progress.advance(len(chunk))
    progress.finish()
    return rows
