"""The container's settings: the project's own module, with production values filled in.

The image selects ``django_deploykit.container_settings`` through
``DJANGO_SETTINGS_MODULE``; that module calls :func:`load`, which imports the
project's settings (``DEPLOYKIT_BASE_SETTINGS``) and applies :func:`compute`'s
overrides. Nothing of the user's is written: the venv keeps running the
project's module exactly as before.

Rules (each override carries its reason; ``dockerize`` prints the same list):

* only what is missing or unsafe changes; values the project already reads from
  the environment pass through;
* a literal top-level ``DEBUG = True`` is replaced *before* the project's module
  runs, so values computed from DEBUG further down (``if DEBUG: INSTALLED_APPS +=
  ["debug_toolbar"]``, ``SESSION_COOKIE_SECURE = not DEBUG``) see the production
  value;
* fail closed: without a secret key from the environment, DEBUG off refuses to
  start instead of running with the project's hard-coded key.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from django_deploykit.env.settings import Env
from django_deploykit.env.variables import VARIABLES

__all__ = [
    "OVERLAY_MODULE",
    "Overlay",
    "Override",
    "compute",
    "explain",
    "load",
    "mirror_aliases",
    "settings_of",
]

OVERLAY_MODULE = "django_deploykit.container_settings"
HEALTH_MIDDLEWARE = "django_deploykit.health.middleware.HealthCheckMiddleware"
WHITENOISE_MIDDLEWARE = "whitenoise.middleware.WhiteNoiseMiddleware"
SECURITY_MIDDLEWARE = "django.middleware.security.SecurityMiddleware"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
#: Settings whose values stay out of printed explanations.
_SECRET_SETTINGS = frozenset({"SECRET_KEY", "DATABASES"})
#: Keys of a DATABASES entry that describe behaviour, not the connection: kept from the
#: project's entry when DATABASE_URL replaces it.
_DB_BEHAVIOUR = ("ATOMIC_REQUESTS", "AUTOCOMMIT", "TIME_ZONE", "TEST", "CONN_HEALTH_CHECKS")


@dataclass(frozen=True)
class Override:
    name: str
    value: Any
    reason: str

    @property
    def shown(self) -> str:
        """The value as ``dockerize`` prints it (never a secret)."""
        if self.name in _SECRET_SETTINGS:
            return "(from the environment; not shown)"
        return repr(self.value)


@dataclass(frozen=True)
class Overlay:
    base_module: str
    overrides: tuple[Override, ...]
    #: Problems the overlay sees but cannot fix (system check deploykit.W003).
    warnings: tuple[str, ...]

    def settings(self) -> dict[str, Any]:
        return {o.name: o.value for o in self.overrides}


# -- environment names the project may read -----------------------------------------------


def mirror_aliases(environ: MutableMapping[str, str]) -> list[str]:
    """Copy ``SECRET_KEY`` to ``DJANGO_SECRET_KEY`` etc. where the alias is unset.

    Projects (cookiecutter-django, many settings packages) read ``DJANGO_*`` names;
    the generated ``.env`` writes the plain ones. Mirroring before the project's module
    runs makes both work, and a module that *requires* ``DJANGO_SECRET_KEY`` imports.
    """
    mirrored = []
    for var in VARIABLES:
        value = environ.get(var.name)
        if value is None and var.secret and var.aliases and environ.get(f"{var.name}_FILE"):
            # The compose stack gives secrets as files; a module reading the alias from
            # os.environ gets the file's value (in this process only, never in inspect).
            try:
                value = Path(environ[f"{var.name}_FILE"]).read_text().strip()
            except OSError:
                value = None
        if value is None:
            continue
        for alias in var.aliases:
            if alias not in environ:
                environ[alias] = value
                mirrored.append(alias)
    return mirrored


# -- importing the project's module with a production DEBUG --------------------------------


class _PreseedDebug(ast.NodeTransformer):
    """``DEBUG = True`` (a literal, at module level) becomes ``DEBUG = <value>``."""

    def __init__(self, value: bool) -> None:
        self.value = value
        self.replaced = False

    def visit_Module(self, node: ast.Module) -> ast.Module:
        for statement in node.body:
            target: ast.expr
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target = statement.targets[0]
            elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
                target = statement.target
            else:
                continue
            if (
                isinstance(target, ast.Name)
                and target.id == "DEBUG"
                and isinstance(statement.value, ast.Constant)
                and isinstance(statement.value.value, bool)
            ):
                statement.value = ast.copy_location(ast.Constant(self.value), statement.value)
                self.replaced = True
        return node


class _PreseedLoader(importlib.machinery.SourceFileLoader):
    debug = False
    #: Names of the modules whose DEBUG literal was replaced (shared with the finder).
    replaced: list[str]

    def get_code(self, fullname: str) -> CodeType:
        # Always from source (and never written back): a cached .pyc holds the
        # project's own DEBUG.
        return self.source_to_code(self.get_data(self.path), self.path)

    def source_to_code(self, data: Any, path: Any, *, _optimize: int = -1) -> CodeType:  # type: ignore[override]
        tree = ast.parse(data, filename=str(path))
        transformer = _PreseedDebug(self.debug)
        transformer.visit(tree)
        if transformer.replaced:
            self.replaced.append(self.name)
        return compile(tree, str(path), "exec", dont_inherit=True, optimize=_optimize)


class _PreseedFinder(importlib.abc.MetaPathFinder):
    """Loads the settings module and its siblings through :class:`_PreseedLoader`."""

    def __init__(self, module: str, debug: bool) -> None:
        self.module = module
        self.scope = module.rpartition(".")[0] or module
        self.debug = debug
        self.replaced: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.module and not fullname.startswith(self.scope + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return None
        loader = _PreseedLoader(fullname, str(spec.origin))
        loader.debug = self.debug
        loader.replaced = self.replaced
        spec.loader = loader
        return spec


@contextmanager
def _preseeded(module: str, debug: bool) -> Iterator[_PreseedFinder]:
    finder = _PreseedFinder(module, debug)
    sys.meta_path.insert(0, finder)
    try:
        yield finder
    finally:
        sys.meta_path.remove(finder)


def import_base(module: str, debug: bool) -> tuple[ModuleType, list[str]]:
    """The project's settings module, and the modules whose ``DEBUG`` literal was replaced."""
    with _preseeded(module, debug) as finder:
        try:
            return importlib.import_module(module), finder.replaced
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                raise Env.error(
                    f"DEPLOYKIT_BASE_SETTINGS names {module!r}, which cannot be imported. "
                    "Re-run `manage.py dockerize` (it writes the module it detected into the "
                    "Dockerfile), or pass --settings."
                ) from None
            raise


