"""Find every reason the copy would fail or lose data, before a single row is written."""

from __future__ import annotations

from django.db import models
from django.db.migrations.recorder import MigrationRecorder

from django_deploykit.dbcopy.backends import Adapter
from django_deploykit.dbcopy.plan import Plan, Table, fk_fields
from django_deploykit.dbcopy.report import Problem
from django_deploykit.dbcopy.state import TABLE as STATE_TABLE
from django_deploykit.dbcopy.state import StateTable

__all__ = ["AUTO_FILLED", "migration_problems", "orphans", "preflight", "target_rows"]

SAMPLE = 20
# Tables that `migrate` fills by itself; their rows are replaced by the source's, by pk.
AUTO_FILLED = {"django_content_type", "auth_permission", "django_site"}


def preflight(
    plan: Plan, source: Adapter, target: Adapter, *, truncate: bool, resume: bool
) -> list[Problem]:
    problems = migration_problems(source, target)
    missing = _missing_tables(plan, source, "source") + _missing_tables(plan, target, "target")
    problems += missing
    if missing:
        return problems  # the data checks need every table on both sides
    problems += _target_state(plan, target, truncate=truncate, resume=resume)
    for table in plan.tables:
        problems += source.type_problems(table)
        if target.enforces_max_length:
            problems += _max_length(table, source)
        problems += [
            Problem(
                "orphan_fk",
                f"{column} = {value!r} points to a missing "
                f"{field.related_model._meta.db_table} row (SQLite often runs without FK "
                "enforcement).",
                f"Delete the row, point it at an existing row, or set {column} to NULL in "
                "the source.",
                table.name,
                pk,
                column,
            )  # fmt: skip
            for field in fk_fields(table.model)
            for pk, column, value in orphans(source, table, field)
        ]
    problems += target.target_problems(plan, source)
    return problems


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


def _missing_tables(plan: Plan, side: Adapter, name: str) -> list[Problem]:
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


def target_rows(plan: Plan, target: Adapter) -> dict[str, int]:
    """Tables of the target that hold rows (migrate's own rows do not count)."""
    counts = {}
    with target.connection.cursor() as cursor:
        for table in plan.tables:
            if table.name in AUTO_FILLED:
                continue
            cursor.execute(f"SELECT 1 FROM {target.quote(table.name)} LIMIT 1")
            if cursor.fetchone() is not None:
                counts[table.name] = 1
    return counts


def _target_state(plan: Plan, target: Adapter, *, truncate: bool, resume: bool) -> list[Problem]:
    if StateTable(target.connection).exists():
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
    if truncate:
        return []
    return [
        Problem(
            "not_empty",
            "the target table already holds rows; dbcopy never merges.",
            "Empty the target with --truncate (it asks first), or use a new database.",
            name,
            side="target",
        )  # fmt: skip
        for name in target_rows(plan, target)
    ]


def _max_length(table: Table, source: Adapter) -> list[Problem]:
    problems = []
    pk = source.quote(table.pk.column)
    with source.connection.cursor() as cursor:
        for field in table.fields:
            if not isinstance(field, models.CharField) or not field.max_length:
                continue
            assert field.column is not None  # a concrete field always has a column
            length = source.char_length(source.quote(field.column))
            cursor.execute(
                f"SELECT {pk}, {length} FROM {source.quote(table.name)} "
                f"WHERE {length} > %s ORDER BY {pk} LIMIT {SAMPLE}",
                [field.max_length],
            )
            problems += [
                Problem(
                    "max_length",
                    f"text of {n} characters in a column of max_length "
                    f"{field.max_length} (SQLite does not enforce max_length).",
                    "Shorten the value in the source, or raise max_length and migrate "
                    "both databases.",
                    table.name,
                    pk_value,
                    field.column,
                )  # fmt: skip
                for pk_value, n in cursor.fetchall()
            ]
    return problems


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
