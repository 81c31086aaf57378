"""Find every reason the copy would fail or lose data, before a single row is written."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import cast

from django.apps import apps
from django.db import DatabaseError, models
from django.db.migrations.recorder import MigrationRecorder

from django_deploykit.dbcopy.backends import Adapter
from django_deploykit.dbcopy.plan import Plan, Table, fk_fields
from django_deploykit.dbcopy.report import Problem
from django_deploykit.dbcopy.scan import Read, Scan, read_in_parallel, scan_flags, scan_problems
from django_deploykit.dbcopy.schema import schema_problems
from django_deploykit.dbcopy.state import TABLE as STATE_TABLE
from django_deploykit.dbcopy.state import StateTable

__all__ = [
    "AUTO_FILLED", "field_label", "migration_problems", "missing_tables", "not_copied",
    "orphans", "preflight", "target_rows", "vendor_only_tables",
]  # fmt: skip

SAMPLE = 20
# Tables that `migrate` fills from the code (one row per model / permission): their
# rows are always replaced by the source's, whose pks the rest of the data points to.
AUTO_FILLED = {"django_content_type", "auth_permission"}
# Target tables up to this size are compared row by row with the source before they
# count as "not empty" (rows a data migration made are usually a handful).
_COMPARED_ROWS = 1000


def preflight(
    plan: Plan, source: Adapter, target: Adapter, *, truncate: bool, resume: bool,
    keep_dangling: Sequence[str] = (),
) -> list[Problem]:  # fmt: skip
    problems = migration_problems(source, target)
    missing = missing_tables(plan, source, "source") + missing_tables(plan, target, "target")
    problems += missing
    if missing:
        return problems  # the data checks need every table on both sides
    problems += _target_state(plan, source, target, truncate=truncate, resume=resume)
    problems += schema_problems(plan, source, target)
    # Every row check of a table in one scan of it, and each FK's orphan check: all
    # reads of the source, two at a time (see scan.py); the problems in plan order.
    scans_of = {}
    reads: list[Read] = []
    for table in plan.tables:
        scans = source.type_scans(table)
        if target.enforces_max_length:
            scans += _max_length_scans(table, source)
        scans_of[table.name] = scans + target.source_scans(table, source)
        reads.append(partial(scan_flags, table=table, scans=scans_of[table.name]))
        reads += [partial(orphans, table=table, field=f) for f in fk_fields(table.model)]
    found = iter(read_in_parallel(source.connection.alias, reads))
    for table in plan.tables:
        problems += scan_problems(scans_of[table.name], next(found))
        for field in fk_fields(table.model):
            problems += _dangling(table, field, next(found), target, keep_dangling)
    problems += target.target_problems(plan, source)
    problems += target.value_problems(plan, source)
    return problems


def vendor_only_tables(plan: Plan, source: Adapter, target: Adapter) -> dict[str, str]:
    """Tables of the plan that only one side has although both applied the same
    migrations: the app builds them for one database only (Wagtail's SQLite full-text
    index, a PostgreSQL-only search table). They are not copied: {table: reason}."""
    if migration_problems(source, target):
        return {}  # a missing table then means "not migrated": the pre-flight says so
    found = {}
    sides = ((source, target), (target, source))
    for here, there in sides:
        with there.connection.cursor() as cursor:
            present = set(there.connection.introspection.table_names(cursor))
        for table in plan.tables:
            if table.name not in present and table.name not in found:
                found[table.name] = (
                    f"model {table.label}: its migrations create the table on "
                    f"{here.connection.vendor} but not on {there.connection.vendor} (a search "
                    "index is rebuilt on the target by the app's own command)"
                )
    return found


def field_label(field: models.Field) -> str:
    return f"{field.model._meta.label}.{field.name}"


def _dangling(table: Table, field: models.ForeignKey, found: list[tuple], target: Adapter,
              keep: Sequence[str]) -> list[Problem]:  # fmt: skip
    """The problems of ``found``, the rows ``orphans`` gave for ``field``."""
    # ForeignKey.db_constraint is missing from django-stubs.
    constrained: bool = field.db_constraint  # type: ignore[attr-defined]
    if not found:
        return []
    label = field_label(field)
    parent = field.related_model._meta.db_table
    kept = label.lower() in {k.lower() for k in keep}
    if not constrained or kept:
        # No database constraint (db_constraint=False, e.g. an audit log keeping the id
        # of a deleted row on purpose) or accepted by the user: copied as they are.
        enforced = constrained and target.connection.vendor == "postgresql"
        why = (
            "the field has db_constraint=False" if not constrained else (f"--keep-dangling {label}")
        )
        if not enforced:
            return [Problem(
                "dangling_fk",
                f"{len(found)}{'+' if len(found) >= SAMPLE else ''} row(s) point to missing "
                f"{parent} rows (first: {field.column} = {found[0][2]!r}); copied as they are "
                f"({why}).",
                "Nothing to do if these references are meant to dangle.",
                table.name, found[0][0], field.column, severity="warning",
            )]  # fmt: skip
    fix = (
        f"Delete the row, point it at an existing row, or set {field.column} to NULL in the "
        f"source; or, if these references are meant to dangle, copy them as they are with "
        f"--keep-dangling {label}"
    )
    if constrained and target.connection.vendor == "postgresql":
        fix = (
            f"Delete the row, point it at an existing row, or set {field.column} to NULL in "
            "the source (PostgreSQL checks this foreign key at commit, so the target cannot "
            "hold a dangling reference; --keep-dangling only helps on MariaDB or SQLite)"
        )
    return [
        Problem(
            "orphan_fk",
            f"{column} = {value!r} points to a missing {parent} row (SQLite often runs "
            "without FK enforcement).",
            fix + ".",
            table.name,
            pk,
            column,
        )  # fmt: skip
        for pk, column, value in found
    ]


def not_copied(plan: Plan, source: Adapter, include: Sequence[str],
               exclude: Sequence[str]) -> list[tuple[str, str]]:  # fmt: skip
    """Every table of the source that will not be copied, and why."""
    with source.connection.cursor() as cursor:
        present = source.connection.introspection.table_names(cursor)
    copied = {t.name for t in plan.tables}
    by_table: dict[str, str] = {}
    for model in apps.get_models(include_auto_created=True):
        name = model._meta.db_table
        if name in copied or name in by_table:
            continue
        if not model._meta.managed:
            by_table[name] = f"model {model._meta.label} is unmanaged (managed = False)"
        elif model._meta.proxy or model._meta.swapped:
            continue
        elif include or exclude:
            by_table[name] = f"model {model._meta.label} is left out by --models/--exclude"
    known = {
        MigrationRecorder.Migration._meta.db_table: "migration history: the target keeps "
        "its own (the pre-flight compares them)",
        STATE_TABLE: "dbcopy's own checkpoint table",
    }
    result = []
    for name in sorted(present):
        if name in copied or name.startswith("sqlite_"):
            continue
        reason = known.get(name) or by_table.get(name) or (
            "no installed model uses it (an app not in INSTALLED_APPS, a full-text search "
            "shadow table, or a table made by hand)")  # fmt: skip
        result.append((name, reason))
    return result


def migration_problems(source: Adapter, target: Adapter) -> list[Problem]:
    src = MigrationRecorder(source.connection)
    dst = MigrationRecorder(target.connection)
    if not src.has_table():
        return [Problem("migrations", "the source has no django_migrations table.",
                        "Point --from at the project's database.")]  # fmt: skip
    if not dst.has_table():
        fix = "Run migrate on the target (dbcopy --migrate does it)."
        return [Problem("migrations", "the target is not migrated.", fix, side="target")]
    mine, theirs = set(src.applied_migrations()), set(dst.applied_migrations())
    problems = []
    for app, name in sorted(mine - theirs):
        problems.append(Problem("migrations", f"migration {app}.{name} is applied in the "
                                "source but not in the target.",
                                "Run migrate on the target (dbcopy --migrate does it).",
                                side="target"))  # fmt: skip
    for app, name in sorted(theirs - mine):
        problems.append(Problem("migrations", f"migration {app}.{name} is applied in the "
                                "target but not in the source.",
                                "Migrate the source first (or unapply it on the target).",
                                side="target"))  # fmt: skip
    return problems


def missing_tables(plan: Plan, side: Adapter, name: str) -> list[Problem]:
    with side.connection.cursor() as cursor:
        present = set(side.connection.introspection.table_names(cursor))
    return [
        Problem(
            "missing_table",
            f"table {t.name} ({t.label}) does not exist in the {name}.",
            f"Run migrate on the {name}, or leave the model out with --exclude.",
            t.name,
            side=name,
        )  # fmt: skip
        for t in plan.tables
        if t.name not in present
    ]


def target_rows(plan: Plan, source: Adapter, target: Adapter) -> dict[str, str]:
    """Tables of the target holding rows the copy would lose, with the first such row.

    Not counted: the tables migrate fills from the code (AUTO_FILLED), and rows that the
    source holds identically (same pk, same values), such as rows made by a data
    migration that both databases ran: replacing those loses nothing.
    """
    from django_deploykit.dbcopy.verify import row_digests

    found = {}
    with target.connection.cursor() as cursor:
        for table in plan.tables:
            if table.name in AUTO_FILLED:
                continue
            q = target.quote
            cursor.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {q(table.name)} "
                           f"LIMIT {_COMPARED_ROWS + 1}) t")  # fmt: skip
            count = cursor.fetchone()[0]
            if not count:
                continue
            if count > _COMPARED_ROWS:
                found[table.name] = f"more than {_COMPARED_ROWS} rows"
                continue
            try:
                mine = row_digests(target.connection.alias, table)
                theirs = row_digests(source.connection.alias, table, pks=list(mine))
            except (ValueError, TypeError, DatabaseError):  # a value the ORM cannot read
                found[table.name] = f"{count} row(s) that could not be compared"
                continue
            differ = [pk for pk, digest in mine.items() if theirs.get(pk) != digest]
            if differ:
                found[table.name] = f"{len(mine)} row(s), pk={differ[0]} not in the source as is"
    return found


def _target_state(plan: Plan, source: Adapter, target: Adapter, *, truncate: bool,
                  resume: bool) -> list[Problem]:  # fmt: skip
    state = StateTable(target.connection)
    if state.exists() and state.get("status") != "migrated":
        if truncate or resume:
            return []
        return [
            Problem(
                "interrupted",
                f"a previous dbcopy into this target did not finish "
                f"({STATE_TABLE} is present), so the target is partly filled.",
                "Rerun with --resume to continue it, or with --truncate to start over.",
                STATE_TABLE,
                side="target",
            )  # fmt: skip
        ]
    if truncate or state.exists():  # "migrated": only dbcopy's own migrate wrote to it
        return []
    return [
        Problem(
            "not_empty",
            f"the target table already holds rows ({detail}); dbcopy never merges.",
            "Empty the target with --truncate (it asks first), or use a new database "
            "(dbcopy --migrate migrates an empty one, and replaces the rows its "
            "migrations make).",
            name,
            side="target",
        )  # fmt: skip
        for name, detail in target_rows(plan, source, target).items()
    ]


def _max_length_scans(table: Table, source: Adapter) -> list[Scan]:
    scans = []
    for field in table.fields:
        if isinstance(field, models.CharField) and field.max_length:
            assert field.column is not None  # a concrete field always has a column
            length = source.char_length(source.quote(field.column))
            scans.append(Scan(f"{length} > {int(field.max_length)}",
                              partial(_max_length, table, field, source)))  # fmt: skip
    return scans


def _max_length(table: Table, field: models.CharField, source: Adapter) -> list[Problem]:
    pk = source.quote(table.pk.column)
    length = source.char_length(source.quote(cast(str, field.column)))
    with source.connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {pk}, {length} FROM {source.quote(table.name)} "
            f"WHERE {length} > %s ORDER BY {pk} LIMIT {SAMPLE}",
            [field.max_length],
        )
        rows = cursor.fetchall()
    return [
        Problem(
            "max_length",
            f"text of {n} characters in a column of max_length "
            f"{field.max_length} (SQLite does not enforce max_length).",
            "Shorten the value in the source, or raise max_length and migrate both databases.",
            table.name,
            pk_value,
            cast(str, field.column),
        )  # fmt: skip
        for pk_value, n in rows
    ]


def orphans(side: Adapter, table: Table, field: models.ForeignKey) -> list[tuple]:
    """Rows whose FK value has no row to point to: (pk, column, value)."""
    q = side.quote
    parent = field.related_model._meta.db_table
    child_col, parent_col = q(field.column), q(field.target_field.column)
    pk = q(table.pk.column)
    with side.connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.{pk}, c.{child_col} FROM {q(table.name)} c LEFT JOIN {q(parent)} p "
            f"ON c.{child_col} = p.{parent_col} WHERE c.{child_col} IS NOT NULL "
            f"AND p.{parent_col} IS NULL ORDER BY c.{pk} LIMIT {SAMPLE}"
        )
        return [(pk_value, field.column, value) for pk_value, value in cursor.fetchall()]
