"""Docker tier, linux/arm64 (a Raspberry Pi's platform) built and run under QEMU emulation.

The runner is amd64: `.ci/qemu-binfmt.sh` registers Debian's qemu-aarch64 handler and
`.ci/base-image.sh` (ARCH=arm64) imports an arm64 stand-in for python:3.11-slim, so the
engine's own BuildKit builds `--platform linux/arm64` without buildx or a registry.
Each test prints its timings (`-s` shows them): emulation is 5-20x slower than native.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from django_deploykit.deploy.rolling import wait_healthy
from django_deploykit.docker import engine
from tests import tiers
from tests.deploy_site import NGINX_IMAGE, ensure_nginx_image
from tests.test_dockerize_docker import (
    HOST,
    MARIADB_IMAGE,
    docker,
    free_port,
    get,
    make_project,
    manage,
    wait_for_200,
)

pytestmark = pytest.mark.docker

ARM64_BASE = os.environ.get(
    "DEPLOYKIT_TEST_ARM64_BASE_IMAGE", "deploykit-ci/python:3.11-slim-arm64"
)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@pytest.fixture(scope="module")
def arm64_base() -> str:
    if tiers.unavailable("docker"):
        pytest.skip(tiers.unavailable("docker"))
    found = docker("image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", ARM64_BASE, check=False)
    if found.returncode != 0:
        pytest.fail(
            f"{ARM64_BASE} is missing: CI builds it (bash .ci/qemu-binfmt.sh && ARCH=arm64 "
            f"bash .ci/base-image.sh {ARM64_BASE})"
        )
    assert found.stdout.strip() == "linux/arm64", found.stdout
    return ARM64_BASE


def build_arm64(project: Path, tag: str, base: str, *options: str, timeout: float = 1800) -> float:
    """`dockerize [options] --build --platform linux/arm64`; returns the seconds it took."""
    start = time.monotonic()
    result = manage(
        project,
        "dockerize",
        *options,
        "--build",
        "--platform",
        "linux/arm64",
        "--tag",
        tag,
        "--build-arg",
        f"BASE_IMAGE={base}",
        # Emulation on a shared runner: 5-20x slower than native (figures in the docs).
        timeout=timeout,
    )
    seconds = time.monotonic() - start
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    arch = docker("image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", tag).stdout.strip()
    assert arch == "linux/arm64", arch
    size = int(docker("image", "inspect", "-f", "{{.Size}}", tag).stdout)
    print(f"\n[arm64] built {tag} in {seconds:.0f}s, {size / 1e6:.0f} MB, load {_load()}")
    return seconds


@pytest.fixture
def cleanup() -> Iterator[list[tuple[str, str]]]:
    """(kind, name) pairs removed after the test: containers, volumes, images."""
    made: list[tuple[str, str]] = []
    yield made
    for kind, name in reversed(made):
        if kind == "container":
            docker("rm", "-f", "-v", name, check=False)
        elif kind == "volume":
            docker("volume", "rm", "-f", name, check=False)
        else:
            docker("rmi", "-f", name, check=False)


def test_example_builds_for_arm64_and_serves_healthy_under_emulation(
    arm64_base, tmp_path, cleanup
) -> None:
    project = make_project(tmp_path / "site")
    name = f"deploykit-test-arm64-{uuid.uuid4().hex[:8]}"
    tag = f"deploykit-test/{name}:latest"
    cleanup.append(("image", tag))
    build_arm64(project, tag, arm64_base)
    # What runs in the image is aarch64 code, not the host's.
    machine = docker("run", "--rm", "--entrypoint", "uname", tag, "-m").stdout.strip()
    assert machine == "aarch64"

    api = engine.client()
    cleanup += [("volume", name), ("container", name)]
    env = {"SECRET_KEY": uuid.uuid4().hex, "ALLOWED_HOSTS": HOST}
    mounts = {name: {"bind": "/app/data", "mode": "rw"}}
    for command in (["migrate"], ["manage", "seed_posts", "--count", "3"]):
        api.containers.run(tag, command, environment=env, volumes=mounts, remove=True)
    start = time.monotonic()
    web = api.containers.run(
        tag,
        # The image's own probe, with timings for emulation on a loaded runner: Python
        # starting under QEMU can take longer than the image's 4 s probe timeout.
        healthcheck={
            "test": ["CMD", "python", "-m", "django_deploykit.health.probe", "--timeout", "20"],
            "interval": 5 * 10**9,
            "timeout": 60 * 10**9,
            "start_period": 240 * 10**9,
            "retries": 3,
        },
        environment=env,
        volumes=mounts,
        detach=True,
        read_only=True,
        tmpfs={"/tmp": ""},
        ports={"8000/tcp": ("127.0.0.1", None)},
        name=name,
    )
    # The image's HEALTHCHECK (start period 30 s, every 5 s) decides, as compose's --wait does.
    healthy, why = wait_healthy(web, timeout=300)
    healthy_after = time.monotonic() - start
    assert healthy and why == "healthy", f"{why}\n{web.logs()[-3000:]!r}"
    print(f"[arm64] healthy {healthy_after:.0f}s after start, load {_load()}")
    web.reload()
    port = int(web.ports["8000/tcp"][0]["HostPort"])
    assert get(port, "/health/")[0] == 200
    status, page = get(port, "/")
    assert status == 200 and b"<html" in page.lower()
    detail = re.search(rb'href="(/posts/[^"]+/)"', page)
    assert detail and get(port, detail.group(1).decode())[0] == 200
    css = re.search(rb'href="(/static/[^"]+\.css)"', page)
    assert css, page[:2000]
    status, body = get(port, css.group(1).decode())
    assert status == 200 and body.strip()
    assert get(port, "/static/admin/css/base.css")[0] == 200


#: Emulation-sized probe timings for the web service (compose.override.yaml): the image's
#: own 4 s timeout is for native runs; a Python process started under QEMU on a loaded
#: runner can take longer.
EMULATED_WEB_HEALTHCHECK = """\
services:
  web:
    healthcheck:
      test: ["CMD", "python", "-m", "django_deploykit.health.probe", "--timeout", "20"]
      interval: 5s
      timeout: 60s
      start_period: 240s
      retries: 3
