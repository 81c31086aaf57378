"""How a project declares its Python dependencies, read with the formats' own parsers.

Requirements files go through :mod:`packaging` line by line (pip's options handled
by name), TOML files through :mod:`tomllib` (tomli on Python 3.10), Pipfile.lock as
JSON. The dependency files may sit above ``manage.py`` (a repository whose Django
project lives one folder down): the nearest directory holding one, up to the
repository root, is the build context.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from django_deploykit.exceptions import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Dependencies", "detect_dependencies", "find_root", "read_toml"]

#: Requirements files, best first when several exist.
REQUIREMENTS_FILES = (
    "requirements.txt",
    "requirements/production.txt",
    "requirements/prod.txt",
    "requirements/base.txt",
)
#: How far above manage.py a dependency file is looked for (never past a .git folder).
MAX_LEVELS_UP = 3
_INCLUDES = {"-r": "requirement", "--requirement": "requirement"}
_CONSTRAINTS = {"-c", "--constraint"}
_FIND_LINKS = {"-f", "--find-links"}


@dataclass(frozen=True)
class Dependencies:
    """How the project declares its Python dependencies."""

    #: requirements, pyproject, poetry, pipenv, uv, pdm, or none.
    kind: str = "none"
    #: Files the dependency install needs, relative to the build context (bind-mounted).
    files: tuple[str, ...] = ()
    #: Local directories named by ``--find-links`` (e.g. ``wheels``).
    dirs: tuple[str, ...] = ()
    #: Canonical distribution names the project depends on (lock files: every package).
    names: frozenset[str] = frozenset()
    #: ``name[extra]`` for each extra asked for, e.g. ``psycopg[c]``.
    extras: frozenset[str] = frozenset()
    #: Distributions found as wheels in ``dirs``: uv must not reuse a cached build of them.
    local: tuple[str, ...] = ()
    #: The build context relative to the project (manage.py's folder): "." or "..".
    context: str = "."
    #: A lock file pins the versions (else the build resolves them).
    locked: bool = False
    #: Requirements carry --hash: pip/uv then refuse anything unhashed on the same line.
    hashed: bool = False
    #: The Python constraint the files state (requires-python, poetry's python…).
    python: str | None = None
    #: Where ``python`` was read.
    python_source: str | None = None

    def has(self, *names: str) -> bool:
        return any(canonicalize_name(n) in self.names for n in names)

    def has_extra(self, name: str, extra: str) -> bool:
        return f"{canonicalize_name(name)}[{extra}]" in self.extras

    @property
    def described(self) -> str:
        shown = [*self.files, *self.dirs]
        state = (
            ""
            if self.kind in ("requirements", "none")
            else (" (locked)" if self.locked else " (no lock: the build resolves versions)")
        )
        return f"{self.kind}{state}: {', '.join(shown) or '-'}"


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}): fix it, then re-run.") from None


def find_root(base: Path) -> Path | None:
    """The nearest directory from ``base`` upwards that holds a dependency file."""
    here = base.resolve()
    for _ in range(MAX_LEVELS_UP + 1):
        if _kind_of(here) != "none":
            return here
        if (here / ".git").exists() or here.parent == here:
            return None
        here = here.parent
    return None


def detect_dependencies(base: Path) -> Dependencies:
    root = find_root(base)
    if root is None:
        return Dependencies()
    context = os.path.relpath(root, base.resolve())
    kind = _kind_of(root)
    found = _READERS[kind](root)
    return Dependencies(**{**found, "kind": kind, "context": context})


def _kind_of(root: Path) -> str:
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        for lock, kind in (("uv.lock", "uv"), ("poetry.lock", "poetry"), ("pdm.lock", "pdm")):
            if (root / lock).is_file():
                return kind
    if (root / "Pipfile").is_file() or (root / "Pipfile.lock").is_file():
        return "pipenv"
    if any((root / name).is_file() for name in REQUIREMENTS_FILES):
        return "requirements"
    if pyproject.is_file():
        data = read_toml(pyproject)
        if "dependencies" in data.get("project", {}):
            return "pyproject"
        if "dependencies" in data.get("tool", {}).get("poetry", {}):
            return "poetry"
    return "none"


# -- requirements files -------------------------------------------------------------


def _read_requirements_kind(root: Path) -> dict[str, Any]:
    first = next(name for name in REQUIREMENTS_FILES if (root / name).is_file())
    acc: dict[str, Any] = {"files": [], "dirs": [], "requirements": [], "local": []}
    acc["hashed"] = False
    _read_requirements(root, first, acc, declares=True)
    return {
        "files": tuple(acc["files"]),
        "dirs": tuple(acc["dirs"]),
        "local": tuple(acc["local"]),
        "hashed": acc["hashed"],
        **_names(acc["requirements"]),
        **_python_files(root),
    }


def _logical_lines(text: str) -> list[str]:
    """pip's line rules: a trailing backslash continues; `#` after a space comments."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            raw = ""
        elif " #" in raw or "\t#" in raw:
            raw = raw.split(" #", 1)[0].split("\t#", 1)[0]
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if line:
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines


