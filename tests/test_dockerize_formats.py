"""Detection details without a corpus project: file formats, versions, settings pins."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from django_deploykit.docker.dependencies import detect_dependencies
from django_deploykit.docker.detect import detect
from django_deploykit.docker.plan import NEUTRAL_WSGI, Choices, make_plan
from django_deploykit.docker.python_version import choose_python
from django_deploykit.docker.render import render_all
from django_deploykit.docker.source import WHEEL_DIR, DeploykitSource, carry_wheel
from django_deploykit.exceptions import ConfigError
from tests.dockerize_helpers import project_settings

pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting")

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
CARRIED = DeploykitSource("path", "1.0", "file:///src/deploykit")


@pytest.fixture
def project(tmp_path: Path, settings) -> Path:
    for name, value in project_settings(tmp_path).items():
        setattr(settings, name, value)
    settings.DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    return tmp_path


def dockerfile(project: Path, source: DeploykitSource | None = None) -> str:
    plan = make_plan(detect(project), Choices(), source)
    return {f.path: f.content for f in render_all(plan)}["Dockerfile"]


def test_hashed_requirements_install_additions_in_a_second_step(project: Path) -> None:
    (project / "requirements.txt").write_text(
        "django==5.2.1 \\\n    --hash=sha256:aaaa \\\n    --hash=sha256:bbbb\n-c constraints.txt\n"
    )
    (project / "constraints.txt").write_text("asgiref==3.8.1\n")
    deps = detect_dependencies(project)
    assert deps.hashed and deps.names == frozenset({"django"})  # constraints declare nothing
    assert deps.files == ("requirements.txt", "constraints.txt")
    text = dockerfile(project, CARRIED)
    # Hash-checking mode refuses unhashed requirements on the same command line.
    assert " -r requirements.txt \\\n" in text
    assert '--refresh-package dj-deploykit ./.deploykit/*.whl "gunicorn"' in text


def test_a_missing_include_is_a_clear_error(project: Path) -> None:
    (project / "requirements.txt").write_text("-r base.txt\n")
    with pytest.raises(ConfigError, match="base.txt is named by an -r/-c line"):
        detect_dependencies(project)


def test_pyproject_dependencies_are_read_not_grepped(project: Path) -> None:
    (project / "requirements.txt").unlink()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "site"\nversion = "1"\nrequires-python = ">=3.10"\n'
        'description = "uses \\"celery\\" in prose only"\n'
        'dependencies = ["Django>=5.2", "psycopg[c]>=3.2"]\n'
        '[tool.ruff]\nselect = ["E"]\n'
    )
    deps = detect_dependencies(project)
    assert deps.kind == "pyproject" and deps.names == frozenset({"django", "psycopg"})
    assert deps.has_extra("psycopg", "c")
    # psycopg[c] compiles: compilers and libpq-dev in the build stage, libpq5 at runtime.
    build, runtime = dockerfile(project).split("AS runtime", 1)
    assert "gcc libc6-dev libpq-dev" in build and "libpq5" in runtime
    assert "libpq-dev" not in runtime


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({".python-version": "3.12.4\n"}, ("3.12", ".python-version")),
        ({"runtime.txt": "python-3.11.9\n"}, ("3.11", "runtime.txt")),
        (
            {"pyproject.toml": '[project]\nname="x"\nrequires-python=">=3.13"\ndependencies=[]\n'},
            ("3.14" if RUNNING != "3.13" else "3.13", "requires-python >=3.13"),
        ),
    ],
)
def test_python_version_comes_from_the_project(project: Path, files, expected) -> None:
    for name, text in files.items():
        (project / name).write_text(text)
    facts = detect(project)
    assert (facts.python_version, facts.python_source) == expected
    assert f"ARG BASE_IMAGE=python:{expected[0]}-slim" in dockerfile(project)


def test_poetry_constraints_and_bad_pins() -> None:
    assert choose_python("^3.11", "poetry").version in ("3.11", "3.12", "3.13", "3.14")
    assert choose_python("~3.12", "poetry").version == "3.12"
    assert choose_python(">=3.10,<3.11", "requires-python").version == "3.10"
    with pytest.raises(ConfigError, match="choose one with --python"):
        choose_python("==3.8", ".python-version")
    with pytest.raises(ConfigError, match="cannot read the Python constraint"):
        choose_python("==pypy3.10", ".python-version")


def test_remote_static_storage_is_collected_when_migrate_runs(project: Path, settings) -> None:
    # No wsgi.py naming another module: the image runs the settings overridden here.
    settings.WSGI_APPLICATION = "site_without_wsgi_file.wsgi.application"
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "storages.backends.s3.S3Storage"},
    }
    plan = make_plan(detect(project), Choices())
    assert not plan.collectstatic and plan.collectstatic_at_start
    assert not any("nothing serves static files" in note for note in plan.notes)
    files = {f.path: f.content for f in render_all(plan)}
    migrate_role = files["docker-entrypoint.sh"].split("  migrate)")[1].split(";;")[0]
    assert "collectstatic --noinput" in migrate_role
    assert "collectstatic" not in files["Dockerfile"]


def test_files_that_assign_the_settings_module_are_worked_around(
    project: Path, settings, monkeypatch, tmp_path_factory
) -> None:
    packages = tmp_path_factory.mktemp("pkgs")
    (packages / "pinned").mkdir()
    (packages / "pinned" / "__init__.py").write_text("")
    (packages / "pinned" / "settings.py").write_text("")
    (packages / "pinned" / "wsgi.py").write_text(
        "import os\nos.environ['DJANGO_SETTINGS_MODULE'] = 'pinned.settings'\n"
    )
    monkeypatch.syspath_prepend(str(packages))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "pinned.settings")
    settings.WSGI_APPLICATION = "pinned.wsgi.application"
    (project / "manage.py").write_text(
        "import os\nos.environ['DJANGO_SETTINGS_MODULE'] = 'pinned.settings'\n"
    )
    facts = detect(project)
    assert facts.settings.assigned_in == ("manage.py", "wsgi.py")
    plan = make_plan(facts, Choices())
    assert plan.manage == "python -m django" and plan.app_target == NEUTRAL_WSGI
    entrypoint = {f.path: f.content for f in render_all(plan)}["docker-entrypoint.sh"]
    assert "python -m django migrate_locked" in entrypoint
    assert "python manage.py" not in entrypoint


@pytest.mark.parametrize(
    ("lock", "expected"),
    [
        ("uv.lock", "--frozen --no-install-package dj-deploykit"),
        ("poetry.lock", "/^dj[-_.]?deploykit([^A-Za-z0-9_.-]|$)/Id"),
    ],
)
def test_a_lock_naming_deploykit_by_path_takes_the_carried_wheel(
    project: Path, lock: str, expected: str
) -> None:
    (project / "requirements.txt").unlink()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "site"\nversion = "1"\ndependencies = ["django", "dj-deploykit"]\n'
    )
    (project / lock).write_text(
        '[[package]]\nname = "django"\nversion = "5.2"\n'
        '[[package]]\nname = "dj-deploykit"\nversion = "1.0"\n'
    )
    text = dockerfile(project, CARRIED)
    assert expected in text and "./.deploykit/*.whl" in text
    # From an index, the lock's own pin stands.
    indexed = dockerfile(project, DeploykitSource("index", "1.0"))
    assert "--locked" in indexed or "poetry export" in indexed
    assert ".deploykit" not in indexed and "dj-deploykit==" not in indexed


def fake_deploykit(where: Path) -> Path:
    """A source tree whose distribution is dj-deploykit 9.9 (built by pip with setuptools)."""
    (where / "fake_dk").mkdir(parents=True)
    (where / "fake_dk" / "__init__.py").write_text("")
    (where / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "dj-deploykit"\nversion = "9.9"\n'
        '[tool.setuptools]\npackages = ["fake_dk"]\n'
    )
    return where


@pytest.mark.parametrize("kind", ["path", "vcs", "wheel"])
def test_the_carried_wheel_is_built_from_the_same_source(tmp_path: Path, kind: str) -> None:
    source_tree = fake_deploykit(tmp_path / "src")
    url = source_tree.as_uri()
    if kind == "vcs":
        git = shutil.which("git")
        if git is None:
            pytest.skip("git is not installed")
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "v9.9"]):
            subprocess.run(
                [git, "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                cwd=source_tree,
                check=True,
            )
        commit = subprocess.run(
            [git, "rev-parse", "HEAD"], cwd=source_tree, capture_output=True, text=True
        ).stdout.strip()
        url = f"git+{url}@{commit}"
    elif kind == "wheel":
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist")]
            + [str(source_tree)],
            check=True,
            timeout=300,
        )
        (wheel,) = (tmp_path / "dist").glob("*.whl")
        url = wheel.as_uri()
    context = tmp_path / "project"
    context.mkdir()
    (context / WHEEL_DIR).mkdir()
    (context / WHEEL_DIR / "dj_deploykit-0.1-py3-none-any.whl").write_text("an older one")
    carried = carry_wheel(DeploykitSource(kind, "9.9", url), context)
    assert [p.name for p in (context / WHEEL_DIR).iterdir()] == [carried.wheel]
    assert carried.wheel.startswith("dj_deploykit-9.9-")


def test_a_vanished_wheel_is_a_clear_error(tmp_path: Path) -> None:
    gone = DeploykitSource(
        "wheel", "1.0", (tmp_path / "dj_deploykit-1.0-py3-none-any.whl").as_uri()
    )
    with pytest.raises(ConfigError, match="no longer exists"):
        carry_wheel(gone, tmp_path)
