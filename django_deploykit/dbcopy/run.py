"""The whole copy: plan, pre-flight, copy, sequences, verification.

Nothing here writes to the source: it is opened under a read-only alias, and the
target is migrated with ``default`` pointing at the target (see ``migrate.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import DatabaseError, connections

from django_deploykit.dbcopy import bulk
from django_deploykit.dbcopy.backends import Adapter, adapter_for
from django_deploykit.dbcopy.copy import CopyFailed, copy_plan
from django_deploykit.dbcopy.endpoints import describe, open_source, resolve, shown
from django_deploykit.dbcopy.migrate import migrate_target
from django_deploykit.dbcopy.plan import Plan, build_plan, check_foreign_keys
from django_deploykit.dbcopy.preflight import not_copied, preflight, vendor_only_tables
from django_deploykit.dbcopy.progress import Progress
from django_deploykit.dbcopy.report import Problem, Result, TableResult
from django_deploykit.dbcopy.state import StateTable
from django_deploykit.dbcopy.verify import fk_problems, verify_tables
from django_deploykit.exceptions import ConfigError, ServiceUnavailable

__all__ = ["Options", "dbcopy"]


@dataclass(frozen=True)
class Options:
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    batch_rows: int = 2000
    batch_bytes: int = 2 * 1024 * 1024
    truncate: bool = False
    dry_run: bool = False
    resume: bool = False
    verify: bool = True
    # Compare an existing copy and write nothing (no pre-flight, no copy).
    verify_only: bool = False
    # Foreign keys (app_label.Model.field) whose dangling values are copied as they are.
    keep_dangling: Sequence[str] = ()
    # Asked before anything is deleted; returning False stops the run.
    confirm: Callable[[str], bool] = lambda message: True
    # Asked whether to migrate the target (named as the user typed it); never on --dry-run.
    migrate: Callable[[str], bool] = lambda target: False


def _connect(alias: str, role: str, spec: str) -> Adapter:
    connection = connections[alias]
    if connection.vendor == "sqlite" and role == "from":
        name = str(connection.settings_dict["NAME"])
        if (
            name not in ("", ":memory:")
            and not name.startswith("file:")
            and not os.path.exists(name)
        ):
            # sqlite3 would create an empty file; the source must exist.
            raise ConfigError(
                f"--from {shown(spec)}: no such SQLite file ({os.path.abspath(name)})."
            )
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        # The driver's text may name host and user but never the password.
        raise ServiceUnavailable(
            f"Cannot connect to the {'source' if role == 'from' else 'target'} database "
            f"{shown(spec)} ({describe(alias)}): {exc}"
        ) from exc
    return adapter_for(connection)


def _fingerprint(source: Adapter, tables: str) -> str:
    return f"{source.connection.vendor}:{source.connection.settings_dict['NAME']}|{tables}"


def _open(source_spec: str, target_spec: str) -> tuple[Adapter, Adapter]:
    source = _connect(open_source(source_spec), "from", source_spec)
    target = _connect(resolve(target_spec, "to"), "to", target_spec)
    if (
        source.connection.vendor == target.connection.vendor
        and source.identity() == target.identity()
    ):
        raise ConfigError(
            f"--from {shown(source_spec)} and --to {shown(target_spec)} name the same database "
            f"({describe(target.connection.alias)}); nothing was done."
        )
    return source, target


def dbcopy(source_spec: str, target_spec: str, options: Options,
           progress: Progress | None = None) -> Result:  # fmt: skip
    started = time.monotonic()
    plan = build_plan(options.include, options.exclude)  # bad labels fail before connecting
    check_foreign_keys(options.keep_dangling, "--keep-dangling")
    if not plan.tables:
        raise ConfigError("No model selected: check --models and --exclude.")
    source, target = _open(source_spec, target_spec)
    target_name = shown(target_spec)
    result = Result(shown(source_spec), target_name)
    result.not_copied = not_copied(plan, source, options.include, options.exclude)
    plan = _without_vendor_only(plan, source, target, result)
    if options.verify_only:
        return _verify_only(plan, source, target, options, result, started)

    state = StateTable(target.connection)

    def check() -> list[Problem]:
        return preflight(plan, source, target, truncate=options.truncate,
                         resume=options.resume, keep_dangling=options.keep_dangling)  # fmt: skip

    # The source as the pre-flight saw it: unchanged at the copy, its FK checks hold.
    checked = source.data_version()
    result.problems = check()
    if _needs_migrate(result) and not options.dry_run and options.migrate(target_name):
        fresh = _has_no_tables(target)
        migrate_target(target.connection.alias)
        if fresh:  # every row in it now was made by its own migrations: replace them
            state.create(_fingerprint(source, plan.fingerprint()), status="migrated")
        plan = _without_vendor_only(plan, source, target, result)
        checked = source.data_version()
        result.problems = check()
    if result.errors or options.dry_run:
        result.seconds = time.monotonic() - started
        return result

    fingerprint = _fingerprint(source, plan.fingerprint())
    done: set[str] = set()
    if options.truncate:
        if not options.confirm(
            f"This deletes every row of {len(plan.tables)} tables in {target_name}."
        ):
            raise ConfigError("Nothing copied: the truncation was not confirmed.")
        state.drop()
    elif state.exists() and state.get("status") != "migrated":  # --resume
        if state.get("source") != fingerprint:
            raise ConfigError(
                "The interrupted copy in the target came from another source or model "
                "selection; rerun with the same --from/--models/--exclude, or --truncate."
            )
        done = state.done()
    if not state.exists():
        state.create(fingerprint)
    state.put("status", "copying")

    totals = {t.name: _count(source, t.name) for t in plan.tables}
    loads, note = bulk.prepare([t for t in plan.tables if t.name not in done], source, target)
    if note:
        result.problems.append(Problem("local_infile", note, "", side="target",
                                       severity="warning"))  # fmt: skip
    sent: dict[str, bulk.Digest] = {}
    proven: dict[str, tuple[str, str]] = {}
    digester = bulk.Digester(loads, target.connection.alias)
    if options.verify and loads and target.digests_while_loading:
        digester.start()

    def committed(names: list[str]) -> None:
        for name in names:
            if name in sent and digester.is_alive():
                digester.todo.put(name)

    # The streamed tables are read in one snapshot of the source, with the FK check
    # that lets verification skip the target's anti-joins (see bulk.orphan_free).
    with source.snapshot() if loads else nullcontext():
        if options.verify and not target.checks_loaded_foreign_keys:
            unchanged = checked is not None and source.data_version() == checked
            proven = bulk.orphan_free(loads, source, options.keep_dangling, unchanged)
        target.begin_load()
        try:
            result.tables = copy_plan(
                plan, source.connection.alias, target, state, totals=totals, done=done,
                batch_rows=options.batch_rows, batch_bytes=options.batch_bytes,
                progress=progress or Progress(), loads=loads,
                sent=sent if options.verify else None, on_group=committed,
            )  # fmt: skip
        except CopyFailed as exc:
            finished = len(state.done())
            raise CopyFailed(
                f"{exc} The target keeps the {finished} table(s) finished before it and is "
                "marked as an unfinished copy (deploykit_dbcopy_state): fix the cause, then "
                "rerun with --resume to continue, or --truncate to start over."
            ) from exc.__cause__
        finally:
            target.end_load()
            found = digester.finish() if digester.is_alive() else {}
    if options.verify and sent and not target.digests_while_loading:
        found = bulk.digests_at_once(loads, sent, target.connection.alias)
    target.reset_sequences(plan.tables)
    result.copied = True
    if options.verify:
        _verify(plan, source, target, options, result, loads, sent, proven, found)
    if result.mismatches:
        state.put("status", "verify-failed")  # a plain rerun refuses; --truncate starts over
    else:
        state.drop()
    result.seconds = time.monotonic() - started
    return result


def _verify(plan: Plan, source: Adapter, target: Adapter, options: Options, result: Result,
            loads: dict[str, bulk.TableLoad] | None = None,
            sent: dict[str, bulk.Digest] | None = None,
            proven: dict[str, tuple[str, str]] | None = None,
            found: dict[str, bulk.Digest] | None = None) -> None:  # fmt: skip
    # Streamed tables were hashed on the way out: one server aggregate each proves them.
    # The others, and any whose aggregate differs, are compared row by row (which names
    # the rows, and has the last word).
    sent = sent or {}
    suspect = bulk.differing(loads or {}, sent, source, target, found)
    # An FK proven in the source's snapshot holds in the target when both of its tables
    # arrived exactly as sent.
    exact = set(sent) - suspect
    held = {label for label, (table, parent) in (proven or {}).items()
            if table in exact and parent in exact}  # fmt: skip
    result.mismatches = fk_problems(target, plan.tables, options.keep_dangling, held)
    check = [t for t in plan.tables if t.name not in sent or t.name in suspect]
    mismatched = verify_tables(source.connection.alias, target.connection.alias, check)
    result.mismatches += list(mismatched.values())
    for table in result.tables:
        table.verified = table.table not in mismatched
    result.verified = not result.mismatches


def _verify_only(plan: Plan, source: Adapter, target: Adapter, options: Options,
                 result: Result, started: float) -> Result:  # fmt: skip
    from django_deploykit.dbcopy.preflight import missing_tables

    result.problems = missing_tables(plan, source, "source") + missing_tables(
        plan, target, "target"
    )
    if result.errors:
        return result
    state = StateTable(target.connection)
    if state.exists() and state.get("status") != "migrated":
        result.mismatches.append(
            "the target holds an unfinished or failed copy (deploykit_dbcopy_state is present)"
        )
    result.tables = [TableResult(t.name) for t in plan.tables]
    _verify(plan, source, target, options, result)
    result.verified = not result.mismatches
    result.seconds = time.monotonic() - started
    return result


def _without_vendor_only(plan: Plan, source: Adapter, target: Adapter, result: Result) -> Plan:
    only = vendor_only_tables(plan, source, target)
    known = {name for name, _ in result.not_copied}
    result.not_copied += [(name, why) for name, why in only.items() if name not in known]
    result.not_copied.sort()
    return plan.without(set(only))


def _needs_migrate(result: Result) -> bool:
    return any(
        p.side == "target" and p.code in ("migrations", "missing_table") for p in result.errors
    )


def _has_no_tables(target: Adapter) -> bool:
    with target.connection.cursor() as cursor:
        return not target.connection.introspection.table_names(cursor)


def _count(adapter: Adapter, table: str) -> int:
    with adapter.connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {adapter.quote(table)}")
        return int(cursor.fetchone()[0])
