"""Checkpoints kept in the target, so an interrupted copy is never mistaken for a finished one.

The table ``deploykit_dbcopy_state`` exists in the target exactly while a copy is
unfinished (or failed verification). It holds the source's fingerprint and one
row per copied group, written in the same transaction as the group's rows.
"""

from __future__ import annotations

from typing import ClassVar

from django.apps.registry import Apps
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["StateTable"]

TABLE = "deploykit_dbcopy_state"

_registry = Apps()


class CopyState(models.Model):
    key = models.CharField(max_length=191, primary_key=True)
    value = models.TextField()
    # Annotation only: the model lives in a private Apps registry the plugin does not see.
    objects: ClassVar[models.Manager[CopyState]]

    class Meta:
        apps = _registry
        app_label = "deploykit_dbcopy"
        db_table = TABLE


class StateTable:
    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection

    def exists(self) -> bool:
        with self.connection.cursor() as cursor:
            return TABLE in self.connection.introspection.table_names(cursor)

    def create(self, fingerprint: str, status: str = "copying") -> None:
        """``status``: "migrated" (only dbcopy's own migrate wrote to the target: its rows
        are replaced), "copying", or "verify-failed"."""
        with self.connection.schema_editor() as editor:
            editor.create_model(CopyState)
        self.put("source", fingerprint)
        self.put("status", status)

    def drop(self) -> None:
        if self.exists():
            with self.connection.schema_editor() as editor:
                editor.delete_model(CopyState)

    def put(self, key: str, value: str) -> None:
        # Plain SQL: no save(), so no model signals fire, not even for this table.
        table = self.connection.ops.quote_name(TABLE)
        with self.connection.cursor() as cursor:
            key_col = self.connection.ops.quote_name("key")
            cursor.execute(f"DELETE FROM {table} WHERE {key_col} = %s", [key])
            cursor.execute(f"INSERT INTO {table} ({key_col}, value) VALUES (%s, %s)", [key, value])

    def get(self, key: str) -> str | None:
        row = CopyState.objects.using(self.connection.alias).filter(key=key).first()
        return None if row is None else row.value

    def done(self) -> set[str]:
        keys = CopyState.objects.using(self.connection.alias).values_list("key", flat=True)
        return {k.removeprefix("done:") for k in keys if k.startswith("done:")}
