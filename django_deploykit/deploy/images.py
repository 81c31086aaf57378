"""Image tags: every build is ``<repo>:<git revision>``; two moving tags say what runs.

* ``<repo>:<rev>``: one per build, from ``git rev-parse`` (``-dirty-<time>`` when the
  checkout has uncommitted changes; ``nogit-<time>`` outside git).
* the compose file's image name (``<repo>:latest`` unless APP_IMAGE says otherwise):
  what the app containers run. A plain ``docker compose up -d`` therefore keeps the
  deployed version.
* ``<repo>:previous``: what ran before the last deploy; ``deploy rollback`` returns to it.

The tags live on the engine, so every operator (and CI) sees the same history.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

from django_deploykit.deploy.target import Target, engine_name
from django_deploykit.exceptions import ConfigError

# docker.errors is imported where it is caught: the SDK is the deploy extra, and
# Target.client has imported it (engine.client) before any SDK call.
__all__ = [
    "current_image",
    "image_or_none",
    "previous_image",
    "previous_tag",
    "revision",
    "revision_of",
    "tag_image",
]

PREVIOUS = "previous"
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def revision(directory: Path, explicit: str | None = None) -> tuple[str, str | None]:
    """(tag, warning) for a build of the checkout in ``directory``."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    if explicit:
        if not _TAG.match(explicit) or explicit in ("latest", PREVIOUS):
            raise ConfigError(
                f"--tag {explicit!r} is not usable: give letters, digits, '.', '_' or '-' "
                "(at most 128), other than 'latest' and 'previous'."
            )
        return explicit, None

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        rev = git("rev-parse", "--short=12", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return f"nogit-{stamp}", (
            f"{directory} is not a git checkout: the image is tagged "
            f"nogit-{stamp}. Deploy from a git checkout to tag images "
            "with the revision."
        )
    if dirty:
        return f"{rev}-dirty-{stamp}", (
            "The checkout has uncommitted changes: the image is "
            f"tagged {rev}-dirty-{stamp}. Commit them so a "
            "revision names exactly what runs."
        )
    return rev, None


def image_or_none(target: Target, name: str) -> Any | None:
    from docker.errors import ImageNotFound

    try:
        return target.client.images.get(name)
    except ImageNotFound:
        return None


def revision_of(target: Target, image: Any) -> str:
    """The revision tag of ``image`` (or its short id when it has none)."""
    repo = target.stack.image_repo
    moving = target.stack.app_image.rpartition(":")[2]
    tags = [t.rpartition(":")[2] for t in image.tags if t.rpartition(":")[0] == repo]
    revs = [t for t in tags if t not in (moving, PREVIOUS)]
    return sorted(revs)[-1] if revs else (tags[0] if tags else image.short_id)


def current_image(target: Target) -> Any | None:
    """The image the running web containers use (None before the first deploy)."""
    web = target.running("web")
    return web.image if web is not None else image_or_none(target, target.stack.app_image)


def previous_tag(target: Target) -> str:
    return f"{target.stack.image_repo}:{PREVIOUS}"


def previous_image(target: Target, stack: str, redeploy: str) -> Any:
    """The image that ran before the last deploy of ``stack``, or ConfigError: nothing to
    roll back to (``redeploy`` is the command that deploys a good revision instead)."""
    previous = image_or_none(target, previous_tag(target))
    if previous is None:
        raise ConfigError(
            f"No previous deploy of {stack} is recorded on {engine_name()} (no image "
            f"{previous_tag(target)}): there is nothing to roll back to. Deploy a known good "
            f"revision with `{redeploy}` instead."
        )
    return previous


def tag_image(image: Any, name: str) -> None:
    repo, _, tag = name.rpartition(":")
    image.tag(repo, tag)
