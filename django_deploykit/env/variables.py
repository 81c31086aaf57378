"""The one list of environment variables deploykit knows.

The settings helper reads these names, ``dockerize`` renders ``.env.example``
and compose ``environment:`` blocks from them, and the docs' reference table is
generated from them: nobody types a variable name in three places.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GROUPS", "VARIABLES", "Variable", "variable"]


@dataclass(frozen=True)
class Variable:
    name: str
    #: Value used when the variable is unset ("" = empty / not set).
    default: str
    #: str, bool, int, url, list (comma separated), path.
    type: str
    help: str
    group: str
    #: Secret values are never printed; they may also come from ``<NAME>_FILE``.
    secret: bool = False
    #: Value written to ``.env.example`` when it differs from the default.
    example: str | None = None
    #: Who reads it: "settings" (the env helper), "entrypoint", "compose", "image" (set by
    #: the generated Dockerfile, never in .env), "search-init" (the one-shot step that
    #: creates the app's Meilisearch key; python -m django_deploykit.search.app_key).
    used_by: tuple[str, ...] = ("settings",)
    #: Other names projects commonly read for the same value (``DJANGO_SECRET_KEY``): the
    #: container settings copy the value to them when they are unset.
    aliases: tuple[str, ...] = ()

    @property
    def file_variant(self) -> str | None:
        return f"{self.name}_FILE" if self.secret else None


GROUPS = {
    "django": "Django core",
    "database": "Database",
    "cache": "Cache",
    "search": "Meilisearch",
    "runtime": "Container runtime",
    "compose": "Docker Compose (read by the generated compose files)",
}

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "SECRET_KEY",
        "",
        "str",
        "Django's SECRET_KEY. Required when DEBUG is off; in DEBUG a fixed development "
        "key is used when it is unset.",
        "django",
        secret=True,
        example="change-me-to-a-long-random-string",
        aliases=("DJANGO_SECRET_KEY",),
    ),
    Variable(
        "DEBUG",
        "false",
        "bool",
        "Django's DEBUG. Never on in production.",
        "django",
        example="true",
        aliases=("DJANGO_DEBUG",),
    ),
    Variable(
        "ALLOWED_HOSTS",
        "",
        "list",
        "Comma-separated host names the site answers to. Empty means localhost only "
        "when DEBUG is on, and nothing when it is off.",
        "django",
        example="localhost,127.0.0.1",
        aliases=("DJANGO_ALLOWED_HOSTS",),
    ),
    Variable(
        "CSRF_TRUSTED_ORIGINS",
        "",
        "list",
        "Comma-separated origins (scheme and host) trusted for unsafe requests, "
        "e.g. https://example.com.",
        "django",
        aliases=("DJANGO_CSRF_TRUSTED_ORIGINS",),
    ),
    Variable(
        "SECURE_SSL_REDIRECT",
        "false",
        "bool",
        "Redirect plain HTTP to HTTPS (Django's SECURE_SSL_REDIRECT). Turn it on when TLS "
        "ends at nginx or a proxy that sends X-Forwarded-Proto.",
        "django",
        aliases=("DJANGO_SECURE_SSL_REDIRECT",),
    ),
    Variable(
        "SECURE_HSTS_SECONDS",
        "0",
        "int",
        "Seconds browsers must use HTTPS only for this site (Strict-Transport-Security, "
        "Django's SECURE_HSTS_SECONDS); 0 sends no header. `dockerize --nginx` writes "
        "31536000 (a year) into .env: start lower if you are unsure HTTPS will stay.",
        "django",
    ),
    Variable(
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "false",
        "bool",
        "Add includeSubDomains to the HSTS header: every subdomain must serve HTTPS too.",
        "django",
    ),
    Variable(
        "SECURE_HSTS_PRELOAD",
        "false",
        "bool",
        "Add preload to the HSTS header (needed to submit the domain to the browsers' "
        "preload list; nothing happens until you submit it).",
        "django",
    ),
    Variable(
        "DATABASE_URL",
        "sqlite:///db.sqlite3",
        "url",
        "The default database as a URL (sqlite:///path, mysql://user:pass@host/db, "
        "postgres://user:pass@host/db). A relative SQLite path is relative to the project "
        "directory; four slashes make it absolute.",
        "database",
        secret=True,
    ),
    Variable(
        "DATABASE_PASSWORD",
        "",
        "str",
        "Password of the default database when DATABASE_URL carries none: the generated "
        "compose stack gives it to the app as a file (DATABASE_PASSWORD_FILE), so the URL "
        "shows no secret.",
        "database",
        secret=True,
    ),
    Variable(
        "DATABASE_CONN_MAX_AGE",
        "0",
        "int",
        "Seconds a database connection is kept open between requests (Django's "
        "CONN_MAX_AGE); 0 closes it after each request.",
        "database",
        example="60",
    ),
    Variable(
        "CACHE_URL",
        "locmemcache://",
        "url",
        "The default cache as a URL in django-environ's schemes: locmemcache://, "
        "redis://host:6379/1, dummycache://, filecache:///path.",
        "cache",
        secret=True,
    ),
    Variable(
        "MEILISEARCH_URL",
        "",
        "url",
        "Base URL of Meilisearch. When unset but MEILISEARCH_MASTER_KEY is set, it "
        "defaults to http://meilisearch:7700 in a container (the compose service) and "
        "http://localhost:7700 in a venv; when both are unset, search is off and the "
        "site falls back to database search.",
        "search",
        example="http://localhost:7700",
    ),
    Variable(
        "MEILISEARCH_MASTER_KEY",
        "",
        "str",
        "Meilisearch's master key. The generated stacks give it only to Meilisearch and "
        "to the one-shot search-init step, which creates the app's key from it; the app "
        "uses it only when MEILISEARCH_API_KEY is unset (setups made before that key).",
        "search",
        secret=True,
    ),
    Variable(
        "MEILISEARCH_API_KEY",
        "",
        "str",
        "The app's Meilisearch key: only the actions deploykit calls (search, documents, "
        "indexes, settings, stats, tasks, version), no key management, dumps or snapshots. "
        "Meilisearch derives it from the master key and MEILISEARCH_API_KEY_UID (dockerize "
        "writes it into secrets/meilisearch_api_key); search-init creates it on the server. "
        "Unset: the app uses MEILISEARCH_MASTER_KEY.",
        "search",
        secret=True,
    ),
    Variable(
        "MEILISEARCH_API_KEY_UID",
        "",
        "str",
        "uid (a UUID) of the app's Meilisearch key, read by search-init and dockerize; "
        "empty means deploykit's fixed uid. Not secret. To replace the app's key, set a new "
        "one, delete secrets/meilisearch_api_key and run dockerize and the stack again: "
        "search-init deletes the key of the old uid.",
        "search",
        used_by=("search-init",),
    ),
    Variable(
        "MEILISEARCH_INDEX_PREFIX",
        "",
        "str",
        "Prefix of every index name, e.g. 'staging_' when stages share one server.",
        "search",
    ),
    Variable(
        "DEPLOYKIT_IN_CONTAINER",
        "",
        "bool",
        "Override container detection (true/false); unset means detect it.",
        "runtime",
    ),
    Variable(
        "DEPLOYKIT_BASE_SETTINGS",
        "",
        "str",
        "The project's own settings module (e.g. mysite.settings), on which the container "
        "settings (DJANGO_SETTINGS_MODULE=django_deploykit.container_settings) build. Set "
        "by the generated Dockerfile from what dockerize detected.",
        "runtime",
        used_by=("image",),
    ),
    Variable(
        "DEPLOYKIT_STATIC_ROOT",
        "",
        "path",
        "STATIC_ROOT in the container when the project's settings leave it unset. Set by "
        "the generated Dockerfile.",
        "runtime",
        used_by=("image",),
    ),
    Variable(
        "DEPLOYKIT_MEDIA_ROOT",
        "",
        "path",
        "MEDIA_ROOT in the container (the media volume) when the project's settings leave "
        "it unset. Set by the generated Dockerfile.",
        "runtime",
        used_by=("image",),
    ),
    Variable(
        "LOG_LEVEL",
        "INFO",
        "str",
        "Level of the root logger, which the container settings send to stdout when the "
        "project's settings define no LOGGING (DEBUG, INFO, WARNING, ERROR).",
        "runtime",
    ),
    Variable(
        "PORT",
        "8000",
        "int",
        "Port gunicorn listens on inside the container.",
        "runtime",
        used_by=("entrypoint",),
    ),
    Variable(
        "GUNICORN_WORKERS",
        "2",
        "int",
        "Number of gunicorn worker processes.",
        "runtime",
        used_by=("entrypoint",),
    ),
    Variable(
        "GUNICORN_THREADS",
        "4",
        "int",
        "Threads per gunicorn worker (gthread worker class).",
        "runtime",
        used_by=("entrypoint",),
    ),
    Variable(
        "GUNICORN_WORKER_CLASS",
        "gthread",
        "str",
        "gunicorn worker class: gthread, sync, gevent, eventlet, or "
        "uvicorn.workers.UvicornWorker for ASGI projects.",
        "runtime",
        used_by=("entrypoint",),
    ),
    Variable(
        "GUNICORN_TIMEOUT",
        "30",
        "int",
        "Seconds before gunicorn restarts a silent worker; also the graceful shutdown time.",
        "runtime",
        used_by=("entrypoint",),
    ),
    Variable(
        "DRAIN_SECONDS",
        "0",
        "int",
        "On SIGTERM, web keeps serving this many seconds before gunicorn's graceful "
        "shutdown, so a proxy that still has the task's address cached (nginx in the "
        "Swarm stack) never meets a closed port. 0 stops at once; the Swarm stack sets 10.",
        "runtime",
        used_by=("entrypoint",),
    ),
    Variable(
        "RUN_MIGRATIONS",
        "0",
        "bool",
        "Run migrate when the web container starts. Off by default: the one-shot migrate "
        "service does it once per deploy.",
        "runtime",
        used_by=("entrypoint",),
    ),
    Variable(
        "WAIT_FOR_DB_TIMEOUT",
        "60",
        "int",
        "Seconds the entrypoint waits for the databases before giving up (0: no wait). "
        "compose.yaml sets 0 for web and the worker: they start after migrate has "
        "reached the database.",
        "runtime",
        used_by=("entrypoint",),
    ),
    Variable(
        "WAIT_FOR_MIGRATIONS",
        "false",
        "bool",
        "Before web, worker and beat start, wait until every migration of this code is "
        "applied (by the migrate job of the revision). Set by the Swarm stack; on "
        "Kubernetes an init container does the same.",
        "runtime",
        used_by=("entrypoint",),
    ),
    Variable(
        "WAIT_FOR_MIGRATIONS_TIMEOUT",
        "600",
        "int",
        "Seconds to wait for the migrations (wait-for-migrations role) before giving up.",
        "runtime",
        used_by=("entrypoint",),
    ),
    Variable(
        "CELERY_BROKER_URL",
        "",
        "url",
        "Celery's broker URL, e.g. redis://redis:6379/0 (read it in settings with "
        "env.celery_broker_url(): empty means the stack's Redis, redis://redis:6379/0 in a "
        "container and redis://127.0.0.1:6379/0 in a venv).",
        "cache",
        secret=True,
    ),
    Variable(
        "WORKER_HEALTH_EVERY",
        "60",
        "int",
        "Seconds the Celery worker's healthcheck trusts its last successful `celery "
        "inspect ping` before it pings again (a ping starts Python and imports the app).",
        "runtime",
        used_by=("entrypoint",),
    ),
    Variable(
        "SWARM_CONFIG_VERSION",
        "1",
        "str",
        "Suffix of the Swarm secret and config names of the stack (they are immutable): "
        "change it whenever a file under swarm/secrets or swarm/nginx.conf changes.",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "DEPLOYKIT_HEALTH_PATH",
        "/health/",
        "str",
        "URL prefix of the health endpoints: the container probe (python -m "
        "django_deploykit.health.probe) requests it and the env helper sets the "
        "DEPLOYKIT_HEALTH_PATH setting from it. Change it when the health URLs are included "
        "elsewhere.",
        "runtime",
        used_by=("entrypoint", "settings"),
    ),
    Variable(
        "DEPLOYKIT_HEALTH_TOKEN",
        "",
        "str",
        "Bearer token that lets a caller see the private detail text of each health check "
        "(Authorization: Bearer <token>). Empty: nobody sees details over HTTP.",
        "runtime",
        secret=True,
    ),
    # Read by compose.yaml (interpolation), not by Django: written by `dockerize`.
    Variable(
        "APP_IMAGE",
        "",
        "str",
        "Name:tag of the application image compose builds and runs; empty means <project>:latest.",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "BASE_IMAGE",
        "",
        "str",
        "Base image of the Dockerfile (build argument); empty means the official "
        "python:<version>-slim. Point it at a mirror or a local image to build offline.",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "WEB_PORT",
        "8000",
        "int",
        "Host port published for the web service (bound to 127.0.0.1 unless WEB_BIND is set).",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "WEB_BIND",
        "127.0.0.1",
        "str",
        "Host address the web port is published on; 0.0.0.0 exposes it to the network.",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "DB_PASSWORD",
        "",
        "str",
        "Password of the application's database user in the compose database service.",
        "compose",
        secret=True,
        used_by=("compose",),
    ),
    Variable(
        "DB_ROOT_PASSWORD",
        "",
        "str",
        "Administrator password of the compose MariaDB service.",
        "compose",
        secret=True,
        used_by=("compose",),
    ),
    Variable(
        "DB_IMAGE",
        "",
        "str",
        "Image of the database service; empty means the pinned official image "
        "(mariadb:11.4 or postgres:17).",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "MEILISEARCH_IMAGE",
        "",
        "str",
        "Image of the Meilisearch service; empty means getmeili/meilisearch:v1.11.",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "REDIS_IMAGE",
        "",
        "str",
        "Image of the Redis service; empty means redis:7.4-alpine.",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "NGINX_IMAGE",
        "",
        "str",
        "Image of the nginx service; empty means nginx:1.27-alpine.",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "HTTP_PORT",
        "80",
        "int",
        "Host port nginx publishes for HTTP (redirects to HTTPS).",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "HTTPS_PORT",
        "443",
        "int",
        "Host port nginx publishes for HTTPS.",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "DB_PORT",
        "",
        "int",
        "Host port compose.dev.yaml publishes the database on (127.0.0.1 only); empty "
        "means the server's usual port (3306 or 5432).",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "MEILISEARCH_PORT",
        "7700",
        "int",
        "Host port compose.dev.yaml publishes Meilisearch on (127.0.0.1 only).",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "REDIS_PORT",
        "6379",
        "int",
        "Host port compose.dev.yaml publishes Redis on (127.0.0.1 only).",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "DEV_UID",
        "1000",
        "int",
        "User id the development image (compose.dev.yaml) runs as: the owner of the "
        "checkout (`id -u`), so the container can write the bind-mounted code. dockerize "
        "writes yours into a new .env.",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "DEV_GID",
        "1000",
        "int",
        "Group id of the development image (`id -g`); see DEV_UID.",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "DEBUGPY",
        "false",
        "bool",
        "Development only: compose.dev.yaml runs runserver under debugpy (installed in the "
        "development image only), for an IDE to attach to on 127.0.0.1:DEBUGPY_PORT.",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "DEBUGPY_PORT",
        "5678",
        "int",
        "Host port compose.dev.yaml publishes debugpy on (127.0.0.1 only).",
        "compose",
        used_by=("compose",),
    ),
    Variable(
        "TLS_CERT_DIR",
        "./certs",
        "path",
        "Host directory holding fullchain.pem and privkey.pem for nginx.",
        "compose",
        used_by=("compose",),
    ),
)

_BY_NAME = {v.name: v for v in VARIABLES}


def variable(name: str) -> Variable:
    """The declared variable called ``name`` (KeyError if deploykit does not know it)."""
    return _BY_NAME[name]
