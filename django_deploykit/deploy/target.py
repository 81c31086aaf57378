"""The deployment target: the compose project, the engine it runs on, and how to talk to both."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django_deploykit.deploy.compose import (
    ONEOFF_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
    Compose,
    Stack,
)
from django_deploykit.docker import engine

__all__ = ["Target", "engine_name"]


def engine_name() -> str:
    return os.environ.get("DOCKER_HOST") or "the local engine"


@dataclass
class Target:
    compose: Compose
    out: Callable[[str], None] = print
    #: Seconds a new container gets to become healthy before it is rolled back.
    health_timeout: float = 120.0
    _client: Any = field(default=None, repr=False)

    @classmethod
    def from_options(
        cls,
        directory: Path,
        *,
        files: list[str],
        project: str | None,
        env_file: str | None,
        out: Callable[[str], None],
        health_timeout: float,
    ) -> Target:
        compose = Compose(directory, files=files, project=project, env_file=env_file)
        return cls(compose=compose, out=out, health_timeout=health_timeout)

    @property
    def stack(self) -> Stack:
        return self.compose.stack()

    @property
    def project(self) -> str:
        return self.stack.project if self.compose.project is None else self.compose.project

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = engine.client(timeout=60)
        return self._client

    def containers(self, service: str, *, all: bool = False) -> list[Any]:
        """The service's containers (not one-off ``run`` ones), oldest first."""
        labels = [f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={service}"]
        found = self.client.containers.list(all=all, filters={"label": labels})
        found = [c for c in found if c.labels.get(ONEOFF_LABEL) != "True"]
        return sorted(found, key=lambda c: c.attrs.get("Created", ""))

    def running(self, service: str) -> Any | None:
        found = self.containers(service)
        return found[-1] if found else None

    def exec(self, container: Any, argv: list[str], *, stream: bool = True) -> tuple[int, str]:
        """Run ``argv`` in ``container``, printing its output lines; (exit code, output)."""
        api = self.client.api
        exec_id = api.exec_create(container.id, argv, stdout=True, stderr=True)["Id"]
        chunks: list[str] = []
        pending = ""
        for chunk in api.exec_start(exec_id, stream=True):
            text = pending + chunk.decode("utf-8", "replace")
            *lines, pending = text.split("\n")
            for line in lines:
                chunks.append(line)
                if stream:
                    self.out(f"      | {line}")
        if pending:
            chunks.append(pending)
            if stream:
                self.out(f"      | {pending}")
        code = api.exec_inspect(exec_id).get("ExitCode")
        return int(code if code is not None else 1), "\n".join(chunks)
