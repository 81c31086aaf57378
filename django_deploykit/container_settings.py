"""The settings the generated image runs (``DJANGO_SETTINGS_MODULE`` points here).

Your project's settings module (``DEPLOYKIT_BASE_SETTINGS``, written into the
Dockerfile by ``dockerize``) with production values filled in from the
environment; see :mod:`django_deploykit.env.overlay` and docs/dockerize.rst.
``python -m django_deploykit.container_settings`` prints what it changes and why.
"""

from __future__ import annotations

from typing import Any

from django_deploykit.env.overlay import load as _load

globals().update(_load())

if __name__ == "__main__":
    # Set by globals().update() above: what the overlay changed and why.
    _summary: dict[str, Any] = globals()["DEPLOYKIT_CONTAINER_SETTINGS"]
    print(f"Container settings on top of {_summary['base']}:")
    for _name, _reason in _summary["overrides"]:
        print(f"  {_name:<24} {_reason}")
    for _warning in _summary["warnings"]:
        print(f"  warning: {_warning}")
