"""The built wheel works in a clean venv on a fresh `django-admin startproject` project."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(python, *args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"}}
    return subprocess.run(
        [str(python), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_wheel_ships_templates_and_the_dockerfile(wheel_venv):
    _, wheel = wheel_venv
    names = zipfile.ZipFile(wheel).namelist()
    assert "django_deploykit/templates/deploykit/Dockerfile" in names
    assert "django_deploykit/py.typed" in names
    licence = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert licence, names
    assert b"BSD 3-Clause" in zipfile.ZipFile(wheel).read(licence[0])
    shipped = zipfile.ZipFile(wheel).read("django_deploykit/templates/deploykit/Dockerfile")
    assert shipped == (ROOT / "Dockerfile.template").read_bytes()
    assert not any(n.startswith(("tests/", "example_project/")) for n in names)


def test_startproject_with_the_app_passes_check(wheel_venv, tmp_path):
    python, _ = wheel_venv
    created = run(python, "-m", "django", "startproject", "mysite", str(tmp_path))
    assert created.returncode == 0, created.stderr
    settings = tmp_path / "mysite" / "settings.py"
    text = settings.read_text()
    settings.write_text(
        text.replace("INSTALLED_APPS = [", 'INSTALLED_APPS = [\n    "django_deploykit",')
    )
    check = run(python, "manage.py", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "System check identified no issues" in check.stdout
    # The package imports from the venv, not from this checkout.
    where = run(
        python, "-c", "import django_deploykit; print(django_deploykit.__file__)", cwd=tmp_path
    )
    assert "site-packages" in where.stdout
    listed = run(python, "manage.py", "help", "--commands", cwd=tmp_path)
    # Every deploykit management command in the source tree ships in the wheel.
    in_tree = {
        p.stem
        for p in (ROOT / "django_deploykit/management/commands").glob("*.py")
        if not p.stem.startswith("_")
    }
    assert in_tree <= set(listed.stdout.split()), listed.stdout
