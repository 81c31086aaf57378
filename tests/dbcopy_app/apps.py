from __future__ import annotations

from django.apps import AppConfig


class DbcopyAppConfig(AppConfig):
    name = "tests.dbcopy_app"
    label = "dbcopy_app"
    default_auto_field = "django.db.models.BigAutoField"
