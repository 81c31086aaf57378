"""The whole copy: plan, pre-flight, copy, sequences, verification."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import DatabaseError, connections

from django_deploykit.dbcopy.backends import Adapter, adapter_for
from django_deploykit.dbcopy.copy import Progress, copy_plan
from django_deploykit.dbcopy.endpoints import describe, resolve
from django_deploykit.dbcopy.plan import build_plan
from django_deploykit.dbcopy.preflight import preflight
from django_deploykit.dbcopy.report import Result
from django_deploykit.dbcopy.state import StateTable
from django_deploykit.dbcopy.verify import fk_problems, verify_tables
from django_deploykit.exceptions import ConfigError, ServiceUnavailable

__all__ = ["Options", "dbcopy"]


@dataclass
class Options:
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    batch_rows: int = 2000
    batch_bytes: int = 2 * 1024 * 1024
    truncate: bool = False
    dry_run: bool = False
    resume: bool = False
    verify: bool = True
    # Asked before anything is deleted; returning False stops the run.
    confirm: Callable[[str], bool] = lambda message: True
    # Asked to migrate the target when its migrations differ; returns whether it did.
    migrate: Callable[[str], bool] = lambda alias: False


def _connect(spec: str, role: str) -> Adapter:
    alias = resolve(spec, role)
    connection = connections[alias]
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        # The driver's text may name host and user but never the password.
        raise ServiceUnavailable(
            f"Cannot connect to the {role} database {describe(alias)}: {exc}"
        ) from exc
    return adapter_for(connection)


def _fingerprint(source: Adapter, tables: str) -> str:
    return f"{source.connection.vendor}:{source.connection.settings_dict['NAME']}|{tables}"


def dbcopy(source_spec: str, target_spec: str, options: Options,
           progress: Progress | None = None) -> Result:  # fmt: skip
    started = time.monotonic()
    plan = build_plan(options.include, options.exclude)  # bad labels fail before connecting
    if not plan.tables:
        raise ConfigError("No model selected: check --models and --exclude.")
    source = _connect(source_spec, "from")
    target = _connect(target_spec, "to")
    src_name, dst_name = describe(source.connection.alias), describe(target.connection.alias)
    if source.connection.settings_dict["NAME"] == target.connection.settings_dict["NAME"] and (
        source.connection.vendor == target.connection.vendor
    ):
        raise ConfigError(f"--from and --to name the same database ({dst_name}).")
    result = Result(src_name, dst_name)
    check = lambda: preflight(  # noqa: E731
        plan, source, target, truncate=options.truncate, resume=options.resume
    )
    result.problems = check()
    if _needs_migrate(result) and options.migrate(target.connection.alias):
        result.problems = check()
    if result.errors or options.dry_run:
        result.seconds = time.monotonic() - started
        return result

    state = StateTable(target.connection)
    fingerprint = _fingerprint(source, plan.fingerprint())
    done: set[str] = set()
    if options.truncate:
        if not options.confirm(
            f"This deletes every row of {len(plan.tables)} tables in {dst_name}."
        ):
            raise ConfigError("Nothing copied: the truncation was not confirmed.")
        state.drop()
    elif state.exists():  # --resume (preflight refused otherwise)
        if state.get("source") != fingerprint:
            raise ConfigError(
                "The interrupted copy in the target came from another source or model "
                "selection; rerun with the same --from/--models/--exclude, or --truncate."
            )
        done = state.done()
    if not state.exists():
        state.create(fingerprint)

    totals = {t.name: _count(source, t.name) for t in plan.tables}
    target.begin_load()
    try:
        result.tables = copy_plan(
            plan, source.connection.alias, target, state, totals=totals, done=done,
            batch_rows=options.batch_rows, batch_bytes=options.batch_bytes,
            progress=progress or Progress(),
        )  # fmt: skip
    finally:
        target.end_load()
    target.reset_sequences(plan.tables)
    result.copied = True
    if options.verify:
        result.mismatches = fk_problems(target, plan.tables)
        mismatched = verify_tables(source.connection.alias, target.connection.alias, plan.tables)
        result.mismatches += list(mismatched.values())
        for table in result.tables:
            table.verified = table.table not in mismatched
        result.verified = not result.mismatches
    if result.mismatches:
        state.put("status", "verify-failed")  # a plain rerun refuses; --truncate starts over
    else:
        state.drop()
    result.seconds = time.monotonic() - started
    return result


def _needs_migrate(result: Result) -> bool:
    return any(
        p.side == "target" and p.code in ("migrations", "missing_table") for p in result.errors
    )


def _count(adapter: Adapter, table: str) -> int:
    with adapter.connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {adapter.quote(table)}")
        return int(cursor.fetchone()[0])
