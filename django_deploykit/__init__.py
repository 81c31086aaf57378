"""Containerize, deploy and operate a Django project."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Lazy: importlib.metadata costs ~40 ms and ~7 MB, which the stdlib-only
    # container probe (python -m django_deploykit.health.probe) must not pay.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dj-deploykit")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"
