"""What pre-flight finds and what a run did, as plain data (printed or dumped as JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Problem", "Result", "TableResult"]


@dataclass(frozen=True)
class Problem:
    """One finding, pinned to a table (and a row and column when it has one)."""

    code: str  # stable id, e.g. "max_length", "orphan_fk"
    message: str
    fix: str
    table: str = ""
    pk: Any = None
    column: str = ""
    side: str = "source"  # which database holds the problem
    severity: str = "error"  # errors block the copy, warnings do not

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pk"] = None if self.pk is None else str(self.pk)
        return data

    def __str__(self) -> str:
        where = self.table
        if self.pk is not None:
            where += f" pk={self.pk}"
        if self.column:
            where += f" column {self.column}"
        return (
            f"[{self.code}] {where}: {self.message}" if where else f"[{self.code}] {self.message}"
        )


@dataclass
class TableResult:
    table: str
    rows: int = 0
    seconds: float = 0.0
    skipped: bool = False  # already copied by an interrupted run (--resume)
    verified: bool | None = None


@dataclass
class Result:
    source: str
    target: str
    problems: list[Problem] = field(default_factory=list)
    tables: list[TableResult] = field(default_factory=list)
    copied: bool = False
    verified: bool | None = None
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Tables of the source that are not copied, with the reason: (table, reason).
    not_copied: list[tuple[str, str]] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def rows(self) -> int:
        """Rows copied by this run (an interrupted run's tables are not counted again)."""
        return sum(t.rows for t in self.tables if not t.skipped)

    @property
    def skipped(self) -> list[TableResult]:
        return [t for t in self.tables if t.skipped]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.errors and not self.mismatches,
            "source": self.source,
            "target": self.target,
            "copied": self.copied,
            "verified": self.verified,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "problems": [p.as_dict() for p in self.problems],
            "mismatches": self.mismatches,
            "tables": [asdict(t) for t in self.tables],
            "not_copied": [{"table": t, "reason": r} for t, r in self.not_copied],
        }
