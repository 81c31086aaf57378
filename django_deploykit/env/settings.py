"""The settings helper projects import in their ``settings.py``.

One ``.env`` drives dev, Docker and production::

    from django_deploykit.env import Env

    env = Env(BASE_DIR)            # reads BASE_DIR/.env if it exists
    DEBUG = env.debug()
    SECRET_KEY = env.secret_key()
    ALLOWED_HOSTS = env.allowed_hosts()
    DATABASES = env.databases()
    CACHES = env.caches()
    globals().update(env.https_settings())
    CELERY_BROKER_URL = env.celery_broker_url()   # projects with Celery
    globals().update(env.deploykit_settings())

Built on django-environ (``*_FILE`` secrets, casting, cache URLs) and
dj-database-url (database URLs). Errors are ``ConfigError`` with a message
naming the variable and never its value; when a project's settings module
raises one, the process prints that message instead of a traceback.
"""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
import environ

from django_deploykit.env.booleans import parse_bool
from django_deploykit.env.container import in_container
from django_deploykit.env.variables import variable
from django_deploykit.exceptions import ConfigError

__all__ = ["Env"]

# Used only when DEBUG is on and SECRET_KEY is unset, so a fresh checkout runs.
DEV_SECRET_KEY = "django-insecure-deploykit-development-key-do-not-use-in-production"


