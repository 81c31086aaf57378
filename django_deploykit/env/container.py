"""Is this process running in a container?

Defaults differ between a container (compose service names) and a venv on the
developer's machine (localhost); ``DEPLOYKIT_IN_CONTAINER`` overrides detection.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["in_container"]

_MARKER_FILES = ("/.dockerenv", "/run/.containerenv")
_CGROUP_WORDS = ("docker", "kubepods", "containerd", "libpod", "lxc")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def in_container(environ: Mapping[str, str] | None = None, root: str = "/") -> bool:
    environ = os.environ if environ is None else environ
    override = environ.get("DEPLOYKIT_IN_CONTAINER", "").strip().lower()
    if override in _TRUE:
        return True
    if override in _FALSE:
        return False
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
