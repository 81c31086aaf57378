"""Bad configuration stops manage.py with one line naming the variable: no traceback, no secret."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    shutil.copytree(
        EXAMPLE,
        target,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(
            ".env", "db.sqlite3", "staticfiles", "media", "wheels", "__pycache__"
        ),
    )
    return target


def manage(site, *args, **env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    clean["PYTHONPATH"] = str(EXAMPLE.parent)
    clean["DEPLOYKIT_IN_CONTAINER"] = "0"
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=site,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_clean_error(result, message, secret=None):
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") <= 2
    if secret:
        assert secret not in result.stderr + result.stdout


def test_missing_secret_key_in_production(site):
    assert_clean_error(
        manage(site, "check", DEBUG="false"),
        "Configuration error: SECRET_KEY is not set and DEBUG is off",
    )


def test_malformed_database_url(site):
    assert_clean_error(
        manage(site, "check", DEBUG="true", DATABASE_URL="mysql://app:topsecret@db:port/x"),
        "Configuration error: DATABASE_URL is malformed",
        secret="topsecret",
    )


def test_unknown_database_scheme(site):
    assert_clean_error(
        manage(site, "migrate", DEBUG="true", DATABASE_URL="mssqlx://app:topsecret@db/x"),
        "DATABASE_URL has an unknown scheme 'mssqlx'",
        secret="topsecret",
    )


def test_missing_secret_file(site):
    assert_clean_error(
        manage(site, "check", SECRET_KEY_FILE="/run/secrets/nope"),
        "SECRET_KEY_FILE names a file that does not exist",
    )


def test_good_configuration_passes_check(site):
    result = manage(site, "check", DEBUG="false", SECRET_KEY="x" * 50, ALLOWED_HOSTS="example.com")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
