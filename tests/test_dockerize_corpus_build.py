"""Docker tier: the dependency-format corpus projects really build.

poetry without a lock, a Pipfile without a lock, uv.lock and a source-only
dependency (uwsgi): each is dockerized with deploykit from the built wheel (carried
into the build context), built with BuildKit, and its image imports deploykit (the
same version) and the project's own dependencies. The images are removed after.
Bounded: the four builds run at once (they mostly download); the uwsgi compile is
the longest part.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests import tiers
from tests.test_dockerize_corpus import copy_corpus, dockerize

pytestmark = pytest.mark.docker

BASE_IMAGE = os.environ.get("DEPLOYKIT_TEST_BASE_IMAGE", "deploykit-ci/python:3.11-slim")

#: project → (Python imports proving its dependencies, a command the runtime must run).
PROJECTS = {
    "poetry_nolock": ("import django, slugify", None),
    "pipfile": ("import django, slugify", None),
    "uv_lock": ("import django, slugify", None),
    "source_only": ("import django", ["uwsgi", "--version"]),
}


def docker(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tiers.DOCKER or "docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
    )


def test_corpus_images_build_and_import(wheel_venv, tmp_path: Path) -> None:
    """The four builds run at once (mostly downloads), then each image is checked."""
    python, wheel = wheel_venv
    version = wheel.name.split("-")[1]
    run_id = uuid.uuid4().hex[:8]
    tags = {name: f"deploykit-corpus-detect-{name.replace('_', '-')}:{run_id}" for name in PROJECTS}
    builds: dict[str, subprocess.Popen[str]] = {}
    try:
        for name in PROJECTS:
            project = copy_corpus(name, tmp_path)
            result = dockerize(python, project)
            assert result.returncode == 0, result.stderr + result.stdout
            builds[name] = subprocess.Popen(
                [tiers.DOCKER or "docker", "build", "--progress", "plain"]
                + ["--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "--tag", tags[name], str(project)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, "DOCKER_BUILDKIT": "1"},
            )
        logs = {name: build.communicate(timeout=900)[0] for name, build in builds.items()}
        for name, build in builds.items():
            assert build.returncode == 0, f"{name}: {logs[name][-5000:]}"
        for name, (imports, command) in PROJECTS.items():
            check = (
                f"{imports}; import django_deploykit, importlib.metadata as m; "
                f"v = m.version('dj-deploykit'); assert v == '{version}', v; print('ok', v)"
            )
            ran = docker("run", "--rm", "--entrypoint", "python", tags[name], "-c", check)
            assert ran.returncode == 0 and ran.stdout.startswith("ok"), f"{name}: {ran.stderr}"
            if command:
                ran = docker("run", "--rm", "--entrypoint", command[0], tags[name], *command[1:])
                assert ran.returncode == 0, f"{name}: {ran.stderr}"
                # The compilers stayed in the build stage.
                gcc = docker(
                    "run", "--rm", "--entrypoint", "sh", tags[name], "-c", "command -v gcc"
                )
                assert gcc.returncode != 0 and not gcc.stdout.strip(), name
    finally:
        for build in builds.values():
            if build.poll() is None:
                build.kill()
                build.wait()
        docker("image", "rm", "--force", *tags.values(), timeout=120)
