"""Drive Docker: builds through the docker CLI (BuildKit), the rest through the SDK.

The Python ``docker`` SDK builds only with the legacy builder, which rejects the
``RUN --mount`` and ``COPY --chmod`` the generated Dockerfile uses, so builds run
``docker build`` with ``DOCKER_BUILDKIT=1``. The SDK finds the engine (honouring
``DOCKER_HOST``, including ``ssh://``) and gives clean errors, and runs, inspects
and reads logs of containers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from django_deploykit.exceptions import DeployKitError, ServiceUnavailable

__all__ = ["BuildError", "build", "client", "docker_cli", "wait_healthy"]


class BuildError(DeployKitError):
    """``docker build`` failed; ``returncode`` is the CLI's."""

    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


def _where() -> str:
    return os.environ.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"


def client(timeout: int = 10) -> Any:
    """A connected SDK client, or ServiceUnavailable saying how to get one."""
    import docker
    from docker.errors import DockerException

    host = os.environ.get("DOCKER_HOST", "")
    try:
        api = docker.from_env(timeout=timeout, use_ssh_client=host.startswith("ssh://"))
        api.ping()
    except DockerException as exc:
        raise ServiceUnavailable(
            f"No Docker engine answers at {_where()}: {_short(exc)}. Start Docker, or set "
            "DOCKER_HOST (e.g. ssh://user@host for a remote engine)."
        ) from None
    return api


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def docker_cli() -> str:
    """The docker CLI to build with: Debian's /usr/bin/docker has BuildKit built in."""
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServiceUnavailable(
        "The docker command-line client is not installed: builds need it (BuildKit). "
        "Install Docker (https://docs.docker.com/engine/install/) or the docker CLI package."
    )


def _has_buildx(cli: str) -> bool:
    result = subprocess.run(
        [cli, "buildx", "version"], capture_output=True, text=True, check=False, timeout=30
    )
    return result.returncode == 0


def build(
    context: Path,
    tag: str,
    *,
    platform: str | None = None,
    build_args: dict[str, str] | None = None,
    output: Callable[[str], None] = print,
    check_engine: bool = True,
) -> None:
    """Build ``context``'s Dockerfile as ``tag`` with BuildKit, streaming progress lines."""
    cli = docker_cli()
    if check_engine:
        client().close()
    if platform and "," in platform:
        if not _has_buildx(cli):
            raise DeployKitError(
                f"--platform {platform} builds several architectures: that needs docker "
                "buildx and a registry to push to. Use `docker buildx build --platform "
                f"{platform} --tag <registry>/{tag} --push .` (see the dockerize docs)."
            )
        cmd = [cli, "buildx", "build", "--load"]
    else:
        cmd = [cli, "build"]
    cmd += ["--progress", "plain", "--tag", tag]
    if platform:
        cmd += ["--platform", platform]
    for key, value in (build_args or {}).items():
        cmd += ["--build-arg", f"{key}={value}"]
    cmd.append(str(context))
    env = dict(os.environ, DOCKER_BUILDKIT="1")
    _stream(cmd, env, output, f"docker build of {tag}")


def _stream(
    cmd: Sequence[str], env: dict[str, str], output: Callable[[str], None], what: str
) -> None:
    with subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            output(line.rstrip("\n"))
    if proc.returncode != 0:
        raise BuildError(
            f"{what} failed (exit code {proc.returncode}); see the output above.", proc.returncode
        )


def wait_healthy(container: Any, timeout: float = 60.0, interval: float = 0.2) -> str:
    """Poll a container's health until healthy/unhealthy or ``timeout``; return the status."""
    deadline = time.monotonic() + timeout
    status = "starting"
    while time.monotonic() < deadline:
        container.reload()
        state = container.attrs.get("State", {})
        status = state.get("Health", {}).get("Status", "none")
        if status in ("healthy", "unhealthy") or state.get("Status") == "exited":
            return status if state.get("Status") != "exited" else "exited"
        time.sleep(interval)
    return status