def settings_of(module: ModuleType) -> dict[str, Any]:
    return {name: getattr(module, name) for name in dir(module) if name.isupper()}


# -- the overrides ---------------------------------------------------------------------------


def _from_environment(value: object, environ: Mapping[str, str]) -> bool:
    return isinstance(value, str) and bool(value) and value in environ.values()


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def compute(
    base: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    base_module: str = "",
    whitenoise: bool | None = None,
) -> Overlay:
    """The overrides for a project's settings ``base`` (only the names it sets).

    Pure: reads ``environ`` (after :func:`mirror_aliases`), changes nothing.
    ``whitenoise``: is it importable (None: look).
    """
    env = Env(base.get("BASE_DIR") or Path.cwd(), environ_map=environ)
    out: list[Override] = []
    warnings: list[str] = []

    def override(name: str, value: Any, reason: str) -> None:
        out.append(Override(name, value, reason))

    debug = env.debug()
    if bool(base.get("DEBUG", False)) != debug:
        override(
            "DEBUG",
            debug,
            "DEBUG=true in the environment"
            if debug
            else "DEBUG is on in your settings; off in the container unless DEBUG=true in .env",
        )

    key = base.get("SECRET_KEY", "")
    insecure = not key or str(key).startswith("django-insecure-")
    if not _from_environment(key, environ) or insecure:
        env_key = env.raw("SECRET_KEY")
        if env_key and env_key != key:
            override(
                "SECRET_KEY",
                env_key,
                "your settings' key is "
                + ("empty" if not key else "not read from the environment")
                + "; SECRET_KEY from .env",
            )
        elif not env_key and not debug:
            raise Env.error(
                "SECRET_KEY is not set in the container's environment and your settings' key "
                "is hard-coded: refusing to run with it. Put SECRET_KEY=<a long random "
                "string> in .env (`manage.py dockerize` writes one when .env is absent)."
            )

    hosts = _unique([*list(base.get("ALLOWED_HOSTS") or []), *env.list("ALLOWED_HOSTS")])
    if not hosts:
        hosts = list(LOCAL_HOSTS)
    if hosts != list(base.get("ALLOWED_HOSTS") or []):
        override("ALLOWED_HOSTS", hosts, "your list plus ALLOWED_HOSTS from .env")

    origins = _unique([*list(base.get("CSRF_TRUSTED_ORIGINS") or []), *env.csrf_trusted_origins()])
    if origins != list(base.get("CSRF_TRUSTED_ORIGINS") or []):
        override("CSRF_TRUSTED_ORIGINS", origins, "your list plus CSRF_TRUSTED_ORIGINS from .env")

    if "SECURE_PROXY_SSL_HEADER" not in base:
        override(
            "SECURE_PROXY_SSL_HEADER",
            ("HTTP_X_FORWARDED_PROTO", "https"),
            "the proxy in front of the container (nginx, a load balancer) ends TLS",
        )
    redirect = env.is_set("SECURE_SSL_REDIRECT") and env.bool("SECURE_SSL_REDIRECT")
    if redirect and not base.get("SECURE_SSL_REDIRECT"):
        override("SECURE_SSL_REDIRECT", True, "SECURE_SSL_REDIRECT=true in .env")
    if redirect:
        for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
            if not base.get(name):
                override(name, True, "the site is HTTPS (SECURE_SSL_REDIRECT=true in .env)")
    hsts = env.int("SECURE_HSTS_SECONDS")
    if hsts > 0 and not base.get("SECURE_HSTS_SECONDS"):
        override("SECURE_HSTS_SECONDS", hsts, "SECURE_HSTS_SECONDS in .env")
        for name in ("SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD"):
            if env.bool(name) and not base.get(name):
                override(name, True, f"{name}=true in .env")

    databases = dict(base.get("DATABASES") or {})
    if env.is_set("DATABASE_URL"):
        new = env.database()
        old = dict(databases.get("default") or {})
        for name in _DB_BEHAVIOUR:
            if name in old:
                new.setdefault(name, old[name])
        if old.get("ENGINE") == new.get("ENGINE") and old.get("OPTIONS"):
            new["OPTIONS"] = {**old["OPTIONS"], **new.get("OPTIONS", {})}
        if new != old:
            databases["default"] = new
            override(
                "DATABASES",
                databases,
                "'default' from DATABASE_URL (compose: the data volume or the db service)",
            )
    for alias, config in databases.items():
        name = str((config or {}).get("NAME") or "")
        engine = str((config or {}).get("ENGINE") or "")
        on_code = name.startswith("/app/") and not name.startswith("/app/data/")
        if alias != "default" and engine.endswith("sqlite3") and on_code:
            warnings.append(
                f"SQLite database {alias!r} is at {name}, outside the data volume: it is "
                "read-only in the container and lost on rebuild."
            )

    static_root = environ.get("DEPLOYKIT_STATIC_ROOT", "")
    if not base.get("STATIC_ROOT") and static_root:
        override("STATIC_ROOT", static_root, "STATIC_ROOT is unset; the image collects there")
    if not base.get("STATIC_URL"):
        override("STATIC_URL", "/static/", "STATIC_URL is unset")
    media_root = environ.get("DEPLOYKIT_MEDIA_ROOT", "")
    if not base.get("MEDIA_ROOT") and media_root:
        override("MEDIA_ROOT", media_root, "MEDIA_ROOT is unset; uploads go to the media volume")
    if not base.get("MEDIA_URL"):
        override("MEDIA_URL", "/media/", "MEDIA_URL is unset")

    middleware = list(base.get("MIDDLEWARE") or [])
    changed = []
    if HEALTH_MIDDLEWARE not in middleware:
        middleware.insert(0, HEALTH_MIDDLEWARE)
        changed.append("HealthCheckMiddleware first (the container probe and /health/)")
    if whitenoise is None:
        whitenoise = importlib.util.find_spec("whitenoise") is not None
    if (
        whitenoise
        and WHITENOISE_MIDDLEWARE not in middleware
        and "django.contrib.staticfiles" in list(base.get("INSTALLED_APPS") or [])
    ):
        after = (
            middleware.index(SECURITY_MIDDLEWARE) + 1 if SECURITY_MIDDLEWARE in middleware else 1
        )
        middleware.insert(after, WHITENOISE_MIDDLEWARE)
        changed.append("WhiteNoise serves the collected static files")
    if changed:
        override("MIDDLEWARE", middleware, "; ".join(changed))
    if env.is_set("DEPLOYKIT_HEALTH_PATH") and "DEPLOYKIT_HEALTH_PATH" not in base:
        override("DEPLOYKIT_HEALTH_PATH", env.raw("DEPLOYKIT_HEALTH_PATH"), "from the environment")

    if "LOGGING" not in base:
        override(
            "LOGGING",
            _stdout_logging(env.raw("LOG_LEVEL").upper() or "INFO"),
            "no LOGGING in your settings; logs (500 tracebacks too) go to stdout",
        )
    elif _file_handlers(base["LOGGING"]):
        warnings.append(
            f"Your LOGGING writes to files ({', '.join(_file_handlers(base['LOGGING']))}): "
            "kept as it is, but a log file inside the container is read-only and lost. "
            "Log to stdout or stderr instead."
        )

    return Overlay(base_module, tuple(out), tuple(warnings))


