"""``deploy --target swarm``: drive the Swarm stack that ``dockerize --target swarm`` wrote.

The stack file already encodes the order of a rollout: ``migrate`` is a
``replicated-job`` re-run when its image changes, web and workers start only once
this revision's migrations ran (``WAIT_FOR_MIGRATIONS``), updates start the new
task first and Swarm rolls back a task that fails its health check. ``deploy``
adds what an operator would do by hand around ``docker stack deploy``: build and
tag the revision (push it when the repository names a registry), check that the
files the stack reads exist (before anything is created), deploy, wait for the
revision's migrate job, wait until every app service has converged, report, and
undo (``docker service rollback``) what did not.

``deploy rollback`` is ``docker service rollback`` of the app services (Swarm
keeps the spec before the last update: running it again goes forward again).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from django_deploykit.deploy import images
from django_deploykit.deploy.rolling import first_error
from django_deploykit.deploy.steps import RecoveryFailed, Step, StepFailed
from django_deploykit.deploy.target import Target, engine_name
from django_deploykit.exceptions import ConfigError, ServiceUnavailable

__all__ = ["Swarm", "code_steps", "logs", "rollback_steps", "status_table"]

STACK_FILE = "swarm/stack.yml"
APP_ROLES = ("web", "worker", "beat")
MIGRATE_TIMEOUT = 600
_NS = 1e9
_DONE = {"complete", "failed", "rejected", "shutdown", "orphaned"}


def stack_cli() -> str:
    """A docker CLI that can deploy job services (``docker stack deploy`` from CLI 23 on)."""
    seen = []
    for cli in (shutil.which("docker"), "/usr/local/bin/docker", "/usr/bin/docker"):
        if not cli or not os.access(cli, os.X_OK) or cli in seen:
            continue
        seen.append(cli)
        result = subprocess.run(
            [cli, "version", "--format", "{{.Client.Version}}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        major = re.match(r"(\d+)\.", result.stdout.strip())
        if major and int(major[1]) >= 23:
            return cli
    raise ServiceUnavailable(
        "`deploy --target swarm` needs a docker CLI 23 or later (the stack's migrate job "
        "is a job service): install Docker's own docker-ce-cli package."
    )


@dataclass(frozen=True)
class Swarm:
    """The stack: its name, its file, and the compose target (for building the image)."""

    target: Target
    name: str
    file: Path
    cli: str

    @classmethod
    def of(cls, target: Target, name: str | None) -> Swarm:
        file = target.compose.directory / STACK_FILE
        if not file.is_file():
            raise ConfigError(
                f"No {STACK_FILE} in {target.compose.directory}: run `manage.py dockerize "
                "--target swarm` first."
            )
        stack_name = name or target.project
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", stack_name):
            raise ConfigError(f"{stack_name!r} is not a usable stack name (-p NAME).")
        return cls(target, stack_name, file, stack_cli())

    @property
    def out(self) -> Callable[[str], None]:
        return self.target.out

    def run(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.cli, *args],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=self.file.parent,
            check=False,
            timeout=600,
        )
        if check and result.returncode != 0:
            raise StepFailed(
                f"`docker {' '.join(args[:3])}` failed (exit code {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-600:]}"
            )
        return result

    def services(self) -> dict[str, dict[str, Any]]:
        """The stack's services by role (``web``, ``migrate``…), as ``docker inspect`` has them."""
        found = self.target.client.api.services(
            filters={"label": f"com.docker.stack.namespace={self.name}"}
        )
        prefix = f"{self.name}_"
        return {s["Spec"]["Name"].removeprefix(prefix): s for s in found}

    def service(self, role: str) -> dict[str, Any]:
        return self.target.client.api.inspect_service(f"{self.name}_{role}")

    def tasks(self, role: str) -> list[dict[str, Any]]:
        tasks = self.target.client.api.tasks(filters={"service": f"{self.name}_{role}"})
        return sorted(tasks, key=lambda t: t.get("CreatedAt", ""))

    def app_roles(self) -> list[str]:
        services = self.services()
        return [r for r in APP_ROLES if r in services]

    def file_roles(self) -> list[str]:
        spec = yaml.safe_load(self.file.read_text(encoding="utf-8")) or {}
        return list(spec.get("services") or {})


def _image(service: dict[str, Any]) -> str:
    return str(service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]).split("@", 1)[0]


def _tag(image: str) -> str:
    name, _, tag = image.rpartition(":")
    return tag if name and "/" not in tag else "latest"


def _is_registry(repo: str) -> bool:
    first = repo.split("/", 1)[0]
    return "/" in repo and ("." in first or ":" in first or first == "localhost")


