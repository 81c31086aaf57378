"""One pass over each source table for all of the pre-flight's row checks.

Each check of a column is a SQL condition, true for a row with the problem. The
conditions of one table are evaluated together in a single scan (a flag per check);
only a check whose flag is set runs its own query, which names the rows. A million-row
table is then read once by the pre-flight, not once per column and check.

The scans of different tables (and the orphan checks) are independent reads: they run
two at a time, each on a connection of its own, so that the database server works on
both cores while the pre-flight waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django_deploykit.dbcopy.backends.base import Adapter
    from django_deploykit.dbcopy.plan import Table
    from django_deploykit.dbcopy.report import Problem

__all__ = ["Read", "Scan", "read_in_parallel", "scan_flags", "scan_problems"]

Read = Callable[["Adapter"], Any]


@dataclass(frozen=True)
class Scan:
    # SQL true for a row of the table with the problem (NULL counts as false).
    condition: str
    # The problems, named by row: its own query, run only when some row matched.
    report: Callable[[], list[Problem]]


def scan_flags(source: Adapter, *, table: Table, scans: Sequence[Scan]) -> tuple[bool, ...]:
    """Which of ``scans`` some row of ``table`` matches, in one read of the table."""
    if not scans:
        return ()
    flags = ", ".join(f"MAX(CASE WHEN {s.condition} THEN 1 ELSE 0 END)" for s in scans)
    with source.connection.cursor() as cursor:
        cursor.execute(f"SELECT {flags} FROM {source.quote(table.name)}")
        return tuple(bool(hit) for hit in cursor.fetchone())


def scan_problems(scans: Sequence[Scan], flags: Sequence[bool]) -> list[Problem]:
    """The problems of the scans whose flag is set, each named by row."""
    return [problem for scan, hit in zip(scans, flags, strict=True) if hit
            for problem in scan.report()]  # fmt: skip


def read_in_parallel(alias: str, reads: Sequence[Read], workers: int = 2) -> list[Any]:
    """Each read's result, in the order of ``reads``, run ``workers`` at a time.

    Each worker thread reads through its own connection to ``alias`` (Django's
    connections are per thread), closed when it is done. The first error is raised
    once every worker has stopped.
    """
    from django.db import connections

    from django_deploykit.dbcopy.backends import adapter_for

    results: list[Any] = [None] * len(reads)
    errors: list[BaseException] = []
    pending = iter(enumerate(reads))
    lock = threading.Lock()

    def work() -> None:
        connection = connections[alias]  # this thread's own
        try:
            side = adapter_for(connection)
            while not errors:
                with lock:
                    index, read = next(pending, (-1, None))
                if read is None:
                    return
                results[index] = read(side)
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, name=f"dbcopy-read-{i}", daemon=True)
               for i in range(max(1, min(workers, len(reads))))]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
