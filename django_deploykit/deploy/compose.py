"""The real Docker Compose v2 CLI, and the stack model read from ``compose config``.

Compose does what it is good at (building the services as the file defines
them, creating containers with the file's options, ``run`` for one-shots); the
SDK (``docker.engine``) does what it is good at (inspect, exec, health, logs,
archives). Nothing here re-implements compose.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dj_database_url

from django_deploykit.docker.engine import docker_cli
from django_deploykit.exceptions import ConfigError, DeployKitError, ServiceUnavailable

__all__ = ["Compose", "ComposeError", "Stack"]

WEB = "web"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"


class ComposeError(DeployKitError):
    """A ``docker compose`` command failed; the message carries its last output lines."""

    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


@dataclass
class Stack:
    """What deploy needs to know about the compose project, from ``compose config``."""

    project: str
    services: dict[str, dict[str, Any]]
    volumes: dict[str, dict[str, Any]]
    #: Image name compose runs the app services from (``<project>:latest`` by default).
    app_image: str
    #: Long-running services that run the app image: web first, beat last.
    app_services: list[str] = field(default_factory=list)
    #: One-shot services (migrate): run to completion, never replaced.
    oneshots: list[str] = field(default_factory=list)
    #: Services that proxy to web (nginx): reloaded when web containers change.
    proxies: list[str] = field(default_factory=list)
    #: The rest: databases, search, redis.
    backing: list[str] = field(default_factory=list)

    @property
    def image_repo(self) -> str:
        name, _, tag = self.app_image.rpartition(":")
        return name if name and "/" not in tag else self.app_image

    @property
    def database_url(self) -> str:
        env = self.services[WEB].get("environment") or {}
        return env.get("DATABASE_URL") or ""

    @property
    def db_vendor(self) -> str:
        """sqlite, mariadb or postgres: what the web service's DATABASE_URL points at."""
        url = self.database_url
        if not url:
            return "sqlite"  # the Dockerfile's default: a file on the data volume
        engine = dj_database_url.parse(url)["ENGINE"]
        return {"sqlite3": "sqlite", "mysql": "mariadb", "postgresql": "postgres"}.get(
            engine.rsplit(".", 1)[-1], engine
        )

    @property
    def sqlite_path(self) -> str:
        url = self.database_url or "sqlite:////app/data/db.sqlite3"
        name = str(dj_database_url.parse(url)["NAME"])
        if not name.startswith("/"):
            name = f"/app/{name}"
        return name

    def volume_at(self, service: str, directory: str) -> str | None:
        """The real name of the named volume mounted at ``directory`` in ``service``."""
        for mount in self.services[service].get("volumes") or []:
            if mount.get("type") == "volume" and mount.get("target") == directory:
                source = mount["source"]
                return str(self.volumes.get(source, {}).get("name") or f"{self.project}_{source}")
        return None

    def fixed_host_port(self, service: str) -> bool:
        """Whether ``service`` publishes a fixed host port (two replicas cannot coexist)."""
        return any(
            str(p.get("published") or "") not in ("", "0")
            for p in self.services[service].get("ports") or []
        )

    def has_healthcheck(self, service: str) -> bool:
        check = self.services[service].get("healthcheck") or {}
        return not check.get("disable")


def _stack(config: Mapping[str, Any]) -> Stack:
    services: dict[str, dict[str, Any]] = dict(config.get("services") or {})
    if WEB not in services:
        raise ConfigError(
            f"The compose file has no {WEB!r} service ({', '.join(sorted(services)) or 'none'}): "
            "deploy drives the stack `manage.py dockerize` generates; run it first."
        )
    app_image = services[WEB].get("image") or f"{config['name']}-{WEB}"
    oneshots = []
    for svc in services.values():
        for dep, cond in (svc.get("depends_on") or {}).items():
            if cond.get("condition") == "service_completed_successfully" and dep not in oneshots:
                oneshots.append(dep)
    app = [n for n, s in services.items() if s.get("image") == app_image and n not in oneshots]
    order = {WEB: 0, "worker": 1, "beat": 3}
    app.sort(key=lambda n: (order.get(n, 2), n))
    proxies = [
        n for n, s in services.items() if n not in app and WEB in (s.get("depends_on") or {})
    ]
    backing = [n for n in services if n not in app and n not in oneshots and n not in proxies]
    return Stack(
        project=str(config["name"]),
        services=services,
        volumes=dict(config.get("volumes") or {}),
        app_image=app_image,
        app_services=app,
        oneshots=oneshots,
        proxies=proxies,
        backing=backing,
    )


class Compose:
    """``docker compose`` for one project directory (and its env file and project name)."""

    def __init__(
        self,
        directory: Path,
        *,
        files: Sequence[str] = (),
        project: str | None = None,
        env_file: str | None = None,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.files = list(files)
        self.project = project
        self.env_file = env_file
        self._stack: Stack | None = None
        #: Variables set for every compose command (e.g. APP_IMAGE for a deploy).
        self.env: dict[str, str] = {}

    def argv(self, *args: str) -> list[str]:
        argv = [docker_cli(), "compose", "--project-directory", str(self.directory)]
        for f in self.files:
            argv += ["--file", f]
        if self.project:
            argv += ["--project-name", self.project]
        if self.env_file:
            argv += ["--env-file", self.env_file]
        return [*argv, *args]

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        capture: bool = True,
        output: Callable[[str], None] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker compose ARGS``; with ``output``, stream its lines there."""
        full_env = {**os.environ, **self.env, **(env or {})}
        argv = self.argv(*args)
        try:
            if output is None:
                result = subprocess.run(
                    argv,
                    env=full_env,
                    capture_output=capture,
                    text=True,
                    check=False,
                    cwd=self.directory,
                )
            else:
                lines: list[str] = []
                with subprocess.Popen(
                    argv,
                    env=full_env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    bufsize=1,
                    cwd=self.directory,
                ) as proc:
                    assert proc.stdout is not None
                    for line in proc.stdout:
                        lines.append(line.rstrip("\n"))
                        output(lines[-1])
                result = subprocess.CompletedProcess(argv, proc.returncode, "\n".join(lines), "")
        except FileNotFoundError as exc:
            raise ServiceUnavailable(
                f"Cannot run docker compose ({exc.filename}): install Docker with the Compose "
                "v2 plugin (https://docs.docker.com/compose/install/)."
            ) from None
        if check and result.returncode != 0:
            tail = "\n".join(
                ((result.stderr or "") + (result.stdout or "")).strip().splitlines()[-15:]
            )
            raise ComposeError(
                f"`docker compose {' '.join(args)}` failed (exit code {result.returncode}):\n"
                f"{tail}",
                result.returncode,
            )
        return result

    def stack(self) -> Stack:
        """The stack as compose resolves it (variables from the env file applied)."""
        if self._stack is None:
            if not self.files and not any(
                (self.directory / n).exists()
                for n in (
                    "compose.yaml",
                    "compose.yml",
                    "docker-compose.yaml",
                    "docker-compose.yml",
                )
            ):
                raise ConfigError(
                    f"No compose file in {self.directory}: run `manage.py dockerize` there "
                    "first, or give --file."
                )
            try:
                result = self.run("config", "--format", "json")
            except ComposeError as exc:
                raise ConfigError(
                    f"{exc}\nFix the compose file or the env file it reads (nothing was changed)."
                ) from None
            self._stack = _stack(json.loads(result.stdout))
            if self.project is None:
                self.project = self._stack.project
        return self._stack
