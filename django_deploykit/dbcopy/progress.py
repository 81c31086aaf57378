"""Progress of a copy: one tqdm bar per table, on a terminal only.

``progress_for(stream, verbosity)`` is the package's one way to show progress: a bar
with whole-row counts, rows/s and time left when ``stream`` is a terminal and
verbosity is at least 1; nothing at all otherwise (piped logs get no ``\\r`` lines).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from django_deploykit.dbcopy.plan import Table

__all__ = ["BarProgress", "Progress", "progress_for"]


class Progress:
    """Receives progress; the command shows it, tests and the library ignore it."""

    def start(self, table: Table, total: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def finish(self) -> None: ...


class BarProgress(Progress):
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar: Any = None

    def start(self, table: Table, total: int) -> None:
        from tqdm import tqdm  # imported only for a bar: 0.1 s off every other start-up

        self.bar = tqdm(
            total=total, desc=table.name, unit=" rows", unit_scale=False, file=self.stream,
            leave=True, dynamic_ncols=True, mininterval=0.5,
        )  # fmt: skip

    def advance(self, rows: int) -> None:
        self.bar.update(rows)

    def finish(self) -> None:
        self.bar.close()


def progress_for(stream: Any, verbosity: int) -> Progress:
    """A bar on a terminal at verbosity >= 1, silence elsewhere."""
    isatty = getattr(stream, "isatty", None)
    if verbosity >= 1 and isatty is not None and isatty():
        return BarProgress(stream)
    return Progress()
