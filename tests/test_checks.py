"""One test per system check id."""

from __future__ import annotations

import os
import subprocess

import pytest
from django.core import checks

from django_deploykit import checks as deploykit_checks


def ids(messages):
    return [m.id for m in messages]


def test_e001_wrong_setting_type(settings):
    settings.DEPLOYKIT_SERVICE_TIMEOUT = "3"
    settings.DEPLOYKIT_MEILISEARCH_URL = "http://localhost:7700"
    assert ids(deploykit_checks.check_settings_types()) == ["deploykit.E001"]
    settings.DEPLOYKIT_SERVICE_TIMEOUT = True
    assert ids(deploykit_checks.check_settings_types()) == ["deploykit.E001"]
    settings.DEPLOYKIT_SERVICE_TIMEOUT = 2.5
    assert ids(deploykit_checks.check_settings_types()) == []


def test_w001_static_root_missing(settings):
    settings.STATIC_ROOT = None
    assert ids(deploykit_checks.check_static_root()) == ["deploykit.W001"]
    settings.STATIC_ROOT = "/tmp/static"
    assert ids(deploykit_checks.check_static_root()) == []


def test_w001_is_a_deploy_check():
    registered = checks.registry.registry.get_checks(include_deployment_checks=True)
    normal = checks.registry.registry.get_checks(include_deployment_checks=False)
    assert deploykit_checks.check_static_root in registered
    assert deploykit_checks.check_static_root not in normal


@pytest.fixture
def readonly_dir(tmp_path):
    """A directory this process cannot write: chmod for users, a read-only mount for root."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"root cannot make a read-only directory here: {mounted.stderr.strip()}")
    yield path
    subprocess.run(["umount", str(path)], check=True)


def test_w002_sqlite_directory_not_writable(settings, tmp_path, readonly_dir, monkeypatch):
    settings.DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(readonly_dir / "db.sqlite3"),
        },
        "ok": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")},
        "memory": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    }
    monkeypatch.setenv("DEPLOYKIT_IN_CONTAINER", "1")
    messages = deploykit_checks.check_sqlite_writable()
    assert ids(messages) == ["deploykit.W002"]
    assert "'default'" in messages[0].msg
    monkeypatch.setenv("DEPLOYKIT_IN_CONTAINER", "0")
    assert ids(deploykit_checks.check_sqlite_writable()) == []


@pytest.mark.django_db  # Django >= 6.0's check asks the database (JSONField support)
def test_check_command_passes_on_the_test_settings():
    from django.core.management import call_command

    call_command("check")