def _file_handlers(logging_config: Any) -> list[str]:
    """Names of the LOGGING handlers that write to a file (a console handler is fine)."""
    handlers = logging_config.get("handlers", {}) if isinstance(logging_config, dict) else {}
    return [
        name
        for name, handler in handlers.items()
        if isinstance(handler, dict)
        and ("filename" in handler or str(handler.get("class", "")).endswith("FileHandler"))
    ]


def _stdout_logging(level: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "plain",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
    }


# -- the entry point of container_settings ------------------------------------------------


def load(environ: MutableMapping[str, str] | None = None) -> dict[str, Any]:
    """Every setting of the container: the project's, then the overrides, then markers."""
    environ = os.environ if environ is None else environ
    module = environ.get("DEPLOYKIT_BASE_SETTINGS", "").strip()
    if not module or module == OVERLAY_MODULE:
        raise Env.error(
            "DEPLOYKIT_BASE_SETTINGS is not set: it names your project's settings module "
            "(e.g. mysite.settings), which the container settings build on. The generated "
            "Dockerfile sets it; re-run `manage.py dockerize`."
        )
    mirror_aliases(environ)
    debug = Env(environ_map=environ).debug()
    configuration = environ.get("DJANGO_CONFIGURATION", "").strip()
    if configuration:
        imported, replaced = _import_configuration(module, environ), list[str]()
    else:
        imported, replaced = import_base(module, debug)
    base = settings_of(imported)
    overlay = compute(base, environ, base_module=module)
    overrides = [(o.name, o.reason) for o in overlay.overrides]
    if replaced:
        overrides.insert(
            0,
            (
                "DEBUG",
                f"DEBUG = <literal> in {', '.join(replaced)} replaced by {debug} before it "
                "runs, so values computed from it follow",
            ),
        )
    values = {**base, **overlay.settings()}
    if configuration:
        # django-configurations' importer also loads *this* module as the settings
        # module and looks for the class there: an empty one, the values are above.
        values[configuration] = _LoadedConfiguration
    values["DEPLOYKIT_CONTAINER_SETTINGS"] = {
        "base": module,
        "overrides": overrides,
        "warnings": list(overlay.warnings),
    }
    return values


