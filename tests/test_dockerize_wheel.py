"""The Dockerfile template ships inside the wheel: render it from an installed wheel."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.dockerize_helpers import ROOT

SCRIPT = """
import sys
from pathlib import Path
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.staticfiles", "django_deploykit"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    WSGI_APPLICATION="site.wsgi.application",
    STATIC_ROOT=str(Path.cwd() / "staticfiles"),
    BASE_DIR=Path.cwd(),
)
django.setup()
import django_deploykit
from django_deploykit.docker.detect import detect
from django_deploykit.docker.plan import Choices, make_plan
from django_deploykit.docker.render import render_all

print(django_deploykit.__file__)
files = {f.path: f.content for f in render_all(make_plan(detect(Path.cwd()), Choices()))}
sys.stdout.write(files["Dockerfile"])
"""


def test_dockerfile_renders_from_the_installed_wheel(tmp_path: Path, wheel_venv) -> None:
    python, _ = wheel_venv
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    project = tmp_path / "site"
    project.mkdir()
    (project / "manage.py").write_text("")
    (project / "requirements.txt").write_text("django-deploykit\n")
    result = subprocess.run(
        [str(python), "-c", SCRIPT],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": ""},
    )
    assert result.returncode == 0, result.stderr
    location, dockerfile = result.stdout.split("\n", 1)
    assert location.startswith(purelib), location  # not this checkout
    template = (ROOT / "Dockerfile.template").read_text()
    assert "FROM ${BASE_IMAGE} AS runtime" in template
    assert "FROM ${BASE_IMAGE} AS runtime" in dockerfile
    assert "{%" not in dockerfile and "{{" not in dockerfile
    assert "ARG APP_UID=10001" in dockerfile and "USER ${APP_UID}:${APP_GID}" in dockerfile
    assert "collectstatic" in dockerfile