class Env:
    """Read deploykit's variables (see ``variables.py``) into Django settings values."""

    def __init__(
        self,
        base_dir: str | os.PathLike[str] | None = None,
        *,
        env_file: str | os.PathLike[str] | None = None,
        environ_map: Mapping[str, str] | None = None,
    ) -> None:
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        if environ_map is not None:
            self._env = environ.FileAwareEnv()
            self._env.ENVIRON = environ.FileAwareMapping(env=dict(environ_map))
        else:
            self._env = environ.FileAwareEnv()
            path = Path(env_file) if env_file else self.base_dir / ".env"
            if path.is_file():
                # Real environment variables win over the file (django-environ's rule).
                environ.Env.read_env(str(path), overwrite=False)
        self.in_container = in_container(self._env.ENVIRON)
        #: secrets/ beside .env (what `dockerize` writes): a secret that is neither set
        #: nor given as NAME_FILE is read from secrets/<name in lower case> there.
        self.secrets_dir = self.base_dir / "secrets" if environ_map is None else None

    # -- raw access -----------------------------------------------------------------

    def raw(self, name: str) -> str:
        """The variable's value (``NAME_FILE`` honoured for secrets), or its default."""
        var = variable(name)
        default = var.default
        try:
            value = self._env.ENVIRON.get(name) if var.secret else None
            if value is None and var.secret and not self.is_set(name):
                value = self._secret_file(name)
            if value is None:
                value = self._env.str(name, default=default)
        except FileNotFoundError as exc:
            raise self.error(
                f"{name}_FILE names a file that does not exist ({exc.filename}). "
                f"Mount the secret file there, or unset {name}_FILE."
            ) from None
        except OSError as exc:
            raise self.error(f"{name}_FILE cannot be read ({exc.strerror}).") from None
        return str(value).strip() if var.secret else str(value)

    def _secret_file(self, name: str) -> str | None:
        path = self.secrets_dir / name.lower() if self.secrets_dir else None
        return path.read_text() if path is not None and path.is_file() else None

    def is_set(self, name: str) -> builtins.bool:
        environ_map = self._env.ENVIRON
        return bool(environ_map.get(name) or environ_map.get(f"{name}_FILE"))

    def bool(self, name: str) -> bool:
        flag = parse_bool(self.raw(name))
        if flag is not None:
            return flag
        raise self.error(f"{name} must be true or false (1/0, yes/no, on/off).")

    def int(self, name: str) -> int:
        value = self.raw(name).strip()
        try:
            return int(value)
        except ValueError:
            raise self.error(f"{name} must be a whole number.") from None

    def list(self, name: str) -> list[str]:
        return [item.strip() for item in self.raw(name).split(",") if item.strip()]

    # -- Django settings --------------------------------------------------------------

    def debug(self) -> builtins.bool:
        return self.bool("DEBUG")

    def secret_key(self) -> str:
        value = self.raw("SECRET_KEY")
        if value:
            return value
        if self.debug():
            return DEV_SECRET_KEY
        raise self.error(
            "SECRET_KEY is not set and DEBUG is off. Set SECRET_KEY (or SECRET_KEY_FILE, "
            "a file holding it) to a long random string, e.g. the output of "
            '`python -c "import secrets; print(secrets.token_urlsafe(50))"`.'
        )

    def allowed_hosts(self) -> builtins.list[str]:
        hosts = self.list("ALLOWED_HOSTS")
        if not hosts and self.debug():
            return ["localhost", "127.0.0.1", "[::1]"]
        return hosts

    def csrf_trusted_origins(self) -> builtins.list[str]:
        origins = self.list("CSRF_TRUSTED_ORIGINS")
        for origin in origins:
            if "://" not in origin:
                raise self.error(
                    f"CSRF_TRUSTED_ORIGINS entry {origin!r} has no scheme; "
                    f"write it as https://{origin}."
                )
        return origins

    def database(self, name: str = "DATABASE_URL") -> dict[str, Any]:
        """One ``DATABASES`` entry from a URL variable (``DATABASE_URL`` by default)."""
        url = self.raw(name) if name == "DATABASE_URL" else self._extra_value(name)
        if not url:
            raise self.error(
                f"{name} is empty. Set it to a database URL such as "
                "sqlite:///db.sqlite3 or postgres://user:password@host/name."
            )
        scheme = urlsplit(url).scheme if "://" in url else ""
        try:
            config: dict[str, Any] = dict(
                dj_database_url.parse(url, conn_max_age=self.int("DATABASE_CONN_MAX_AGE"))
            )
        except dj_database_url.UnknownSchemeError:
            known = ", ".join(sorted(dj_database_url.ENGINE_SCHEMES))
            problem = f"has an unknown scheme {scheme!r}" if scheme else "is not a URL"
            raise self.error(f"{name} {problem}. Use one of: {known}.") from None
        except ValueError:
            raise self.error(
                f"{name} is malformed (check the port and any special characters in the "
                "password: they must be %-encoded). Example: "
                "mysql://user:p%40ss@db:3306/name."
            ) from None
        password = self.raw("DATABASE_PASSWORD") if name == "DATABASE_URL" else ""
        if password and not config.get("PASSWORD"):
            # The generated stacks keep the password out of the URL, in a secret file.
            config["PASSWORD"] = password
        engine = config.get("ENGINE", "")
        if engine.endswith("sqlite3"):
            db_name = str(config.get("NAME") or "")
            if not db_name:
                raise self.error(f"{name} names no SQLite file; write sqlite:///db.sqlite3.")
            if db_name != ":memory:" and not os.path.isabs(db_name):
                config["NAME"] = str(self.base_dir / db_name)
        elif engine.endswith("mysql"):
            options = config.setdefault("OPTIONS", {})
            # 4-byte UTF-8 (emoji) needs utf8mb4 end to end.
            options.setdefault("charset", "utf8mb4")
        return config

    def databases(self, **extra_aliases: str) -> dict[str, dict[str, Any]]:
        """``DATABASES`` with ``default`` from DATABASE_URL and more aliases from variables.

        ``env.databases(analytics="ANALYTICS_DATABASE_URL")`` adds an ``analytics`` alias
        for an outside database (never containerized by ``dockerize``).
        """
        result = {"default": self.database()}
        for alias, var_name in extra_aliases.items():
            result[alias] = self.database(var_name)
        return result

    def caches(self) -> dict[str, dict[str, Any]]:
        url = self.raw("CACHE_URL")
        try:
            return {"default": self._env.cache_url_config(url)}
        except Exception:  # django-environ raises several kinds; never echo the URL
            scheme = urlsplit(url).scheme
            raise self.error(
                f"CACHE_URL has an unsupported scheme {scheme!r}. Use locmemcache://, "
                "redis://host:6379/0, pymemcache://host:11211 or dummycache://."
            ) from None

    def meilisearch_url(self) -> str | None:
        url = self.raw("MEILISEARCH_URL").strip()
        if not url and (
            self.is_set("MEILISEARCH_MASTER_KEY") or self.is_set("MEILISEARCH_API_KEY")
        ):
            # The generated compose files name the service "meilisearch"; a venv reaches
            # the same container through its published port.
            url = "http://meilisearch:7700" if self.in_container else "http://localhost:7700"
        if url and urlsplit(url).scheme not in ("http", "https"):
            raise self.error("MEILISEARCH_URL must start with http:// or https://.")
        return url or None

    def https_settings(self) -> dict[str, Any]:
        """Django's HTTPS settings behind a TLS-terminating proxy (nginx, an ingress).

        With SECURE_SSL_REDIRECT on, TLS exists: cookies are HTTPS-only too. The
        proxy's X-Forwarded-Proto is trusted: only the proxy must reach the app.
        """
        https = self.bool("SECURE_SSL_REDIRECT")
        return {
            "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
            "SECURE_SSL_REDIRECT": https,
            "SESSION_COOKIE_SECURE": https,
            "CSRF_COOKIE_SECURE": https,
            "SECURE_HSTS_SECONDS": self.int("SECURE_HSTS_SECONDS"),
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": self.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS"),
            "SECURE_HSTS_PRELOAD": self.bool("SECURE_HSTS_PRELOAD"),
        }

    def celery_broker_url(self) -> str:
        """``CELERY_BROKER_URL``; unset, the generated stack's Redis (never amqp://localhost).

        Celery's own default is RabbitMQ on localhost, which a project on Redis never
        runs: a worker would retry it forever without a word about the setting.
        """
        url = self.raw("CELERY_BROKER_URL").strip()
        if url:
            return url
        return "redis://redis:6379/0" if self.in_container else "redis://127.0.0.1:6379/0"

    def deploykit_settings(self) -> dict[str, Any]:
        """The ``DEPLOYKIT_*`` settings that come from the environment."""
        return {
            "DEPLOYKIT_MEILISEARCH_URL": self.meilisearch_url(),
            "DEPLOYKIT_MEILISEARCH_MASTER_KEY": self.raw("MEILISEARCH_MASTER_KEY") or None,
            "DEPLOYKIT_MEILISEARCH_API_KEY": self.raw("MEILISEARCH_API_KEY") or None,
            "DEPLOYKIT_MEILISEARCH_INDEX_PREFIX": self.raw("MEILISEARCH_INDEX_PREFIX"),
            "DEPLOYKIT_HEALTH_PATH": self.raw("DEPLOYKIT_HEALTH_PATH") or "/health/",
            "DEPLOYKIT_HEALTH_TOKEN": self.raw("DEPLOYKIT_HEALTH_TOKEN") or None,
        }

    # -- errors ----------------------------------------------------------------------

    def _extra_value(self, name: str) -> str:
        # Project-specific variables (extra database aliases) are not in the list.
        try:
            return str(self._env.str(name, default="")).strip()
        except FileNotFoundError:
            raise self.error(f"{name}_FILE names a file that does not exist.") from None

    @staticmethod
    def error(message: str) -> ConfigError:
        _print_config_errors_without_traceback()
        return ConfigError(message)


def _print_config_errors_without_traceback() -> None:
    """Let an uncaught ConfigError print one clear line instead of a traceback.

    Settings modules run before Django can format errors, so a missing variable would
    otherwise surface as a long traceback that buries the one line that matters.
    """
    previous = sys.excepthook
    if getattr(previous, "_deploykit", False):
        return

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, ConfigError):
            sys.stderr.write(f"Configuration error: {exc}\n")
        else:
            previous(exc_type, exc, tb)

    hook._deploykit = True  # type: ignore[attr-defined]
    sys.excepthook = hook
