"""Is this process running in a container?

Defaults differ between a container (compose service names) and a venv on the
developer's machine (localhost); ``DEPLOYKIT_IN_CONTAINER`` overrides detection.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from django_deploykit.env.booleans import parse_bool

__all__ = ["in_container"]

_MARKER_FILES = ("/.dockerenv", "/run/.containerenv")
_CGROUP_WORDS = ("docker", "kubepods", "containerd", "libpod", "lxc")


def in_container(environ: Mapping[str, str] | None = None, root: str = "/") -> bool:
    environ = os.environ if environ is None else environ
    override = environ.get("DEPLOYKIT_IN_CONTAINER", "")
    # Unset or empty: detect. The same words as every other true/false variable.
    flag = parse_bool(override) if override.strip() else None
    if flag is not None:
        return flag
    if environ.get("KUBERNETES_SERVICE_HOST"):
        return True
    base = Path(root)
    if any((base / marker.lstrip("/")).exists() for marker in _MARKER_FILES):
        return True
    try:
        cgroup = (base / "proc/1/cgroup").read_text(errors="replace")
    except OSError:
        return False
    return any(word in cgroup for word in _CGROUP_WORDS)
