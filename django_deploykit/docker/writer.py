"""Write rendered files safely: never overwrite what the user edited.

The state file (``.deploykit.json`` next to the generated files) remembers the
SHA-256 of what deploykit last wrote for each file, and the non-default choices
of the last run. Comparing disk, that record and the new rendering tells:

========== ============================================ =========== ============
status     meaning                                      written?    --check
========== ============================================ =========== ============
create     the file does not exist                      yes         stale
unchanged  disk already equals the new rendering        no          ok
update     deploykit wrote it, the user did not touch   yes         stale
           it, the rendering changed
kept       the user edited it; deploykit has nothing    no          ok
           new for it
conflict   the user edited it and the rendering         --force     stale
           changed
foreign    deploykit never wrote it (the project's own  --force     stale
           Dockerfile, compose file…) and it differs
========== ============================================ =========== ============

``--force`` replaces kept, conflict and foreign files, saving the user's version
as ``NAME.orig`` first. Docker files under other names that would compete with the
generated ones (``docker-compose.yml`` beside ``compose.yaml``) are reported by
:func:`competing`; ``--force`` moves them to ``NAME.orig``.

Writes are atomic (temporary file in the same directory, then ``os.replace``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django_deploykit.docker.render import RenderedFile
from django_deploykit.exceptions import ConfigError

__all__ = [
    "COMPETING",
    "STATE_FILE",
    "Change",
    "apply",
    "compare",
    "competing",
    "load_state",
    "save_state",
]

STATE_FILE = ".deploykit.json"
STALE = {"create", "update", "conflict", "foreign"}
#: Statuses whose file is the user's: replaced only with --force.
USERS = {"kept", "conflict", "foreign"}
#: Docker files of other names that compete with the generated ones.
COMPETING = (
    "docker-compose.yml",
    "docker-compose.yaml",
    "compose.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
    "compose.override.yml",
    "compose.override.yaml",
    "entrypoint.sh",
)
BACKUP_SUFFIX = ".orig"


@dataclass(frozen=True)
class Change:
    file: RenderedFile
    status: str
    #: What is on disk now (None when missing; never read for secret files).
    current: str | None

    @property
    def path(self) -> str:
        return self.file.path

    @property
    def stale(self) -> bool:
        return self.status in STALE and not self.file.secret

    def diff(self) -> str:
        if self.file.secret:
            return ""  # .env holds secrets: never shown
        lines = difflib.unified_diff(
            (self.current or "").splitlines(keepends=True),
            self.file.content.splitlines(keepends=True),
            fromfile=f"{self.path} (on disk)",
            tofile=f"{self.path} (generated)",
        )
        return "".join(lines)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def load_state(directory: Path) -> dict[str, Any]:
    path = directory / STATE_FILE
    if not path.exists():
        return {"choices": {}, "files": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path} is not valid JSON ({exc}). Fix it, or delete it to start afresh "
            "(deploykit then treats every existing file as yours)."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object; delete it to start afresh.")
    return {"choices": dict(data.get("choices") or {}), "files": dict(data.get("files") or {})}


def compare(directory: Path, files: list[RenderedFile], state: dict[str, Any]) -> list[Change]:
    recorded: dict[str, str] = state.get("files", {})
    changes = []
    for file in files:
        target = directory / file.path
        if not target.exists():
            changes.append(Change(file, "create", None))
            continue
        if file.secret:
            changes.append(Change(file, "kept", None))
            continue
        current = target.read_text(errors="replace")
        last = recorded.get(file.path)
        if current == file.content:
            status = "unchanged"
        elif last is not None and sha256(current) == last:
            status = "update"
        elif last is None:
            status = "foreign"
        elif sha256(file.content) == last:
            status = "kept"
        else:
            status = "conflict"
        changes.append(Change(file, status, current))
    return changes


def competing(directory: Path, state: dict[str, Any]) -> list[str]:
    """Docker files of other names that deploykit did not write (``docker-compose.yml``…)."""
    recorded = state.get("files", {})
    return [n for n in COMPETING if (directory / n).is_file() and n not in recorded]


def backup(directory: Path, name: str) -> str:
    """Move ``name`` aside to a free ``name.orig`` (``.orig.1``…); return the new name."""
    target = f"{name}{BACKUP_SUFFIX}"
    number = 0
    while (directory / target).exists():
        number += 1
        target = f"{name}{BACKUP_SUFFIX}.{number}"
    os.replace(directory / name, directory / target)
    return target


def apply(
    directory: Path,
    changes: list[Change],
    state: dict[str, Any],
    choices: dict[str, Any],
    *,
    force: bool = False,
) -> list[Change]:
    """Write what may be written; return the changes that were written.

    With ``force`` the user's files (kept, conflict, foreign) are replaced, each first
    saved as ``NAME.orig``. Secret files (.env) are never replaced.
    """
    written = []
    files: dict[str, str] = dict(state.get("files", {}))
    for change in changes:
        forced = force and change.status in USERS and not change.file.secret
        writable = change.status in ("create", "update") or forced
        if forced:
            backup(directory, change.path)
        if writable:
            target = directory / change.path
            if change.file.secret and target.parent != directory:
                # A folder of secret files (secrets/): only its owner may enter it.
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                target.parent.chmod(0o700)
            _atomic_write(target, change.file.content, change.file.mode)
            written.append(change)
        if change.file.secret:
            continue
        if writable or change.status == "unchanged":
            files[change.path] = sha256(change.file.content)
    save_state(directory, {"choices": choices, "files": files})
    return written


def save_state(directory: Path, state: dict[str, Any]) -> None:
    body = {
        "//": "Written by django-deploykit's dockerize: the choices of the last run "
        "(non-defaults only) and hashes of the files it wrote. Commit it.",
        "choices": dict(sorted(state["choices"].items())),
        "files": dict(sorted(state["files"].items())),
    }
    _atomic_write(directory / STATE_FILE, json.dumps(body, indent=2) + "\n", 0o644)


def _atomic_write(path: Path, content: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="\n") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: What git must never track in a dockerized project: the secrets dockerize writes and
#: key material by pattern (the same families .dockerignore keeps out of the image).
GITIGNORED = (
    ".env",
    ".env.*",
    "!.env.example",
    "app.env",
    "secrets/",
    "certs/",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
)


def ensure_gitignored(directory: Path) -> bool:
    """Add the secret patterns .gitignore lacks; return True when it was changed."""
    gitignore = directory / ".gitignore"
    existing = gitignore.read_text() if gitignore.exists() else ""
    present = {line.strip().lstrip("/") for line in existing.splitlines()}
    missing = [p for p in GITIGNORED if p not in present]
    if not missing:
        return False
    prefix = "" if not existing or existing.endswith("\n") else "\n"
    block = "# Secrets and key material (django-deploykit)\n" + "".join(f"{p}\n" for p in missing)
    _atomic_write(gitignore, existing + prefix + block, 0o644)
    return True
