"""What ``manage.py reindex_search`` does, as plain functions (the command only parses).

Exit codes: 0 ok; 1 a Meilisearch task failed, verification failed, the server
failed mid-run, or ``--check`` found drift; 2 configuration error (search not
configured, server unreachable, key rejected, unknown index, bad declaration),
found before anything is changed; 3 another rebuild of the index is running.
"""

from __future__ import annotations

import io
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from django.core.serializers.json import DjangoJSONEncoder

from django_deploykit.exceptions import ConfigError, DeployKitError
from django_deploykit.search.client import RebuildLocked, SearchClient
from django_deploykit.search.drift import index_drift
from django_deploykit.search.indexes import SearchIndex, get_index, get_indexes
from django_deploykit.search.reindex import (
    Progress,
    ShrinkRefused,
    SwapUnconfirmed,
    plan,
    rebuild,
)

__all__ = ["Outcome", "ProgressBar", "exit_code", "reindex_search", "select_indexes"]


def exit_code(exc: BaseException) -> int:
    if isinstance(exc, ConfigError):
        return 2
    if isinstance(exc, RebuildLocked):
        return 3
    return 1


@dataclass
class Outcome:
    """The command's result: a summary for --json, text lines, and an exit code."""

    mode: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    code: int = 0

    def as_json(self) -> str:
        data = {
            "mode": self.mode,
            "ok": self.code == 0,
            "exit_code": self.code,
            "indexes": self.entries,
        }
        return json.dumps(data, indent=2, cls=DjangoJSONEncoder, ensure_ascii=False)


def select_indexes(names: list[str] | None) -> list[SearchIndex]:
    """The named (or all) declared indexes, every declaration validated first."""
    indexes = [get_index(n) for n in names] if names else get_indexes()
    if not indexes:
        raise ConfigError(
            "No search index is declared. Add a SearchIndex subclass to an app's "
            "search_indexes.py module, or list one in DEPLOYKIT_SEARCH_INDEXES."
        )
    for index in indexes:
        index.validate()
    return indexes


def reindex_search(
    names: list[str] | None,
    *,
    batch_size: int,
    in_place: bool = False,
    allow_shrink: bool = False,
    dry_run: bool = False,
    check: bool = False,
    bar: ProgressBar | None = None,
) -> Outcome:
    indexes = select_indexes(names)
    client = SearchClient()
    version = client.preflight()
    if dry_run:
        return _dry_run(client, indexes)
    if check:
        return _check(client, indexes)
    outcome = Outcome("in-place" if in_place else "rebuild")
    for index in indexes:
        try:
            result = rebuild(
                index,
                client,
                batch_size=batch_size,
                in_place=in_place,
                allow_shrink=allow_shrink,
                on_progress=bar or _ignore,
                on_message=bar.message if bar else _ignore,
            )
        except DeployKitError as exc:
            # Past the preflight, even a configuration problem (a key lacking one
            # permission) comes after changes: it is a failure (1), not "nothing changed".
            code = 1 if isinstance(exc, ConfigError) else exit_code(exc)
            state = (
                f"the live index {index.uid!r} may be incomplete (--in-place): fix the cause "
                "and run again"
                if in_place
                else f"the live index {index.uid!r} was not changed"
            )
            plain = isinstance(exc, (ShrinkRefused, SwapUnconfirmed))  # they say it all
            message = str(exc) if plain else f"{exc} ({state})"
            outcome.code = max(outcome.code, code)
            outcome.entries.append(
                {
                    "index": index.name,
                    "uid": index.uid,
                    "ok": False,
                    "error": message,
                    "exit_code": code,
                }
            )
            outcome.lines.append(f"FAILED {index.uid}: {message}")
            continue
        outcome.entries.append({**result.as_dict(), "ok": True})
        action = "rebuilt in place" if in_place else "rebuilt and swapped in"
        outcome.lines.append(
            f"{index.uid}: {result.documents} documents in {result.batches} batches, "
            f"{action} in {result.seconds:.1f} s ({result.docs_per_second:,.0f} docs/s, "
            f"Meilisearch {version})"
        )
    return outcome


def _dry_run(client: SearchClient, indexes: list[SearchIndex]) -> Outcome:
    outcome = Outcome("dry-run")
    for index in indexes:
        p = plan(index, client)
        outcome.entries.append(p.as_dict())
        outcome.lines.append(
            f"{p.uid}: would index {p.rows} rows of {p.model}, primary key "
            f"{p.primary_key!r}, fields {', '.join(p.fields)}"
        )
        if p.sample is not None:
            sample = json.dumps(p.sample, cls=DjangoJSONEncoder, ensure_ascii=False)
            outcome.lines.append(f"  first document: {sample[:300]}")
        if not p.live_exists:
            outcome.lines.append("  the live index does not exist yet")
        for d in p.settings_diff:
            outcome.lines.append(f"  setting {d.key}: live {d.live!r} -> declared {d.declared!r}")
        if p.live_exists and not p.settings_diff:
            outcome.lines.append("  live settings match the declaration")
    return outcome


def _check(client: SearchClient, indexes: list[SearchIndex]) -> Outcome:
    outcome = Outcome("check")
    for index in indexes:
        exists, diff = index_drift(client, index)
        outcome.entries.append(
            {
                "index": index.name,
                "uid": index.uid,
                "exists": exists,
                "ok": exists and not diff,
                "drift": [d.as_dict() for d in diff],
            }
        )
        if not exists:
            outcome.lines.append(f"{index.uid}: the live index does not exist; run reindex_search")
        for d in diff if exists else ():
            outcome.lines.append(
                f"{index.uid}: setting {d.key} drifted: live {d.live!r}, declared {d.declared!r}"
            )
        if exists and not diff:
            outcome.lines.append(f"{index.uid}: settings match the declaration")
        if not exists or diff:
            outcome.code = 1
    return outcome


def _ignore(_: Any) -> None:
    pass


class ProgressBar:
    """A one-line bar with docs/s and ETA on a terminal; sparse lines otherwise."""

    def __init__(
        self, stream: TextIO | io.TextIOBase | None = None, *, tty: bool | None = None
    ) -> None:
        self.stream: TextIO | io.TextIOBase = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._last = 0.0
        self._open = False
        self._finished: set[str] = set()

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        finished = p.done >= p.total
        if p.index in self._finished or (
            not finished and now - self._last < (0.2 if self.tty else 10.0)
        ):
            return
        if finished:
            self._finished.add(p.index)
        self._last = now
        share = p.done / p.total if p.total else 1.0
        bar = "#" * int(share * 24)
        eta = f"ETA {p.eta:.0f} s" if p.eta is not None else ("done" if finished else "")
        line = f"{p.index} [{bar:<24}] {p.done:,}/{p.total:,} {p.rate:,.0f} docs/s {eta}"
        if self.tty:
            self.stream.write("\r" + line.ljust(79))
            self._open = not finished
            if finished:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if self._open:
            self.stream.write("\n")
            self._open = False
        self.stream.write(text + "\n")
        self.stream.flush()