class _LoadedConfiguration:
    """Stands in for the project's Configuration class in the container settings."""

    @classmethod
    def pre_setup(cls) -> None:
        pass

    @classmethod
    def setup(cls) -> None:
        pass

    @classmethod
    def post_setup(cls) -> None:
        pass


def _import_configuration(module: str, environ: MutableMapping[str, str]) -> ModuleType:
    """Import a django-configurations module through its own importer (class → settings)."""
    try:
        from configurations import importer
    except ImportError:
        raise Env.error(
            "DJANGO_CONFIGURATION is set but django-configurations is not installed in "
            "the image: add it to your dependencies."
        ) from None
    importer.install()
    selected = environ.get("DJANGO_SETTINGS_MODULE")
    environ["DJANGO_SETTINGS_MODULE"] = module  # the importer acts on that module only
    try:
        return importlib.import_module(module)
    finally:
        if selected is None:
            environ.pop("DJANGO_SETTINGS_MODULE", None)
        else:
            environ["DJANGO_SETTINGS_MODULE"] = selected


def explain(overlay: Overlay) -> list[str]:
    """One line per override, for ``dockerize`` and ``python -m ...container_settings``."""
    lines = [f"  {o.name:<24} {o.reason}" for o in overlay.overrides]
    lines += [f"  warning: {w}" for w in overlay.warnings]
    return lines


def preview(
    live: Any,
    environ: Mapping[str, str],
    *,
    base_module: str,
    whitenoise: bool,
    configuration: str | None = None,
) -> Overlay:
    """What the container will override, as ``dockerize`` shows it before writing.

    The image's module (``base_module``) is imported the way the container does, with
    the container's environment; when it is the running one, or cannot be imported
    here, the running settings ``live`` (``django.conf.settings``) stand in.
    """
    environ = dict(environ)
    mirror_aliases(environ)
    base = None
    if base_module and base_module != getattr(live, "SETTINGS_MODULE", None) and not configuration:
        saved = dict(os.environ)
        os.environ.update(environ)
        try:
            base = settings_of(import_base(base_module, debug=False)[0])
        except Exception:  # the user's module: anything can fail outside its environment
            base = None
        finally:
            os.environ.clear()
            os.environ.update(saved)
    if base is None:
        base = {
            name: getattr(live, name)
            for name in dir(live)
            if name.isupper() and live.is_overridden(name)
        }
    return compute(base, environ, base_module=base_module, whitenoise=whitenoise)
