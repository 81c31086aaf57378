"""Reading documents out of the database in bounded batches.

Keyset pagination (``pk > last``, ordered by pk) instead of OFFSET, so the
millionth row costs what the first did and rows are neither skipped nor repeated;
each batch is one query plus one per ``prefetch_related`` lookup, and only one
batch is in memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from django_deploykit.search.indexes import SearchIndex

__all__ = ["Batch", "iter_batches"]

# One encoder for all batches: datetimes, dates, decimals, UUIDs and lazy strings.
_ENCODER = DjangoJSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Batch:
    number: int
    count: int
    first_pk: Any
    last_pk: Any
    payload: bytes  # a JSON array of documents

    def describe(self) -> str:
        return (
            f"batch {self.number} (rows pk {self.first_pk}..{self.last_pk}, {self.count} docs, "
            f"{len(self.payload):,} bytes)"
        )


def iter_batches(
    index: SearchIndex, batch_size: int, max_bytes: int | None = None
) -> Iterator[Batch]:
    """Yield the index's documents as JSON payloads of at most ``batch_size`` rows and
    ``max_bytes`` bytes (a single larger document goes alone)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    queryset = index.get_queryset().order_by("pk")
    last_pk = None
    number = 0
    while True:
        page = queryset if last_pk is None else queryset.filter(pk__gt=last_pk)
        rows = list(page[:batch_size])  # prefetch_related runs per batch, not per row
        if not rows:
            return
        for chunk in _by_size(index, rows, max_bytes):
            number += 1
            payload = b"[" + b",".join(encoded for _, encoded in chunk) + b"]"
            yield Batch(number, len(chunk), chunk[0][0], chunk[-1][0], payload)
        if len(rows) < batch_size:
            return  # a short page is the last: saves one empty query
        last_pk = rows[-1].pk


def _by_size(
    index: SearchIndex, rows: list[Any], max_bytes: int | None
) -> Iterator[list[tuple[Any, bytes]]]:
    """The rows' encoded documents in runs whose JSON array stays within ``max_bytes``."""
    chunk: list[tuple[Any, bytes]] = []
    size = 2  # the brackets
    for row in rows:
        encoded = _ENCODER.encode(index.to_document(row)).encode()
        if chunk and max_bytes is not None and size + len(encoded) + 1 > max_bytes:
            yield chunk
            chunk, size = [], 2
        chunk.append((row.pk, encoded))
        size += len(encoded) + 1
    if chunk:
        yield chunk
