"""Commands that must neither crash nor mislead (issue 16)."""

from __future__ import annotations

import subprocess
import sys
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_deploykit.management.commands.deploy import Command as DeployCommand
from tests.health_fixtures import closed_port, db_config, sqlite_config  # noqa: F401
from tests.test_targets_migrate import EXAMPLE, _env


def test_a_project_without_root_urlconf_runs_every_command(settings):
    del settings.ROOT_URLCONF  # a worker-only or script settings module
    out = StringIO()
    call_command("check", stdout=out, stderr=StringIO())  # the health system check ran
    assert "System check identified no issues" in out.getvalue()


@pytest.mark.parametrize(
    "extra",
    [
        ["--settings", "tests.settings"],
        ["--traceback"],
        ["--no-color"],
        ["--force-color"],
        ["--pythonpath", "."],
    ],
)
def test_deploy_accepts_djangos_common_options_after_the_action(extra):
    parser = DeployCommand().create_parser("manage.py", "deploy")
    options = parser.parse_args(["status", *extra, "--dry-run"])
    assert options.action == "status" and options.dry_run
    if "--traceback" in extra:
        assert options.traceback is True
    if "--no-color" in extra:
        assert options.no_color is True
    before = parser.parse_args(["--no-color", "status"])  # before the action still works
    assert before.no_color is True


def test_wait_for_migrations_says_what_it_waits_for_with_a_heartbeat(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "wait_for_migrations",
            "--timeout",
            "2.5",
            "--interval",
            "0.2",
            "--heartbeat",
            "0.5",
        ],
        cwd=EXAMPLE,
        env=_env(url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert time.monotonic() - started < 30
    first = proc.stdout.splitlines()[0]
    # Which migrations, and that something else must run migrate.
    assert "contenttypes.0001_initial" in first, first
    assert "migrate" in first and "does not apply" in first, first
    beats = [line for line in proc.stdout.splitlines() if "still waiting" in line]
    assert len(beats) >= 2, proc.stdout


def test_healthcheck_says_failed_once_with_a_hint(closed_port):  # noqa: F811
    out, err = StringIO(), StringIO()
    broken = {"broken": db_config("postgres://u@127.0.0.1/db", PORT=closed_port)}
    with (
        override_settings(
            DATABASES={"default": sqlite_config(), **broken},
            DEPLOYKIT_HEALTH_CHECKS=["django_deploykit.health.checks.DatabaseCheck"],
            DEPLOYKIT_HEALTH_CACHE_SECONDS=0,
        ),
        pytest.raises(CommandError) as info,
    ):
        call_command("healthcheck", stdout=out, stderr=err)
    text = out.getvalue() + err.getvalue() + str(info.value)
    assert info.value.returncode == 1
    assert text.count("check failed") == 1, text
    assert "database:broken" in str(info.value) and "refused" in str(info.value)
    assert "running" in str(info.value), str(info.value)  # the hint for "refused"


def test_healthcheck_hints_run_migrate_on_an_unmigrated_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    proc = subprocess.run(
        [sys.executable, "manage.py", "healthcheck"],
        cwd=EXAMPLE,
        env=_env(url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert out.count("check failed") == 1, out
    assert "migrations: migrations (run migrate" in out, out
