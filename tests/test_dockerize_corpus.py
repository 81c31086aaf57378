"""Detection on the corpus: real-world-shaped projects under tests/corpus/ (no Docker).

Each project is copied, then ``manage.py dockerize`` runs in it the way a user runs
it: its own settings, deploykit from the built wheel (a clean venv, not this
checkout), only ``django_deploykit`` added to INSTALLED_APPS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.dockerize_helpers import compose_config, has_compose, tool

CORPUS = Path(__file__).resolve().parent / "corpus"


def add_deploykit(project: Path) -> None:
    """The one edit a user makes: django_deploykit into INSTALLED_APPS."""
    for path in project.rglob("*.py"):
        text = path.read_text()
        if "INSTALLED_APPS = [" in text and "django_deploykit" not in text:
            path.write_text(
                text.replace("INSTALLED_APPS = [", "INSTALLED_APPS = [\n    'django_deploykit',", 1)
            )


def copy_corpus(name: str, target: Path) -> Path:
    destination = target / name
    shutil.copytree(CORPUS / name, destination)
    add_deploykit(destination)  # the one edit a user makes (tests/corpus/README.md)
    return destination


def dockerize(python: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTHON"))}
    env["PATH"] = f"{python.parent}:/usr/bin:/bin"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the projects' trees stay as they were
    return subprocess.run(
        [str(python), "manage.py", "dockerize", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def row(out: str, name: str) -> str:
    """The table row ``name`` without its label."""
    line = next(line for line in out.splitlines() if line.startswith(f"  {name} "))
    return line.strip()[len(name) :].strip()


def lint(project: Path, dockerfile: Path) -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(dockerfile)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run(
        [tool("shellcheck"), str(project / "docker-entrypoint.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if has_compose():
        (project / ".env").touch()
        checked = compose_config(project, "compose.yaml")
        assert checked.returncode == 0, checked.stderr


@pytest.fixture
def python(wheel_venv) -> Path:
    return wheel_venv[0]


def test_nested_layout_builds_from_the_repository_root(python: Path, tmp_path: Path) -> None:
    repo = copy_corpus("nested", tmp_path)
    (repo / ".git").mkdir()  # the repository root: the search stops here
    project = repo / "src"
    result = dockerize(python, project)
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert row(out, "dependencies").startswith("requirements: requirements.txt")
    assert "build context ..: the project is src/ in it" in out
    assert row(out, "python").startswith("3.12  [.python-version]")
    dockerfile = (project / "Dockerfile").read_text()
    assert "source=requirements.txt,target=requirements.txt" in dockerfile
    assert "COPY src ." in dockerfile  # /app holds the project, as in a flat layout
    compose = (project / "compose.yaml").read_text()
    assert "context: ..\n" in compose and "dockerfile: src/Dockerfile" in compose
    # BuildKit reads the ignore file named after the Dockerfile; patterns hit src/ too.
    ignore = (project / "Dockerfile.dockerignore").read_text()
    assert "\n**/.env\n" in ignore and "\nsrc/compose*.yaml\n" in ignore
    assert (repo / ".deploykit").is_dir() and list((repo / ".deploykit").glob("*.whl"))
    lint(project, project / "Dockerfile")


def test_settings_package_bakes_the_production_module(python: Path, tmp_path: Path) -> None:
    project = copy_corpus("settings_package", tmp_path)
    result = dockerize(python, project, "--dry-run")
    assert result.returncode == 0, result.stderr + result.stdout
    settings = row(result.stdout, "settings")
    assert settings.startswith("config.settings.production")
    assert "production module of the settings package; this run uses config.settings.dev" in (
        settings
    )
    # requirements/production.txt is chosen (and its -r include followed).
    assert row(result.stdout, "dependencies") == (
        "requirements: requirements/production.txt, requirements/base.txt  [detected]"
    )
    # production.py reads DJANGO_SECRET_KEY, absent here: the caveat names it.
    assert "could not be imported here (KeyError" in result.stdout
    result = dockerize(python, project)
    assert result.returncode == 0, result.stderr
    dockerfile = (project / "Dockerfile").read_text()
    assert "DJANGO_SETTINGS_MODULE=django_deploykit.container_settings" in dockerfile
    assert "DEPLOYKIT_BASE_SETTINGS=config.settings.production" in dockerfile
    assert "config.settings.dev" not in dockerfile
    # Django's --settings overrides the choice, and is saved for the next run.
    result = dockerize(python, project, "--settings", "config.settings.dev", "--force")
    assert result.returncode == 0, result.stderr
    assert row(result.stdout, "settings") == "config.settings.dev  [option]"
    result = dockerize(python, project, "--dry-run")
    assert row(result.stdout, "settings") == "config.settings.dev  [saved]"


def test_poetry_without_a_lock(python: Path, tmp_path: Path) -> None:
    project = copy_corpus("poetry_nolock", tmp_path)
    result = dockerize(python, project)
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert row(out, "dependencies").startswith(
        "poetry (no lock: the build resolves versions): pyproject.toml"
    )
    # poetry's ^3.11 holds this interpreter or the newest supported version in it.
    assert "[pyproject.toml (poetry) ^3.11]" in row(out, "python")
    dockerfile = (project / "Dockerfile").read_text()
    assert "poetry lock -C /tmp/export" in dockerfile and "poetry export" in dockerfile
    assert "source=poetry.lock" not in dockerfile
    lint(project, project / "Dockerfile")


def test_pipfile(python: Path, tmp_path: Path) -> None:
    project = copy_corpus("pipfile", tmp_path)
    result = dockerize(python, project)
    assert result.returncode == 0, result.stderr + result.stdout
    assert row(result.stdout, "dependencies").startswith("pipenv (no lock")
    assert row(result.stdout, "python") == "3.11  [Pipfile]"
    dockerfile = (project / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in dockerfile
    assert "pipenv lock" in dockerfile and "pipenv requirements" in dockerfile
    lint(project, project / "Dockerfile")


def test_uv_lock_installs_the_carried_wheel_after_the_sync(python: Path, tmp_path: Path) -> None:
    project = copy_corpus("uv_lock", tmp_path)
    result = dockerize(python, project)
    assert result.returncode == 0, result.stderr + result.stdout
    assert row(result.stdout, "dependencies") == "uv (locked): pyproject.toml, uv.lock  [detected]"
    assert "wheel of file://" in row(result.stdout, "deploykit")
    dockerfile = (project / "Dockerfile").read_text()
    assert "sync --locked --no-install-project --no-dev" in dockerfile
    assert "./.deploykit/*.whl" in dockerfile
    assert "source=.deploykit,target=.deploykit" in dockerfile
    lint(project, project / "Dockerfile")


def test_a_source_only_dependency_gets_compilers_in_the_build_stage(
    python: Path, tmp_path: Path
) -> None:
    project = copy_corpus("source_only", tmp_path)
    result = dockerize(python, project)
    assert result.returncode == 0, result.stderr + result.stdout
    dockerfile = (project / "Dockerfile").read_text()
    build, runtime = dockerfile.split("AS runtime", 1)
    # A C compiler and the C library headers, not build-essential (C++, make, Perl).
    assert 'packages="gcc libc6-dev $EXTRA_BUILD_PACKAGES"' in build
    assert "gcc" not in runtime
    # A package the project knows it needs, without editing the Dockerfile: saved.
    result = dockerize(
        python, project, "--build-package", "libpcre2-dev", "--runtime-package", "libpcre2-8-0"
    )
    assert result.returncode == 0, result.stderr
    build, runtime = (project / "Dockerfile").read_text().split("AS runtime", 1)
    assert 'packages="gcc libc6-dev libpcre2-dev $EXTRA_BUILD_PACKAGES"' in build
    assert 'packages="libpcre2-8-0 $EXTRA_RUNTIME_PACKAGES"' in runtime
    assert '"build_packages": [\n      "libpcre2-dev"' in (project / ".deploykit.json").read_text()
    lint(project, project / "Dockerfile")
    result = dockerize(python, project, "--build-package", "bad name;rm")
    assert result.returncode == 2 and "not a Debian package name" in result.stderr


def test_existing_docker_files_are_refused_then_converted_whole(
    python: Path, tmp_path: Path
) -> None:
    project = copy_corpus("existing_docker", tmp_path)
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    result = dockerize(python, project)
    assert result.returncode == 2
    for name in ("Dockerfile", ".dockerignore", "docker-compose.yml"):
        assert name in result.stderr
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before
    assert not (project / ".deploykit").exists()
    result = dockerize(python, project, "--force")
    assert result.returncode == 0, result.stderr
    assert (project / "Dockerfile.orig").read_bytes() == before[project / "Dockerfile"]
    assert (project / "docker-compose.yml.orig").exists()
    assert not (project / "docker-compose.yml").exists()
    assert result.stdout.rstrip().splitlines()[-1].startswith("Next: cd ")
    lint(project, project / "Dockerfile")
