"""The optional parts of deploykit and the one way their packages are imported.

A running site needs none of them, so the core install (and the generated image,
unless the project uses search) leaves them out: ``dj-deploykit[search]`` brings
the Meilisearch client, ``dj-deploykit[deploy]`` the Docker SDK and PyYAML. Their
packages are imported only where they are used, through :func:`require`, which
turns a missing package into one line naming the extra to install.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from django_deploykit.exceptions import ConfigError

__all__ = ["EXTRAS", "MissingExtra", "installed", "require"]

#: extra → what it enables (the names pyproject.toml's optional-dependencies use).
EXTRAS = {
    "search": "Meilisearch (reindex_search, the search health check, index updates)",
    "deploy": "the Docker engine (deploy, dockerize --build)",
}


class MissingExtra(ConfigError):
    """An optional part is used but its package is not installed (exit code 2)."""

    def __init__(self, module: str, extra: str, error: ImportError) -> None:
        self.module = module
        self.extra = extra
        super().__init__(
            f"The Python package {module!r} cannot be imported ({error}); it comes with "
            f"deploykit's {extra!r} extra, for {EXTRAS[extra]}. Install it: "
            f'pip install "dj-deploykit[{extra}]"'
        )


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` of the optional part ``extra``, or raise :class:`MissingExtra`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(module, extra, exc) from None


def installed(module: str) -> bool:
    """Whether ``module`` can be found, without importing it (cheap enough for a check)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
