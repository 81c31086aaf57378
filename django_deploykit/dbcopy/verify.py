"""Prove the copy: per-table counts and checksums on both sides, and FK integrity.

A table's checksum sums a digest of every row's canonical values (the pk included),
read through the ORM so both sides yield the same Python types. Each digest pins the
values to their pk, and the sum does not depend on how each engine orders text pks.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connections

from django_deploykit.dbcopy.backends import Adapter
from django_deploykit.dbcopy.plan import Table, fk_fields
from django_deploykit.dbcopy.preflight import orphans

__all__ = ["canonical", "checksum", "fk_problems", "verify_tables"]

_MOD = 1 << 128


def _text(value: Any) -> bytes:
    return b"s" + str(value).encode()


# The common types by exact type first: verification canonicalises every value of every
# row, and the dict lookup skips the isinstance chain for them.
_BY_TYPE: dict[type, Callable[[Any], bytes]] = {
    str: lambda v: b"s" + v.encode(),
    int: _text,
    bool: lambda v: b"T" if v else b"F",
    type(None): lambda v: b"N",
}


def canonical(value: Any) -> bytes:
    """One unambiguous byte string per value, equal for equal values on any engine."""
    fast = _BY_TYPE.get(type(value))
    if fast is not None:
        return fast(value)
    if isinstance(value, (bytes, memoryview)):
        return b"b" + bytes(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc)
        return b"t" + value.isoformat().encode()
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
        return b"t" + str(value).encode()
    if isinstance(value, decimal.Decimal):
        return b"d" + str(value).encode()
    if isinstance(value, uuid.UUID):
        return b"u" + value.hex.encode()
    if isinstance(value, (dict, list)):
        return b"j" + json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    if isinstance(value, float):
        return b"f" + repr(value).encode()
    return _text(value)


def _row_digest(row: tuple[Any, ...]) -> int:
    """A 128-bit digest of one row, hashed in one call; each value is length-prefixed, so
    none can run into the next."""
    parts = []
    for data in map(canonical, row):
        parts.append(len(data).to_bytes(8, "little"))
        parts.append(data)
    return int.from_bytes(hashlib.blake2b(b"".join(parts), digest_size=16).digest(), "little")


def checksum(alias: str, table: Table, batch: int = 2000) -> tuple[int, str]:
    """(row count, checksum) of ``table`` in the database behind ``alias``."""
    attnames = [f.attname for f in table.fields]
    pk = table.pk.attname
    pk_index = attnames.index(pk)
    qs = table.model._base_manager.using(alias).order_by(pk).values_list(*attnames)
    count, total = 0, 0
    page = list(qs[:batch])
    while page:
        total += sum(map(_row_digest, page))
        count += len(page)
        if len(page) < batch:
            break
        page = list(qs.filter(**{f"{pk}__gt": page[-1][pk_index]})[:batch])
    return count, f"{total % _MOD:032x}"


def verify_tables(source_alias: str, target_alias: str, tables: list[Table]) -> dict[str, str]:
    """Mismatch messages by table name; empty when every table matches."""
    found: dict[str, tuple[int, str]] = {}
    error: list[BaseException] = []

    def read_source() -> None:  # the source side runs in a thread, overlapping the target
        try:
            for t in tables:
                found[t.name] = checksum(source_alias, t)
        except BaseException as exc:
            error.append(exc)
        finally:
            connections[source_alias].close()

    worker = threading.Thread(target=read_source, name="dbcopy-verify")
    worker.start()
    mine = {t.name: checksum(target_alias, t) for t in tables}
    worker.join()
    if error:
        raise error[0]
    mismatches = {}
    for t in tables:
        (src_n, src_sum), (dst_n, dst_sum) = found[t.name], mine[t.name]
        if src_n != dst_n:
            mismatches[t.name] = f"{t.name}: {src_n} rows in the source, {dst_n} in the target"
        elif src_sum != dst_sum:
            mismatches[t.name] = f"{t.name}: same row count ({src_n}) but different values"
    return mismatches


def fk_problems(target: Adapter, tables: list[Table]) -> list[str]:
    """Dangling references in the target (FK checks were off during the load)."""
    names = {t.name for t in tables}
    messages = []
    for table in tables:
        for field in fk_fields(table.model):
            if field.related_model._meta.db_table not in names and not field.db_constraint:  # type: ignore[attr-defined]  # missing in django-stubs
                continue
            for pk, column, value in orphans(target, table, field):
                messages.append(
                    f"{table.name} pk={pk}: {column} = {value!r} points to a missing "
                    f"{field.related_model._meta.db_table} row"
                )
    return messages
