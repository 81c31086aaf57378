"""Development helpers: the quiet health log, the reloader, the venv's service URLs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from django_deploykit.env import Env


def _server_record(line: str, status: int) -> logging.LogRecord:
    record = logging.LogRecord(
        "django.server", logging.INFO, "", 0, '"%s" %s %s', (line, str(status), "2"), None
    )
    record.status_code = status
    return record


def test_passing_health_probes_leave_runserver_log_quiet(settings):
    logger = logging.getLogger("django.server")
    assert logger.filter(_server_record("GET /health/ HTTP/1.1", 200)) is False
    assert logger.filter(_server_record("GET /health/ready/?verbose HTTP/1.1", 200)) is False
    assert logger.filter(_server_record("GET /health/ HTTP/1.1", 503))  # failures stay
    assert logger.filter(_server_record("GET /posts/ HTTP/1.1", 200))
    assert logger.filter(_server_record("GET /healthy-recipes/ HTTP/1.1", 200))


def test_celery_broker_url_never_falls_back_to_amqp():
    venv = Env(environ_map={"DEPLOYKIT_IN_CONTAINER": "0"})
    assert venv.celery_broker_url() == "redis://127.0.0.1:6379/0"
    container = Env(environ_map={"DEPLOYKIT_IN_CONTAINER": "1"})
    assert container.celery_broker_url() == "redis://redis:6379/0"
    url = "redis://cache.internal:6380/2"
    assert Env(environ_map={"CELERY_BROKER_URL": url}).celery_broker_url() == url


def test_reloader_restarts_the_command_on_a_change_and_passes_sigterm_on(tmp_path: Path):
    (tmp_path / "tasks.py").write_text("X = 1\n")
    log = tmp_path / "starts.log"
    script = f"open({str(log)!r}, 'a').write('start\\n'); import time; time.sleep(60)"
    proc = subprocess.Popen(
        [sys.executable, "-m", "django_deploykit.dev.reload", "--root", str(tmp_path),
         "--interval", "0.2", "--", sys.executable, "-c", script],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        os.utime(tmp_path / "tasks.py", (time.time() + 5, time.time() + 5))
        while log.read_text().count("start") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.read_text().count("start") == 2
        proc.terminate()
        assert proc.wait(10) == 128 + 15
        assert "reload: tasks.py changed" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("db", ["postgres", "mariadb"])
def test_generated_env_gives_the_venv_the_services(db, tmp_path, settings):
    from django_deploykit.docker import render
    from django_deploykit.docker.detect import detect
    from django_deploykit.docker.plan import Choices, make_plan
    from tests.dockerize_helpers import project_settings

    for name, value in project_settings(tmp_path).items():
        setattr(settings, name, value)
    facts = detect(tmp_path)
    facts.celery_app, facts.celery_beat = "example_site", True
    plan = make_plan(facts, Choices(db=db, search=True, celery=True))
    text = render.env_file(plan, uid=1234, gid=1235)
    values = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#"
    )
    env = Env(environ_map={**values, "DEPLOYKIT_IN_CONTAINER": "0"})
    database = env.database()
    assert database["HOST"] == "127.0.0.1" and database["PASSWORD"] == values["DB_PASSWORD"]
    assert database["PORT"] == (5432 if db == "postgres" else 3306)
    assert env.caches()["default"]["LOCATION"].startswith("redis://127.0.0.1:6379")
    assert env.celery_broker_url() == "redis://127.0.0.1:6379/0"
    assert env.meilisearch_url() == "http://127.0.0.1:7700"
    assert values["DEV_UID"] == "1234" and values["DEV_GID"] == "1235"
