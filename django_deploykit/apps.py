from __future__ import annotations

from django.apps import AppConfig


class DeployKitConfig(AppConfig):
    name = "django_deploykit"
    label = "deploykit"
    verbose_name = "deploykit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.exceptions import ImproperlyConfigured

        from django_deploykit.checks import development_settings_in_image

        problem = development_settings_in_image()
        if problem:
            raise ImproperlyConfigured(problem)
        from django_deploykit import checks  # noqa: F401  (registers the system checks)
        from django_deploykit.health import (
            celery_marks,
            system_checks,  # noqa: F401
        )
        from django_deploykit.health.logging import quiet_health_probes
        from django_deploykit.search import checks as search_checks  # noqa: F401
        from django_deploykit.search import signals  # noqa: F401  (inert unless enabled)

        quiet_health_probes()
        celery_marks.connect()