def check_files(swarm: Swarm, env: dict[str, str]) -> None:
    """Every file the stack's secrets and configs read exists (paths are relative to the
    stack file, as ``docker stack deploy`` reads them): before anything is created.
    """
    result = swarm.run("stack", "config", "-c", str(swarm.file), env=env, check=False)
    if result.returncode != 0:
        raise ConfigError(
            f"{STACK_FILE} cannot be read with this environment: "
            f"{result.stderr.strip()[-500:]}\nNothing was changed."
        )
    config = yaml.safe_load(result.stdout) or {}
    missing = []
    for kind in ("secrets", "configs"):
        for name, spec in (config.get(kind) or {}).items():
            file = (spec or {}).get("file")
            if file and not (swarm.file.parent / file).is_file():
                missing.append(f"{kind[:-1]} {name}: {(swarm.file.parent / file).resolve()}")
    if missing:
        raise ConfigError(
            "The stack reads files that do not exist (relative paths count from "
            f"{swarm.file.parent}; give TLS_CERT_DIR as an absolute path): "
            + "; ".join(missing)
            + ". Nothing was changed."
        )


def _task_failure(swarm: Swarm, role: str, image: str) -> str:
    """Why the newest task of ``role`` on ``image`` failed: state, exit code, first error."""
    failed = [
        t
        for t in swarm.tasks(role)
        if _image_of_task(t) == image and t["Status"]["State"] in ("failed", "rejected", "shutdown")
    ]
    if not failed:
        return ""
    task = failed[-1]
    status = task["Status"]
    code = status.get("ContainerStatus", {}).get("ExitCode")
    text = f"task {task['ID'][:12]}: {status['State']}"
    if status.get("Err"):
        text += f" ({status['Err']})"
    if code not in (None, 0):
        text += f", its process exited with code {code}"
    logs = swarm.run("service", "logs", "--raw", "--no-trunc", task["ID"], check=False)
    error = first_error(logs.stdout + logs.stderr)
    return text + (f"\nThe first error it logged:\n{error}" if error else "")


def _image_of_task(task: dict[str, Any]) -> str:
    return str(task["Spec"]["ContainerSpec"]["Image"]).split("@", 1)[0]


def _wait_job(swarm: Swarm, image: str) -> None:
    """Wait for the migrate job's run with ``image``; StepFailed if it failed."""
    deadline = time.monotonic() + MIGRATE_TIMEOUT
    while time.monotonic() < deadline:
        runs = [t for t in swarm.tasks("migrate") if _image_of_task(t) == image]
        if any(t["Status"]["State"] == "complete" for t in runs):
            return
        attempts = [t for t in runs if t["Status"]["State"] in _DONE - {"complete"}]
        job = swarm.service("migrate")
        max_attempts = job["Spec"]["TaskTemplate"].get("RestartPolicy", {}).get("MaxAttempts") or 1
        if len(attempts) >= max_attempts and not any(
            t["Status"]["State"] not in _DONE for t in runs
        ):
            raise StepFailed(
                f"the migrate job with {image} failed: {_task_failure(swarm, 'migrate', image)}",
                container=f"{swarm.name}_migrate",
            )
        time.sleep(2)
    raise StepFailed(
        f"the migrate job with {image} did not finish in {MIGRATE_TIMEOUT}s",
        container=f"{swarm.name}_migrate",
    )


def _deadline(service: dict[str, Any], health_timeout: float) -> float:
    """How long an update of ``service`` may take: per task the health timeout and the
    update delay, then Swarm's monitor window.
    """
    spec = service["Spec"]
    update = spec.get("UpdateConfig") or {}
    replicas = spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 1) or 1
    delay = update.get("Delay", 0) / _NS
    monitor = update.get("Monitor", 5 * _NS) / _NS
    return replicas * (health_timeout + delay) + monitor + 30


def _since(stamp: str) -> float:
    """Seconds since the epoch of a Docker timestamp (0 when there is none)."""
    try:
        when = dt.datetime.fromisoformat(stamp[:19]).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return 0.0
    return when.timestamp()


