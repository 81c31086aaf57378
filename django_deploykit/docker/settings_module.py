"""Which settings module (and django-configurations class) the image runs with.

``dockerize`` usually runs with the laptop's settings (``settings.dev``,
``settings.local``); the image must not bake those in. The choice, first that
applies:

1. ``--settings`` (Django's own option) given to ``dockerize``, or saved from an
   earlier run;
2. the module ``wsgi.py`` names, when it differs from the one running now: the
   module the project's own servers load (cookiecutter-django's layout);
3. a production sibling in the settings package (``production.py``, ``prod.py``…)
   of the running module;
4. the running module.

manage.py and wsgi.py are read with :mod:`ast`, never executed. A file that
*assigns* ``os.environ["DJANGO_SETTINGS_MODULE"]`` (instead of ``setdefault``)
would override the image's choice; it is reported so the plan can avoid it.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from django_deploykit.exceptions import ConfigError

__all__ = ["PRODUCTION_NAMES", "SettingsChoice", "choose_settings", "environ_defaults"]

#: Module (and class) names taken for production settings, best first.
PRODUCTION_NAMES = ("production", "prod", "live", "deploy", "deployment")
_VARIABLES = ("DJANGO_SETTINGS_MODULE", "DJANGO_CONFIGURATION")


@dataclass(frozen=True)
class SettingsChoice:
    module: str
    #: Why this module (one short phrase for the table).
    reason: str
    #: django-configurations' class, when the project uses it.
    configuration: str | None = None
    configuration_reason: str | None = None
    #: manage.py / wsgi.py when they assign DJANGO_SETTINGS_MODULE (not setdefault).
    assigned_in: tuple[str, ...] = ()


@dataclass(frozen=True)
class _FileDefaults:
    values: dict[str, str]
    assigned: frozenset[str]


def environ_defaults(path: Path | None) -> _FileDefaults:
    """``os.environ.setdefault(NAME, "x")`` and ``os.environ[NAME] = "x"`` in a file."""
    values: dict[str, str] = {}
    assigned: set[str] = set()
    if path is None or not path.is_file():
        return _FileDefaults(values, frozenset())
    try:
        tree = ast.parse(path.read_text(errors="replace"))
    except SyntaxError:
        return _FileDefaults(values, frozenset())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
            and _is_environ(node.func.value)
            and len(node.args) == 2
        ):
            name, value = (_constant(a) for a in node.args)
            if name in _VARIABLES and value:
                values.setdefault(name, value)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Subscript) and _is_environ(target.value):
                name, value = _constant(target.slice), _constant(node.value)
                if name in _VARIABLES:
                    assigned.add(name)
                    if value:
                        values[name] = value
    return _FileDefaults(values, frozenset(assigned))


def _is_environ(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _constant(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def choose_settings(
    current: str,
    base: Path,
    wsgi_module: str | None,
    *,
    explicit: str | None = None,
    explicit_configuration: str | None = None,
) -> SettingsChoice:
    manage = environ_defaults(base / "manage.py")
    wsgi_path = _module_file(wsgi_module)
    wsgi = environ_defaults(wsgi_path)
    assigned = tuple(
        name
        for name, found in (("manage.py", manage), (_shown(wsgi_path, base), wsgi))
        if "DJANGO_SETTINGS_MODULE" in found.assigned
    )
    module, reason = _module(current, explicit, wsgi.values.get("DJANGO_SETTINGS_MODULE"))
    if explicit is None and not _exists(module):
        module, reason = current, "DJANGO_SETTINGS_MODULE"
    elif explicit is not None and not _exists(explicit):
        raise ConfigError(
            f"--settings {explicit}: no such module on the path. Give the dotted module "
            "name of your production settings, e.g. mysite.settings.production."
        )
    configuration, why = _configuration(
        module,
        explicit_configuration,
        os.environ.get("DJANGO_CONFIGURATION")
        or manage.values.get("DJANGO_CONFIGURATION")
        or wsgi.values.get("DJANGO_CONFIGURATION"),
        wsgi.values.get("DJANGO_CONFIGURATION"),
    )
    return SettingsChoice(module, reason, configuration, why, assigned)


def _module(current: str, explicit: str | None, wsgi_default: str | None) -> tuple[str, str]:
    if explicit:
        return explicit, "--settings"
    if wsgi_default and wsgi_default != current and _exists(wsgi_default):
        return wsgi_default, f"wsgi.py names it; this run uses {current}"
    sibling = _production_sibling(current)
    if sibling:
        return sibling, f"production module of the settings package; this run uses {current}"
    return current, "DJANGO_SETTINGS_MODULE"


def _production_sibling(current: str) -> str | None:
    """``a.settings.dev`` → ``a.settings.production`` (or a package's own submodule)."""
    if not current or current.rsplit(".", 1)[-1] in PRODUCTION_NAMES:
        return None
    candidates = []
    if _is_package(current):
        candidates.append(current)
    if "." in current:
        candidates.append(current.rsplit(".", 1)[0])
    for package in candidates:
        for name in PRODUCTION_NAMES:
            if _exists(f"{package}.{name}"):
                return f"{package}.{name}"
    return None


def _configuration(
    module: str, explicit: str | None, current: str | None, wsgi_default: str | None
) -> tuple[str | None, str | None]:
    if explicit:
        return explicit, "--configuration"
    if not current and not wsgi_default:
        return None, None  # not a django-configurations project
    if wsgi_default and wsgi_default != current:
        return wsgi_default, f"wsgi.py names it; this run uses {current}"
    classes = _class_names(module)
    for name in PRODUCTION_NAMES:
        for cls in classes:
            if cls.lower() == name:
                return cls, f"production class of {module}; this run uses {current}"
    return current, "DJANGO_CONFIGURATION"


def _class_names(module: str) -> list[str]:
    path = _module_file(module + ".x")  # the module itself, not its package
    if path is None:
        return []
    try:
        tree = ast.parse(path.read_text(errors="replace"))
    except SyntaxError:
        return []
    return [node.name for node in tree.body if isinstance(node, ast.ClassDef)]


def _module_file(dotted_attribute: str | None) -> Path | None:
    """The file of ``pkg.wsgi`` given ``pkg.wsgi.application``."""
    if not dotted_attribute or "." not in dotted_attribute:
        return None
    spec = _spec(dotted_attribute.rsplit(".", 1)[0])
    return Path(spec.origin) if spec and spec.origin and spec.has_location else None


def _shown(path: Path | None, base: Path) -> str:
    if path is None:
        return "wsgi.py"
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.name


def _spec(name: str) -> importlib.machinery.ModuleSpec | None:
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def _exists(name: str) -> bool:
    return bool(name) and _spec(name) is not None


def _is_package(name: str) -> bool:
    spec = _spec(name)
    return bool(spec and spec.submodule_search_locations)
