"""Which variables are configuration and which are secrets, from the one variable list.

``secret=True`` variables of ``django_deploykit.env.variables.VARIABLES`` are
mounted as files (a Kubernetes Secret volume, Swarm secrets) and read through
``NAME_FILE``; everything else goes into a ConfigMap or ``environment:``. Secret
values are generated into git-ignored files only, never into tracked ones.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from django_deploykit.docker.plan import Plan
from django_deploykit.docker.targets.options import ScaleOptions
from django_deploykit.env.variables import VARIABLES, variable
from django_deploykit.search.app_key import derive_key

__all__ = [
    "SECRETS_DIR",
    "app_config",
    "app_secrets",
    "db_secrets",
    "search_init_secrets",
    "secret_values",
]

#: Where the app's secret files are mounted (Kubernetes; Swarm uses /run/secrets).
SECRETS_DIR = "/run/secrets/deploykit"
GUNICORN_TIMEOUT = 30


def service_names(plan: Plan, options: ScaleOptions) -> dict[str, str]:
    """Host names of the backing services as the app sees them."""
    if options.target == "swarm":
        return {"db": "db", "search": "meilisearch", "redis": "redis"}
    return {
        k: f"{plan.project}-{v}"
        for k, v in (("db", "db"), ("search", "meilisearch"), ("redis", "redis"))
    }


def app_config(plan: Plan, options: ScaleOptions) -> dict[str, str]:
    """Non-secret variables of the app containers (ConfigMap / environment)."""
    names = service_names(plan, options)
    values = {
        "DEBUG": "false",
        "ALLOWED_HOSTS": ",".join(options.hosts),
        "CSRF_TRUSTED_ORIGINS": ",".join(f"https://{h.lstrip('*.')}" for h in options.hosts),
        "SECURE_SSL_REDIRECT": "true",
        # TLS always ends at the ingress/proxy here: Secure cookies follow the redirect.
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
        "DATABASE_CONN_MAX_AGE": "60",
        "PORT": str(plan.port),
        "GUNICORN_WORKERS": variable("GUNICORN_WORKERS").default,
        "GUNICORN_THREADS": variable("GUNICORN_THREADS").default,
        "GUNICORN_TIMEOUT": str(GUNICORN_TIMEOUT),
        # SQLite lives in one web container, which migrates itself (no Job can share it).
        "RUN_MIGRATIONS": "true" if plan.db == "sqlite" else "false",
        "WAIT_FOR_DB_TIMEOUT": "60",
        "WAIT_FOR_MIGRATIONS_TIMEOUT": "600",
    }
    if plan.search:
        values["MEILISEARCH_URL"] = f"http://{names['search']}:7700"
    # Only variables deploykit declares: a typo here would be a silent no-op.
    for name in values:
        variable(name)
    return values


def app_secrets(plan: Plan, options: ScaleOptions) -> list[str]:
    """Secret variables the app containers read through NAME_FILE, in list order."""
    # SQLite's URL is a path set by the image, not a secret.
    wanted = {"SECRET_KEY"} if plan.db == "sqlite" else {"SECRET_KEY", "DATABASE_URL"}
    if plan.redis:
        wanted |= {"CACHE_URL"}
    if plan.celery:
        wanted |= {"CELERY_BROKER_URL"}
    if plan.search:
        # The app's own key; only Meilisearch and the search-init step get the master key.
        wanted |= {"MEILISEARCH_API_KEY"}
    return [v.name for v in VARIABLES if v.secret and v.name in wanted]


def search_init_secrets(plan: Plan, options: ScaleOptions) -> list[str]:
    """Secrets of the step that creates the app's Meilisearch key (none without search)."""
    return ["MEILISEARCH_MASTER_KEY", "MEILISEARCH_API_KEY"] if plan.search else []


def db_secrets(plan: Plan, options: ScaleOptions) -> list[str]:
    """Secrets of the in-cluster database service (none when it is external)."""
    if not options.database_in_cluster:
        return []
    return ["DB_PASSWORD", "DB_ROOT_PASSWORD"] if plan.db == "mariadb" else ["DB_PASSWORD"]


def _random(length: int = 40) -> str:
    # Letters and digits only: safe in URLs, env files and shell without quoting.
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def secret_values(
    plan: Plan, options: ScaleOptions, known: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Fresh values for this installation (written once, into a git-ignored file).

    DATABASE_URL of an external database is left empty: the app then stops with
    "DATABASE_URL is empty", naming what to fill in. ``known`` holds the values an
    earlier run wrote: a secret added later (the app's search key) is derived from them.
    """
    known = known or {}
    names = service_names(plan, options)
    values: dict[str, str] = {"SECRET_KEY": _random(50)}
    password = _random()
    for name in db_secrets(plan, options):
        values[name] = password if name == "DB_PASSWORD" else _random()
    if options.database_in_cluster:
        scheme, port = ("mysql", 3306) if plan.db == "mariadb" else ("postgres", 5432)
        values["DATABASE_URL"] = f"{scheme}://app:{password}@{names['db']}:{port}/app"
    elif plan.db != "sqlite":
        values["DATABASE_URL"] = ""
    if plan.redis:
        values["CACHE_URL"] = f"redis://{names['redis']}:6379/1"
    if plan.celery:
        values["CELERY_BROKER_URL"] = f"redis://{names['redis']}:6379/0"
    if plan.search:
        values["MEILISEARCH_MASTER_KEY"] = known.get("MEILISEARCH_MASTER_KEY") or _random()
        # The key Meilisearch derives for the app's uid; search-init creates it there.
        values["MEILISEARCH_API_KEY"] = known.get("MEILISEARCH_API_KEY") or derive_key(
            values["MEILISEARCH_MASTER_KEY"]
        )
    wanted = (
        set(app_secrets(plan, options))
        | set(db_secrets(plan, options))
        | set(search_init_secrets(plan, options))
    )
    return {k: v for k, v in values.items() if k in wanted}
