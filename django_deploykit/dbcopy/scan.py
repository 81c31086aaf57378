"""One pass over each source table for all of the pre-flight's row checks.

Each check of a column is a SQL condition, true for a row with the problem. The
conditions of one table are evaluated together in a single scan (a flag per check);
only a check whose flag is set runs its own query, which names the rows. A million-row
table is then read once by the pre-flight, not once per column and check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django_deploykit.dbcopy.backends.base import Adapter
    from django_deploykit.dbcopy.plan import Table
    from django_deploykit.dbcopy.report import Problem

__all__ = ["Scan", "scan_table"]


@dataclass(frozen=True)
class Scan:
    # SQL true for a row of the table with the problem (NULL counts as false).
    condition: str
    # The problems, named by row: its own query, run only when some row matched.
    report: Callable[[], list[Problem]]


def scan_table(source: Adapter, table: Table, scans: Sequence[Scan]) -> list[Problem]:
    if not scans:
        return []
    flags = ", ".join(f"MAX(CASE WHEN {s.condition} THEN 1 ELSE 0 END)" for s in scans)
    with source.connection.cursor() as cursor:
        cursor.execute(f"SELECT {flags} FROM {source.quote(table.name)}")
        found = cursor.fetchone()
    return [problem for scan, hit in zip(scans, found, strict=True) if hit
            for problem in scan.report()]  # fmt: skip
