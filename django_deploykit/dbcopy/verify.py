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
from collections.abc import Callable, Collection, Sequence
from typing import Any

from django.db import connections

from django_deploykit.dbcopy.backends import Adapter
from django_deploykit.dbcopy.plan import Table, fk_fields
from django_deploykit.dbcopy.preflight import orphans

__all__ = ["canonical", "checksum", "fk_problems", "row_digests", "verify_tables"]

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


def row_digests(alias: str, table: Table, pks: list[Any] | None = None,
                batch: int = 2000) -> dict[Any, int]:  # fmt: skip
    """{pk: digest} of every row (or of the rows with these pks): finds *which* rows
    differ once a table's checksum did."""
    attnames = [f.attname for f in table.fields]
    pk = table.pk.attname
    pk_index = attnames.index(pk)
    qs = table.model._base_manager.using(alias).order_by(pk).values_list(*attnames)
    if pks is not None:
        found: dict[Any, int] = {}
        for start in range(0, len(pks), batch):
            for row in qs.filter(**{f"{pk}__in": pks[start : start + batch]}):
                found[row[pk_index]] = _row_digest(row)
        return found
    found = {}
    page = list(qs[:batch])
    while page:
        found.update((row[pk_index], _row_digest(row)) for row in page)
        if len(page) < batch:
            break
        page = list(qs.filter(**{f"{pk}__gt": page[-1][pk_index]})[:batch])
    return found


def _differing_rows(source_alias: str, target_alias: str, table: Table) -> str:
    """Name the first rows that differ: "pk=3 differs, pk=7 missing in the target"."""
    mine, theirs = row_digests(source_alias, table), row_digests(target_alias, table)
    notes = [f"pk={pk} missing in the target" for pk in mine if pk not in theirs]
    notes += [f"pk={pk} only in the target" for pk in theirs if pk not in mine]
    notes += [f"pk={pk} differs" for pk, d in mine.items() if pk in theirs and theirs[pk] != d]
    more = f" (and {len(notes) - 5} more)" if len(notes) > 5 else ""
    return ", ".join(notes[:5]) + more


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
            rows = _differing_rows(source_alias, target_alias, t)
            mismatches[t.name] = (
                f"{t.name}: {src_n} rows in the source, {dst_n} in the target: {rows}"
            )
        elif src_sum != dst_sum:
            rows = _differing_rows(source_alias, target_alias, t)
            mismatches[t.name] = f"{t.name}: same row count ({src_n}) but {rows}"
    return mismatches


def fk_problems(target: Adapter, tables: list[Table], keep: Sequence[str] = (),
                proven: Collection[str] = ()) -> list[str]:  # fmt: skip
    """Dangling references in the target (FK checks were off during the load), except
    where they were copied on purpose (db_constraint=False, --keep-dangling).

    Not queried: the FKs the target's server has validated for every row (PostgreSQL's
    constraints), and those in ``proven`` (labels, see ``bulk.orphan_free``)."""
    kept = {k.lower() for k in keep}
    enforced = target.enforced_foreign_keys(tables)
    messages = []
    for table in tables:
        for field in fk_fields(table.model):
            label = f"{field.model._meta.label}.{field.name}".lower()
            if not field.db_constraint or label in kept:  # type: ignore[attr-defined]  # missing in django-stubs
                continue
            parent = field.related_model._meta.db_table
            if label in proven or (table.name, field.column, parent,
                                   field.target_field.column) in enforced:  # fmt: skip
                continue
            for pk, column, value in orphans(target, table, field):
                messages.append(
                    f"{table.name} pk={pk}: {column} = {value!r} points to a missing "
                    f"{field.related_model._meta.db_table} row"
                )
    return messages
