"""Drive Docker: builds through the docker CLI (BuildKit), the rest through the SDK.

The Python ``docker`` SDK builds only with the legacy builder, which rejects the
``RUN --mount`` and ``COPY --chmod`` the generated Dockerfile uses, so builds run
``docker build`` with ``DOCKER_BUILDKIT=1``. The SDK finds the engine (honouring
``DOCKER_HOST``, including ``ssh://``) and gives clean errors, and runs, inspects
and reads logs of containers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from django_deploykit.exceptions import ConfigError, DeployKitError, ServiceUnavailable
from django_deploykit.extras import require

__all__ = [
    "BuildError",
    "build",
    "check_builder",
    "client",
    "docker_cli",
    "has_buildx",
    "parse_platforms",
]

# os/arch[/variant] as Docker spells platforms: linux/amd64, linux/arm64, linux/arm/v7.
_PLATFORM = re.compile(r"[a-z0-9]+/[a-z0-9_]+(/v[0-9]+)?")


class BuildError(DeployKitError):
    """``docker build`` failed; ``returncode`` is the CLI's."""

    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


def _where() -> str:
    return os.environ.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"


def client(timeout: int = 10) -> Any:
    """A connected SDK client, or ServiceUnavailable saying how to get one.

    The SDK comes with the ``deploy`` extra: without it, MissingExtra names the extra.
    """
    docker = require("docker", "deploy")
    host = os.environ.get("DOCKER_HOST", "")
    try:
        api = docker.from_env(timeout=timeout, use_ssh_client=host.startswith("ssh://"))
        _retry_reads(api)
        api.ping()
    except docker.errors.DockerException as exc:
        raise ServiceUnavailable(
            f"No Docker engine answers at {_where()}: {_short(exc)}. Start Docker, or set "
            "DOCKER_HOST (e.g. ssh://user@host for a remote engine)."
        ) from None
    return api


def _retry_reads(api: Any) -> None:
    """Retry idempotent requests (inspect, list, logs) that lose their connection.

    The engine may close a kept-alive connection just as the SDK reuses it ("Remote
    end closed connection without response"), most often while it is busy under load;
    a deploy polling service state must not fail on that. POSTs are never retried.
    """
    from urllib3.util.retry import Retry  # the SDK's own transport (requests, urllib3)

    retry = Retry(total=3, connect=3, read=3, status=0, backoff_factor=0.2)
    for adapter in api.api.adapters.values():
        adapter.max_retries = retry


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


def has_buildx(cli: str) -> bool:
    result = subprocess.run(
        [cli, "buildx", "version"], capture_output=True, text=True, check=False, timeout=30
    )
    return result.returncode == 0


def parse_platforms(value: str) -> tuple[str, ...]:
    """``--platform``'s comma list as platforms, or ConfigError naming the bad value."""
    items = tuple(value.split(","))
    if not all(_PLATFORM.fullmatch(item) for item in items):
        raise ConfigError(
            f"--platform {value!r}: write os/arch, several separated by commas without spaces, "
            "e.g. linux/arm64 or linux/amd64,linux/arm64."
        )
    return items


def check_builder(cli: str, platforms: tuple[str, ...]) -> None:
    """Several platforms need buildx: ConfigError saying how to get it, before any write.

    One platform, foreign or not, is built by the engine's own BuildKit (``docker
    build --platform``); only a multi-platform image needs the buildx plugin.
    """
    if len(platforms) > 1 and not has_buildx(cli):
        joined = ",".join(platforms)
        raise ConfigError(
            f"--platform {joined} builds several architectures at once: that needs the docker "
            "buildx plugin, which this docker CLI lacks. Install it (Docker's packages: "
            "docker-buildx-plugin; Debian 13/Ubuntu: docker-buildx), or build one platform "
            f"per run without it: --platform {platforms[-1]}."
        )


def build(
    context: Path,
    tag: str,
    *,
    platform: str | None = None,
    build_args: dict[str, str] | None = None,
    output: Callable[[str], None] = print,
    check_engine: bool = True,
    dockerfile: Path | None = None,
) -> None:
    """Build ``context``'s Dockerfile as ``tag`` with BuildKit, streaming progress lines.

    Several platforms go through ``docker buildx build`` without ``--load``: a
    multi-platform image cannot be loaded into the engine's image store, so the
    result stays in buildx's cache (push it to a registry to use it).
    """
    cli = docker_cli()
    platforms = parse_platforms(platform) if platform else ()
    check_builder(cli, platforms)
    if check_engine:
        client().close()
    cmd = [cli, "buildx", "build"] if len(platforms) > 1 else [cli, "build"]
    cmd += ["--progress", "plain", "--tag", tag]
    if platforms:
        cmd += ["--platform", ",".join(platforms)]
    for key, value in (build_args or {}).items():
        cmd += ["--build-arg", f"{key}={value}"]
    if dockerfile is not None:
        cmd += ["--file", str(dockerfile)]
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