def _read_requirements(root: Path, rel: str, acc: dict[str, Any], *, declares: bool) -> None:
    rel = os.path.normpath(rel)
    if rel in acc["files"]:
        return
    if not (root / rel).is_file():
        raise ConfigError(
            f"{root / rel} is named by an -r/-c line but does not exist: fix the include."
        )
    acc["files"].append(rel)
    for line in _logical_lines((root / rel).read_text(errors="replace")):
        tokens = line.split()
        option, _, inline = tokens[0].partition("=")
        value = inline or (tokens[1] if len(tokens) > 1 else "")
        if option in _INCLUDES or option in _CONSTRAINTS:
            # Includes are relative to the including file; constraints declare nothing.
            included = (Path(rel).parent / value).as_posix()
            _read_requirements(root, included, acc, declares=option in _INCLUDES and declares)
        elif option in _FIND_LINKS:
            _find_links(root, Path(rel).parent / value, acc)
        elif option in ("-e", "--editable") or option.startswith("-"):
            continue  # index options; editable installs of local code have no name to match
        else:
            words = [t for t in tokens if not t.startswith("--hash")]
            acc["hashed"] = acc["hashed"] or len(words) < len(tokens)
            if declares:
                acc["requirements"].append(" ".join(words))


def _find_links(root: Path, target: Path, acc: dict[str, Any]) -> None:
    if "://" in target.as_posix() or not (root / target).is_dir():
        return
    folder = os.path.normpath(target)
    if folder not in acc["dirs"]:
        acc["dirs"].append(folder)
    for wheel in sorted((root / target).glob("*.whl")):
        name = str(parse_wheel_filename(wheel.name)[0])
        if name not in acc["local"]:
            acc["local"].append(name)


def _names(requirements: list[str]) -> dict[str, frozenset[str]]:
    names, extras = set(), set()
    for text in requirements:
        try:
            requirement: Requirement | None = Requirement(text)
        except InvalidRequirement:
            requirement = _wheel_requirement(text)
        if requirement is None:
            continue  # a path or URL without a name: nothing to match against
        name = canonicalize_name(requirement.name)
        names.add(name)
        extras |= {f"{name}[{extra}]" for extra in requirement.extras}
    return {"names": frozenset(names), "extras": frozenset(extras)}


def _wheel_requirement(text: str) -> Requirement | None:
    if not text.endswith(".whl"):
        return None
    try:
        return Requirement(str(parse_wheel_filename(Path(text).name)[0]))
    except ValueError:
        return None


# -- pyproject, poetry, pipenv, lock files ------------------------------------------


def _read_pyproject(root: Path) -> dict[str, Any]:
    project = read_toml(root / "pyproject.toml").get("project", {})
    return {
        "files": ("pyproject.toml",),
        **_names(list(project.get("dependencies", []))),
        **_python_files(root),
    }