def _converged(
    swarm: Swarm, role: str, image: str, started: float, rollback: bool = False
) -> tuple[str, str]:
    """("ok" | "wait" | "rolled back" | "paused", detail) for one app service; an update
    status from before ``started`` (an earlier deploy's) does not count.
    """
    service = swarm.service(role)
    update = service.get("UpdateStatus") or {}
    fresh = _since(update.get("StartedAt", "")) >= started - 2
    state = update.get("State", "") if fresh else ""
    if state == "rollback_completed" and not rollback:
        return "rolled back", (service.get("UpdateStatus") or {}).get("Message", "")
    if state in ("paused", "rollback_paused"):
        return "paused", (service.get("UpdateStatus") or {}).get("Message", "")
    if state in ("updating", "rollback_started"):
        return "wait", state
    replicas = service["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 1)
    running = [
        t
        for t in swarm.tasks(role)
        if t.get("DesiredState") == "running"
        and t["Status"]["State"] == "running"
        and _image_of_task(t) == image
        and _healthy(swarm, t)
    ]
    if _image(service) == image and len(running) >= replicas:
        return "ok", f"{len(running)}/{replicas} tasks running {_tag(image)}"
    return "wait", f"{len(running)}/{replicas} tasks"


def _healthy(swarm: Swarm, task: dict[str, Any]) -> bool:
    container = task["Status"].get("ContainerStatus", {}).get("ContainerID")
    if not container:
        return False
    try:
        info = swarm.target.client.api.inspect_container(container)
    except Exception:  # noqa: BLE001 - a task on another node: Swarm's state must do
        return True
    health = info.get("State", {}).get("Health")
    return health is None or health.get("Status") == "healthy"


def _undo(swarm: Swarm, roles: list[str], why: str) -> None:
    swarm.out(f"      undoing: docker service rollback {' '.join(roles)} ({why})")
    for role in roles:
        result = swarm.run("service", "rollback", "--detach", f"{swarm.name}_{role}", check=False)
        if result.returncode != 0:
            raise RecoveryFailed(
                f"{why}; rolling {role} back failed too: {result.stderr.strip()[-300:]}",
                container=f"{swarm.name}_{role}",
                hint=f"Check `docker stack ps {swarm.name}` and `manage.py deploy logs "
                f"--target swarm {role}`.",
            )


def _wait_all(
    swarm: Swarm,
    roles: list[str],
    image: str,
    before: dict[str, str],
    started: float,
    rollback: bool = False,
) -> None:
    deadlines = {
        r: time.monotonic() + _deadline(swarm.service(r), swarm.target.health_timeout)
        for r in roles
    }
    pending = list(roles)
    while pending:
        for role in list(pending):
            state, detail = _converged(swarm, role, image, started, rollback)
            if state == "ok":
                swarm.out(f"      {swarm.name}_{role}: {detail}")
                pending.remove(role)
            elif state == "rolled back" or state == "paused" or time.monotonic() > deadlines[role]:
                cause = _task_failure(swarm, role, image)
                why = (
                    f"Swarm rolled {role} back by itself ({detail})"
                    if state == "rolled back"
                    else f"{role} did not converge ({state}: {detail or 'timed out'})"
                )
                # Undo what changed (a new service has nothing to go back to).
                changed = [
                    r
                    for r in roles
                    if before.get(r) not in (None, image) and (r != role or state != "rolled back")
                ]
                if changed:
                    _undo(swarm, changed, why)
                _wait_back(swarm, changed, before)
                undone = (
                    "Rolled back: the previous version is serving. Migrations the new code "
                    "applied stay applied (they must be backwards compatible)."
                    if before
                    else "This was the first deploy, so there is nothing to roll back to."
                )
                raise StepFailed(
                    f"the new {role} tasks never became healthy: {cause or detail}",
                    container=f"{swarm.name}_{role}",
                    hint=f"{why}. {undone} Fix the cause, commit, and deploy again.",
                )
        if pending:
            time.sleep(2)


def _wait_back(swarm: Swarm, roles: list[str], before: dict[str, str]) -> None:
    deadline = time.monotonic() + 300
    for role in roles:
        while time.monotonic() < deadline:
            service = swarm.service(role)
            state = (service.get("UpdateStatus") or {}).get("State", "")
            if _image(service) == before.get(role) and state not in (
                "updating",
                "rollback_started",
            ):
                break
            time.sleep(2)


def code_steps(swarm: Swarm, *, tag: str | None, migrate: bool) -> list[Step]:
    target = swarm.target
    if not migrate:
        raise ConfigError(
            "--no-migrate does not apply to a Swarm stack: its migrate job runs once per "
            "revision by design (and finds nothing to do when there is nothing to migrate)."
        )
    rev, warning = images.revision(target.compose.directory, tag)
    if warning:
        swarm.out(f"warning: {warning}")
    repo = target.stack.image_repo
    image = f"{repo}:{rev}"
    env = {"APP_IMAGE": image}
    check_files(swarm, env)
    roles = [r for r in swarm.file_roles() if r in APP_ROLES]
    state: dict[str, Any] = {}

    def build() -> None:
        target.compose.run(
            "build", "web", env=env, output=lambda line: swarm.out(f"      | {line}")
        )
        if _is_registry(repo):
            swarm.out(f"      pushing {image} (every node pulls it from there)")
            swarm.run("push", image)

    def deploy() -> None:
        services = swarm.services()
        state["before"] = {r: _image(s) for r, s in services.items() if r in APP_ROLES}
        started = time.time()
        result = swarm.run(
            "stack",
            "deploy",
            "--detach=true",
            "--resolve-image",
            "changed" if _is_registry(repo) else "never",
            *(["--with-registry-auth"] if _is_registry(repo) else []),
            "-c",
            str(swarm.file),
            swarm.name,
            env=env,
        )
        for line in (result.stdout + result.stderr).strip().splitlines():
            swarm.out(f"      | {line}")
        if "migrate" in swarm.file_roles():
            swarm.out(f"      waiting for the migrate job with {rev}…")
            try:
                _wait_job(swarm, image)
            except StepFailed as exc:
                changed = [r for r in roles if state["before"].get(r) not in (None, image)]
                if changed:
                    _undo(swarm, changed, "the migrate job failed")
                    _wait_back(swarm, changed, state["before"])
                    exc.hint = "Rolled back: the previous version is serving."
                raise
            swarm.out("      migrate job complete")
        _wait_all(swarm, roles, image, state["before"], started)

    return [
        Step(
            "build",
            f"build {image} from {target.compose.directory} on {engine_name()}"
            + (" and push it" if _is_registry(repo) else ""),
            build,
        ),
        Step(
            "rollout",
            f"docker stack deploy {swarm.name} with {image}: the migrate job runs first, "
            f"then {', '.join(roles)} roll start-first; wait until they converge (undone "
            "if they do not)",
            deploy,
            critical=True,
        ),
    ]


def rollback_steps(swarm: Swarm) -> list[Step]:
    roles = swarm.app_roles()
    if not roles:
        raise ConfigError(f"No stack {swarm.name!r} on {engine_name()}: deploy it first.")
    web = swarm.service("web" if "web" in roles else roles[0])
    previous = web.get("PreviousSpec")
    if previous is None:
        raise ConfigError(
            f"No previous version of {swarm.name} is recorded on {engine_name()}: there is "
            "nothing to roll back to."
        )
    if (web.get("UpdateStatus") or {}).get("State") == "rollback_completed":
        raise ConfigError(
            f"The last deploy of {swarm.name} was already rolled back (the previous version "
            f"is serving: {_tag(_image(web))})."
        )
    target_image = str(previous["TaskTemplate"]["ContainerSpec"]["Image"]).split("@", 1)[0]
    before = {r: _image(swarm.service(r)) for r in roles}

    def run() -> None:
        started = time.time()
        for role in roles:
            swarm.run("service", "rollback", "--detach", f"{swarm.name}_{role}")
        _wait_all(swarm, roles, target_image, before, started, rollback=True)

    return [
        Step(
            "rollback",
            f"docker service rollback {', '.join(roles)} to {_tag(target_image)} (start-first; "
            "migrations are not reversed)",
            run,
            critical=True,
        )
    ]


def status_table(swarm: Swarm) -> list[str]:
    services = swarm.services()
    if not services:
        return [f"No stack {swarm.name!r} on {engine_name()}."]
    rows = [("SERVICE", "MODE", "TASKS", "VERSION", "UPDATE")]
    for role, service in sorted(services.items()):
        mode = next(iter(service["Spec"].get("Mode", {})), "?")
        tasks = swarm.tasks(role)
        if mode == "ReplicatedJob":
            done = [t for t in tasks if t["Status"]["State"] == "complete"]
            count = f"{len(done)} complete"
        else:
            desired = service["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 1)
            running = [t for t in tasks if t["Status"]["State"] == "running"]
            count = f"{len(running)}/{desired}"
        update = (service.get("UpdateStatus") or {}).get("State", "-")
        rows.append((role, mode.lower(), count, _tag(_image(service)), update))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"Stack {swarm.name} on {engine_name()}:"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines


def logs(
    swarm: Swarm, role: str | None, *, follow: bool, tail: int | None, out: Callable[[str], None]
) -> None:
    services = swarm.services()
    if role is not None and role not in services:
        raise ConfigError(
            f"No service {role!r} in stack {swarm.name}: use one of {', '.join(services)}."
        )
    for name in [role] if role else list(services):
        argv = [swarm.cli, "service", "logs", "--no-trunc"]
        argv += ["--tail", str(tail)] if tail is not None else []
        argv += ["--follow"] if follow else []
        with subprocess.Popen(
            [*argv, f"{swarm.name}_{name}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                out(line.rstrip("\n"))
