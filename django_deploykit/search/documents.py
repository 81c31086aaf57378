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
        return f"batch {self.number} (rows pk {self.first_pk}..{self.last_pk}, {self.count} docs)"


def iter_batches(index: SearchIndex, batch_size: int) -> Iterator[Batch]:
    """Yield the index's documents as JSON payloads of at most ``batch_size`` rows."""
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
        number += 1
        documents = [index.to_document(row) for row in rows]
        payload = _ENCODER.encode(documents).encode()
        yield Batch(number, len(rows), rows[0].pk, rows[-1].pk, payload)
        if len(rows) < batch_size:
            return  # a short page is the last: saves one empty query
        last_pk = rows[-1].pk
