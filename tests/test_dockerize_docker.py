"""Docker tier: dockerize the example project, build it with BuildKit and run it."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from django_deploykit.deploy.rolling import wait_healthy
from django_deploykit.docker import engine
from tests import tiers
from tests.deploy_site import NGINX_IMAGE, ensure_nginx_image
from tests.dockerize_helpers import ROOT, copy_example
from tests.wheel_env import build_wheel

pytestmark = pytest.mark.docker

BASE_IMAGE = os.environ.get("DEPLOYKIT_TEST_BASE_IMAGE", "deploykit-ci/python:3.11-slim")
MARIADB_IMAGE = os.environ.get("DEPLOYKIT_TEST_MARIADB_IMAGE", "deploykit-ci/mariadb:latest")
HOST = "example.test"


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tiers.DOCKER or "docker", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=kwargs.pop("timeout", 300),
        **kwargs,
    )


def make_project(target: Path) -> Path:
    """A copy of the example project with a wheel of this checkout in wheels/."""
    project = copy_example(target)
    build_wheel(project / "wheels")
    return project


def manage(project: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DEBUG": "0",
        "SECRET_KEY": "dockerize-test",
        "DOCKER_BUILDKIT": "1",
        "PATH": "/usr/bin:" + os.environ.get("PATH", ""),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def get(port: int, path: str, host: str = HOST, https: bool = True) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Host": host}
    if https:
        headers["X-Forwarded-Proto"] = "https"  # as the TLS-terminating proxy sends it
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_for_200(port: int, path: str, timeout: float = 30.0, **kwargs) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, _ = get(port, path, **kwargs)
            if status == 200:
                return
            last = status
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{path} did not answer 200 within {timeout}s: {last}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The example project, dockerized and built once (`dockerize --build`)."""
    if tiers.unavailable("docker"):
        pytest.skip(tiers.unavailable("docker"))
    project = make_project(tmp_path_factory.mktemp("docker") / "site")
    tag = f"deploykit-test/example:{uuid.uuid4().hex[:10]}"
    result = manage(
        project, "dockerize", "--build", "--tag", tag, "--build-arg", f"BASE_IMAGE={BASE_IMAGE}"
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Building" in result.stdout and "#" in result.stdout  # BuildKit progress streamed
    yield tag, project
    docker("rmi", "-f", tag, check=False)


@pytest.fixture
def container_cleanup() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        docker("rm", "-f", "-v", name, check=False)
        docker("volume", "rm", "-f", name, check=False)


def test_image_serves_healthy_read_only_as_non_root(built, container_cleanup) -> None:
    tag, _ = built
    api = engine.client()
    volume = f"deploykit-test-{uuid.uuid4().hex[:10]}"
    container_cleanup.append(volume)
    secret = uuid.uuid4().hex
    env = {"SECRET_KEY": secret, "ALLOWED_HOSTS": HOST, "SECURE_SSL_REDIRECT": "true"}
    mounts = {volume: {"bind": "/app/data", "mode": "rw"}}
    for command in (["migrate"], ["manage", "seed_posts", "--count", "5"]):
        api.containers.run(tag, command, environment=env, volumes=mounts, remove=True)
    web = api.containers.run(
        tag,
        environment=env,
        volumes=mounts,
        detach=True,
        read_only=True,
        tmpfs={"/tmp": ""},
        ports={"8000/tcp": ("127.0.0.1", None)},
        name=volume,
    )
    healthy, why = wait_healthy(web, timeout=60)
    assert healthy and why == "healthy", f"{why}\n{web.logs()[-3000:]!r}"
    web.reload()
    port = int(web.ports["8000/tcp"][0]["HostPort"])
    status, body = get(port, "/health/")
    assert status == 200, body
    # ALLOWED_HOSTS is really restricted and the SSL redirect really on.
    assert get(port, "/", host="evil.test")[0] == 400
    assert get(port, "/", https=False)[0] == 301
    status, page = get(port, "/")
    assert status == 200
    detail = re.search(rb'href="(/posts/[^"]+/)"', page)
    assert detail and get(port, detail.group(1).decode())[0] == 200
    css = re.search(rb'href="(/static/[^"]+\.css)"', page)
    assert css and get(port, css.group(1).decode())[0] == 200
    assert get(port, "/static/admin/css/base.css")[0] == 200
    # Numeric non-root user; the code is not writable, the data volume is.
    assert api.images.get(tag).attrs["Config"]["User"] == "10001:10001"
    assert web.exec_run("id -u").output.strip() == b"10001"
    assert web.exec_run("touch /app/manage.py").exit_code != 0
    assert web.exec_run("touch /app/data/ok").exit_code == 0
    assert secret.encode() not in web.exec_run("cat /proc/1/cmdline").output


def test_no_secret_in_the_image(built) -> None:
    tag, project = built
    env_file = (project / ".env").read_text()
    secrets = re.findall(r"^(?:SECRET_KEY|DB_PASSWORD)=(.+)$", env_file, re.M)
    secrets += [p.read_text().strip() for p in (project / "secrets").iterdir()]
    assert secrets
    history = docker("history", "--no-trunc", tag).stdout
    inspect = docker("image", "inspect", tag).stdout
    for value in secrets:
        assert value not in history and value not in inspect
    assert "SECRET" not in json.loads(inspect)[0]["Config"]["Env"].__repr__()
    files = docker("run", "--rm", "--entrypoint", "ls", tag, "-A", "/app").stdout.split()
    assert ".env" not in files and "db.sqlite3" not in files and "staticfiles" in files


def test_check_passes_after_generation(built) -> None:
    _, project = built
    result = manage(project, "dockerize", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_stack_with_mariadb_migrates_once(tmp_path) -> None:
    if docker("compose", "version", check=False).returncode != 0:
        pytest.fail("docker compose v2 plugin missing: CI must install it (compose-plugin.sh)")
    project = make_project(tmp_path / "shop")
    result = manage(project, "dockerize", "--db", "mariadb")
    assert result.returncode == 0, result.stdout + result.stderr
    # As a Windows checkout with autocrlf would leave it: the image must still run it.
    entrypoint = project / "docker-entrypoint.sh"
    entrypoint.write_bytes(entrypoint.read_bytes().replace(b"\n", b"\r\n"))
    name = f"dktest{uuid.uuid4().hex[:8]}"
    port = free_port()
    ensure_nginx_image()  # the example has MEDIA_ROOT: nginx serves it in front of web
    with (project / ".env").open("a") as env:
        env.write(
            f"COMPOSE_PROJECT_NAME={name}\nBASE_IMAGE={BASE_IMAGE}\nDB_IMAGE={MARIADB_IMAGE}\n"
            f"APP_IMAGE=deploykit-test/{name}:latest\nWEB_PORT={port}\n"
            f"NGINX_IMAGE={NGINX_IMAGE}\n"
        )
    compose = ["compose", "--progress", "plain"]
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    try:
        up = docker(
            *compose,
            "up",
            "-d",
            "--build",
            "--wait",
            "--wait-timeout",
            "240",
            cwd=project,
            env=env,
            check=False,
            timeout=600,
        )
        logs = docker("compose", "logs", "--no-color", cwd=project, check=False).stdout
        assert up.returncode == 0, up.stderr[-3000:] + logs[-3000:]
        states = {
            s["Service"]: s
            for s in map(
                json.loads,
                docker("compose", "ps", "-a", "--format", "json", cwd=project).stdout.splitlines(),
            )
        }
        assert states["migrate"]["State"] == "exited" and states["migrate"]["ExitCode"] == 0
        assert states["web"]["Health"] == "healthy" and states["db"]["Health"] == "healthy"
        wait_for_200(port, "/health/", host="localhost")
        assert get(port, "/", host="localhost")[0] == 200
        migrate_logs = docker("compose", "logs", "--no-color", "migrate", cwd=project).stdout
        web_logs = docker("compose", "logs", "--no-color", "web", cwd=project).stdout
        assert migrate_logs.count("Applying blog.0001_initial... OK") == 1
        assert "Applying" not in web_logs
        password = re.search(r"^DB_ROOT_PASSWORD=(.+)$", (project / ".env").read_text(), re.M)
        rows = docker(
            "compose",
            "exec",
            "-T",
            "db",
            "mariadb",
            "-uroot",
            f"-p{password.group(1)}",
            "-N",
            "-e",
            "SELECT COUNT(*), COUNT(DISTINCT app, name) FROM app.django_migrations",
            cwd=project,
        ).stdout.split()
        assert rows[0] == rows[1] and int(rows[0]) > 10
        # The database is not reachable from outside: no published port.
        assert not states["db"].get("Publishers") or all(
            not p.get("PublishedPort") for p in states["db"]["Publishers"]
        )
    finally:
        docker("compose", "down", "-v", "--remove-orphans", cwd=project, check=False)
        docker("rmi", "-f", f"deploykit-test/{name}:latest", check=False)