def _read_poetry(root: Path) -> dict[str, Any]:
    data = read_toml(root / "pyproject.toml")
    poetry = data.get("tool", {}).get("poetry", {})
    requirements = list(data.get("project", {}).get("dependencies", []))
    python = data.get("project", {}).get("requires-python")
    for name, spec in poetry.get("dependencies", {}).items():
        if name.lower() == "python":
            python = python or str(spec)
            continue
        extras = spec.get("extras", []) if isinstance(spec, dict) else []
        requirements.append(f"{name}[{','.join(extras)}]" if extras else name)
    locked = (root / "poetry.lock").is_file()
    found: dict[str, Any] = {
        "files": ("pyproject.toml", "poetry.lock") if locked else ("pyproject.toml",),
        "locked": locked,
        **_names(requirements),
    }
    if locked:
        found["names"] = found["names"] | _lock_names(root / "poetry.lock")
    return {**found, **_python_files(root, poetry_python=python)}


def _read_pipenv(root: Path) -> dict[str, Any]:
    requirements: list[str] = []
    python = None
    if (root / "Pipfile").is_file():
        pipfile = read_toml(root / "Pipfile")
        for name, spec in pipfile.get("packages", {}).items():
            extras = spec.get("extras", []) if isinstance(spec, dict) else []
            requirements.append(f"{name}[{','.join(extras)}]" if extras else name)
        requires = pipfile.get("requires", {})
        python = requires.get("python_full_version") or requires.get("python_version")
    files = [f for f in ("Pipfile", "Pipfile.lock") if (root / f).is_file()]
    found: dict[str, Any] = {"files": tuple(files), **_names(requirements)}
    if (root / "Pipfile.lock").is_file():
        try:
            lock = json.loads((root / "Pipfile.lock").read_text())
        except ValueError as exc:
            raise ConfigError(f"{root / 'Pipfile.lock'} is not valid JSON ({exc}).") from None
        found["locked"] = True
        found["names"] = found["names"] | {canonicalize_name(n) for n in lock.get("default", {})}
        meta = lock.get("_meta", {}).get("requires", {})
        python = python or meta.get("python_full_version") or meta.get("python_version")
    pinned = {"python": f"=={python}", "python_source": "Pipfile"} if python else {}
    return {**found, **(_python_files(root) or pinned)}


def _read_locked_pyproject(lock: str) -> Any:
    def read(root: Path) -> dict[str, Any]:
        data = read_toml(root / "pyproject.toml")
        names = _names(list(data.get("project", {}).get("dependencies", [])))
        return {
            "files": ("pyproject.toml", lock),
            "locked": True,
            "names": names["names"] | _lock_names(root / lock),
            "extras": names["extras"],
            **_python_files(root),
        }

    return read


def _lock_names(path: Path) -> frozenset[str]:
    packages = read_toml(path).get("package", [])
    return frozenset(canonicalize_name(p["name"]) for p in packages if "name" in p)


def _python_files(root: Path, poetry_python: str | None = None) -> dict[str, Any]:
    """The project's stated Python: an exact pin file first, then a range."""
    pinned = root / ".python-version"
    if pinned.is_file():
        first = next(iter(pinned.read_text().split()), "")
        if first:
            return {"python": f"=={first}", "python_source": ".python-version"}
    runtime = root / "runtime.txt"
    if runtime.is_file():
        text = runtime.read_text().strip()
        if text.startswith("python-"):
            return {"python": f"=={text[len('python-') :]}", "python_source": "runtime.txt"}
    if poetry_python:
        return {"python": poetry_python, "python_source": "pyproject.toml (poetry)"}
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        requires = read_toml(pyproject).get("project", {}).get("requires-python")
        if requires:
            return {"python": str(requires), "python_source": "requires-python"}
    return {}


_READERS = {
    "requirements": _read_requirements_kind,
    "pyproject": _read_pyproject,
    "poetry": _read_poetry,
    "pipenv": _read_pipenv,
    "uv": _read_locked_pyproject("uv.lock"),
    "pdm": _read_locked_pyproject("pdm.lock"),
    "none": lambda root: {},
}
