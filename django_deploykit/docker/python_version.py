"""The image's Python version, from what the project's own files state.

An exact pin (``.python-version``, ``runtime.txt``, Pipfile's ``python_version``)
gives its minor version. A range (``requires-python``, poetry's ``python``) keeps
the running interpreter when it fits (the project demonstrably runs on it), else
the newest supported version inside the range. No statement at all: the running
interpreter, and the table says so.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from django_deploykit.exceptions import ConfigError

__all__ = ["SUPPORTED", "PythonVersion", "choose_python"]

#: Python versions the image may use (python:<version>-slim), oldest first.
SUPPORTED = ("3.10", "3.11", "3.12", "3.13", "3.14")


@dataclass(frozen=True)
class PythonVersion:
    version: str
    #: Why: ".python-version", "requires-python >=3.11", "this interpreter"…
    source: str


def choose_python(constraint: str | None, source: str | None) -> PythonVersion:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if not constraint:
        return PythonVersion(running, "this interpreter (no version in the project's files)")
    specifiers = _specifiers(constraint, source or "")
    if constraint.startswith("=="):
        version = _minor(constraint[2:].strip(), source or "")
        if version not in SUPPORTED:
            raise ConfigError(
                f"{source} asks for Python {version}; the image supports "
                f"{', '.join(SUPPORTED)}: choose one with --python."
            )
        return PythonVersion(version, source or "")
    fits = [v for v in SUPPORTED if _allows(specifiers, v)]
    if not fits:
        raise ConfigError(
            f"{source} allows Python {constraint}, none of {', '.join(SUPPORTED)}: "
            "choose one with --python."
        )
    chosen = running if running in fits else fits[-1]
    return PythonVersion(chosen, f"{source} {constraint}")


def _minor(text: str, source: str) -> str:
    try:
        release = Version(text.rstrip(".*")).release
    except InvalidVersion:
        raise ConfigError(
            f"{source} names Python {text!r}, which is not a version: write e.g. 3.12."
        ) from None
    return f"{release[0]}.{release[1] if len(release) > 1 else 0}"


def _allows(specifiers: SpecifierSet, minor: str) -> bool:
    return any(specifiers.contains(f"{minor}.{patch}", prereleases=True) for patch in (0, 99))


def _specifiers(constraint: str, source: str) -> SpecifierSet:
    """PEP 440 specifiers; poetry's ``^3.11``/``~3.11`` are turned into them first."""
    text = constraint.split("||")[0].strip()
    parts = []
    try:
        for part in text.replace(",", " ").split():
            if part == "*":
                continue
            if part[0] in "^~" and part[1:2] != "=":
                release = (*Version(part[1:]).release, 0)
                upper = f"{release[0] + 1}" if part[0] == "^" else f"{release[0]}.{release[1] + 1}"
                parts += [f">={part[1:]}", f"<{upper}"]
            else:
                parts.append(part if part[0] in "<>=!~" else f"=={part}")
        return SpecifierSet(",".join(parts))
    except (InvalidSpecifier, InvalidVersion, IndexError):
        raise ConfigError(
            f"{source}: cannot read the Python constraint {constraint!r}; give --python."
        ) from None
