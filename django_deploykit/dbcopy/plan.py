"""Which tables to copy, in an order that satisfies foreign keys.

Models are grouped into strongly connected components of the FK graph: a group
with a cycle (A -> B -> A, or a self-FK) is loaded in one transaction with FK
checks deferred or disabled, and groups are ordered so referenced tables come
first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from django_deploykit.exceptions import ConfigError

__all__ = ["Group", "Plan", "Table", "build_plan", "fk_fields"]


@dataclass(frozen=True)
class Table:
    model: type[models.Model]

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    @property
    def label(self) -> str:
        return self.model._meta.label

    @property
    def pk(self) -> models.Field:
        return self.model._meta.pk

    @property
    def fields(self) -> list[models.Field]:
        """This table's own columns; database-generated ones cannot be inserted."""
        return [
            f for f in self.model._meta.local_concrete_fields if not getattr(f, "generated", False)
        ]


@dataclass(frozen=True)
class Group:
    tables: tuple[Table, ...]
    cyclic: bool


@dataclass(frozen=True)
class Plan:
    groups: tuple[Group, ...]

    @property
    def tables(self) -> list[Table]:
        return [t for g in self.groups for t in g.tables]

    def fingerprint(self) -> str:
        return ",".join(t.name for t in self.tables)

    def without(self, names: set[str]) -> Plan:
        """The same plan less these tables (groups left empty disappear)."""
        groups = []
        for group in self.groups:
            kept = tuple(t for t in group.tables if t.name not in names)
            if kept:
                groups.append(Group(kept, group.cyclic))
        return Plan(tuple(groups))


def fk_fields(model: type[models.Model]) -> list[models.ForeignKey]:
    # Concrete many-to-one/one-to-one relations are ForeignKeys (or act like them).
    return cast(
        "list[models.ForeignKey]",
        [
            f
            for f in model._meta.local_concrete_fields
            if f.is_relation and (f.many_to_one or f.one_to_one)
        ],
    )


def _selected(model: type[models.Model], include: Sequence[str], exclude: Sequence[str]) -> bool:
    # an M2M table follows its model (a truthy auto_created is that model class)
    owner = cast("type[models.Model]", model._meta.auto_created or model)
    names = {owner._meta.app_label.lower(), owner._meta.label_lower}
    if include and not names & {n.lower() for n in include}:
        return False
    return not names & {n.lower() for n in exclude}


def _check_labels(labels: Iterable[str], option: str) -> None:
    for label in labels:
        app_label, _, model_name = label.partition(".")
        try:
            config = apps.get_app_config(app_label)
            if model_name:
                config.get_model(model_name)
        except LookupError as exc:
            raise ConfigError(
                f"{option} {label!r}: no such app or model. Use app_label or app_label.Model."
            ) from exc


def check_foreign_keys(labels: Iterable[str], option: str) -> None:
    """Each label must name a foreign key: app_label.Model.field."""
    for label in labels:
        app_label, _, rest = label.partition(".")
        model_name, _, field_name = rest.partition(".")
        try:
            field = apps.get_model(app_label, model_name)._meta.get_field(field_name)
        except (LookupError, ValueError, FieldDoesNotExist) as exc:
            raise ConfigError(
                f"{option} {label!r}: no such field. Use app_label.Model.field."
            ) from exc
        if not (field.many_to_one or field.one_to_one) or not field.concrete:
            raise ConfigError(f"{option} {label!r} is not a foreign key.")


def build_plan(include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Plan:
    _check_labels(include, "--models")
    _check_labels(exclude, "--exclude")
    chosen = [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.managed
        and not m._meta.proxy
        and not m._meta.swapped
        and _selected(m, include, exclude)
    ]
    chosen.sort(key=lambda m: m._meta.label_lower)
    index = {m: i for i, m in enumerate(chosen)}
    deps = [
        sorted({index[f.related_model] for f in fk_fields(m) if f.related_model in index})
        for m in chosen
    ]
    self_ref = [i in d for i, d in enumerate(deps)]
    groups = [
        Group(
            tables=tuple(Table(chosen[i]) for i in comp),
            cyclic=len(comp) > 1 or self_ref[comp[0]],
        )
        for comp in _components(deps)
    ]
    return Plan(groups=tuple(groups))


def _components(deps: list[list[int]]) -> list[list[int]]:
    """Tarjan's SCCs; each component comes after every component it depends on."""
    order: list[list[int]] = []
    low: dict[int, int] = {}
    num: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()

    def visit(v: int) -> None:
        num[v] = low[v] = len(num)
        stack.append(v)
        on_stack.add(v)
        for w in deps[v]:
            if w not in num:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], num[w])
        if low[v] == num[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            order.append(sorted(comp))

    for v in range(len(deps)):
        if v not in num:
            visit(v)
    return order