"""


def test_mariadb_variant_compiles_mysqlclient_for_arm64_and_runs_the_stack(
    arm64_base, tmp_path, cleanup
) -> None:
    """The MariaDB variant: mysqlclient has no Linux wheels, so the arm64 build stage
    compiles it under emulation. CI budget: the build 15 min at most (the timeout below;
    measured 505 s at a load average of 9.5, see docs/raspberry-pi.rst), then the
    compose stack healthy within 5 min (measured 88 s). The database is the runner's
    amd64 MariaDB image: the arm64 app talks to it over the network as it would to an
    arm64 one; building MariaDB itself for arm64 would add minutes of emulated apt (CI's
    stand-in image: 520 s) and only measure QEMU."""
    if docker("compose", "version", check=False).returncode != 0:
        pytest.fail("docker compose v2 plugin missing: CI must install it (compose-plugin.sh)")
    project = make_project(tmp_path / "shop")
    name = f"dkarm{uuid.uuid4().hex[:8]}"
    tag = f"deploykit-test/{name}:latest"
    cleanup.append(("image", tag))
    build_arm64(project, tag, arm64_base, "--db", "mariadb", timeout=900)

    # The driver's C extension was compiled for AArch64 and loads in the runtime image,
    # which has the client library but no compiler.
    check = (
        "import MySQLdb, MySQLdb._mysql as m, platform, shutil; "
        "elf = open(m.__file__, 'rb').read(20); "
        "print(platform.machine(), int.from_bytes(elf[18:20], 'little'), "
        "MySQLdb.version_info[:3], shutil.which('gcc'))"
    )
    ran = docker("run", "--rm", "--entrypoint", "python", tag, "-c", check, timeout=120)
    assert ran.returncode == 0, ran.stderr
    machine, elf_machine, *_, gcc = ran.stdout.split()
    assert machine == "aarch64"
    assert elf_machine == "183", ran.stdout  # EM_AARCH64
    assert gcc == "None", ran.stdout

    port = free_port()
    ensure_nginx_image()  # the example has MEDIA_ROOT: nginx serves it in front of web
    with (project / ".env").open("a") as env:
        env.write(
            f"COMPOSE_PROJECT_NAME={name}\nDB_IMAGE={MARIADB_IMAGE}\nAPP_IMAGE={tag}\n"
            f"WEB_PORT={port}\nNGINX_IMAGE={NGINX_IMAGE}\n"
        )
    (project / "compose.override.yaml").write_text(EMULATED_WEB_HEALTHCHECK)
    try:
        start = time.monotonic()
        # As on the Pi with an image built elsewhere: no build, the image as it is.
        up = docker(
            *("compose", "--progress", "plain", "up", "-d", "--no-build", "--wait"),
            *("--wait-timeout", "300"),
            cwd=project,
            check=False,
            timeout=420,
        )
        healthy_after = time.monotonic() - start
        logs = docker("compose", "logs", "--no-color", cwd=project, check=False).stdout
        assert up.returncode == 0, up.stderr[-3000:] + logs[-3000:]
        print(f"[arm64] MariaDB stack healthy {healthy_after:.0f}s after up, load {_load()}")
        states = {
            s["Service"]: s
            for s in map(
                json.loads,
                docker("compose", "ps", "-a", "--format", "json", cwd=project).stdout.splitlines(),
            )
        }
        assert states["migrate"]["State"] == "exited" and states["migrate"]["ExitCode"] == 0
        assert states["web"]["Health"] == "healthy"
        web_arch = docker(
            "compose", "exec", "-T", "web", "uname", "-m", cwd=project, timeout=60
        ).stdout.strip()
        assert web_arch == "aarch64"
        wait_for_200(port, "/health/", host="localhost")
        status, page = get(port, "/", host="localhost")
        assert status == 200 and b"<html" in page.lower()
        # The pages came from MariaDB through the arm64 driver: migrations are recorded
        # there, and the ENGINE the web container uses is mysql.
        password = re.search(r"^DB_ROOT_PASSWORD=(.+)$", (project / ".env").read_text(), re.M)
        assert password
        rows = docker(
            *("compose", "exec", "-T", "db", "mariadb", "-uroot", f"-p{password.group(1)}"),
            *("-N", "-e", "SELECT COUNT(*) FROM app.django_migrations"),
            cwd=project,
        ).stdout.split()
        assert int(rows[0]) > 10
        engine_name = docker(
            *("compose", "exec", "-T", "web", "python", "-c"),
            "import django; django.setup(); from django.db import connection as c; "
            "c.ensure_connection(); print(c.vendor, c.mysql_is_mariadb)",
            cwd=project,
            timeout=120,
        ).stdout.split()
        assert engine_name == ["mysql", "True"]
    finally:
        docker("compose", "down", "-v", "--remove-orphans", cwd=project, check=False)
