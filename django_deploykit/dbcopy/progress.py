"""A per-table progress bar (rows, rows/s, ETA) for the command."""

from __future__ import annotations

from typing import Any, TextIO

from tqdm import tqdm

from django_deploykit.dbcopy.copy import Progress
from django_deploykit.dbcopy.plan import Table

__all__ = ["BarProgress"]


class BarProgress(Progress):
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar: Any = None

    def start(self, table: Table, total: int) -> None:
        self.bar = tqdm(
            total=total, desc=table.name, unit=" rows", unit_scale=True, file=self.stream,
            leave=True, dynamic_ncols=True, mininterval=0.5,
        )  # fmt: skip

    def advance(self, rows: int) -> None:
        self.bar.update(rows)

    def finish(self) -> None:
        self.bar.close()
