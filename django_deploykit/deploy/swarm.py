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

``deploy rollback`` updates the app services to ``<repo>:previous`` (the image
that ran before the last deploy, tagged on the engine as on one host; Swarm's own
``service rollback`` cannot be used twice): running it again goes forward again.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django_deploykit.deploy import images
from django_deploykit.deploy.backups import backup_stamp, private_directory
from django_deploykit.deploy.rolling import first_error
from django_deploykit.deploy.steps import RecoveryFailed, Step, StepFailed
from django_deploykit.deploy.target import Target, engine_name
from django_deploykit.exceptions import ConfigError, ServiceUnavailable
from django_deploykit.extras import require

__all__ = ["Swarm", "backup_steps", "code_steps", "logs", "rollback_steps", "status_table"]

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
        yaml = require("yaml", "deploy")
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
    config = require("yaml", "deploy").safe_load(result.stdout) or {}
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
    """Why the tasks of ``role`` on ``image`` failed: state, exit code, first logged error."""
    ended = [
        t
        for t in reversed(swarm.tasks(role))
        if _image_of_task(t) == image and t["Status"]["State"] in ("failed", "rejected", "shutdown")
    ]
    if not ended:
        return ""
    # A task that failed says more than one Swarm shut down while rolling back.
    ended.sort(key=lambda t: t["Status"]["State"] == "shutdown")
    status = ended[0]["Status"]
    code = status.get("ContainerStatus", {}).get("ExitCode")
    text = f"task {ended[0]['ID'][:12]}: {status['State']}"
    if status.get("Err"):
        text += f" ({status['Err']})"
    if code not in (None, 0):
        text += f", its process exited with code {code}"
    for task in ended:
        error = first_error(_task_logs(swarm, task))
        if error:
            return f"{text}\nThe first error it logged:\n{error}"
    return text


def _task_logs(swarm: Swarm, task: dict[str, Any]) -> str:
    """The task's container's logs (on this node), else what `docker service logs` has."""
    container = task["Status"].get("ContainerStatus", {}).get("ContainerID")
    if container:
        try:
            return swarm.target.client.containers.get(container).logs().decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - on another node, or already removed
            pass
    logs = swarm.run("service", "logs", "--raw", "--no-trunc", task["ID"], check=False)
    return logs.stdout + logs.stderr


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


def _converged(swarm: Swarm, role: str, image: str, started: float) -> tuple[str, str]:
    """("ok" | "wait" | "rolled back" | "paused", detail) for one app service; an update
    status from before ``started`` (an earlier deploy's) does not count.
    """
    service = swarm.service(role)
    update = service.get("UpdateStatus") or {}
    fresh = _since(update.get("StartedAt", "")) >= started - 2
    state = update.get("State", "") if fresh else ""
    if state == "rollback_completed":
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
    swarm: Swarm, roles: list[str], image: str, before: dict[str, str], started: float
) -> None:
    deadlines = {
        r: time.monotonic() + _deadline(swarm.service(r), swarm.target.health_timeout)
        for r in roles
    }
    pending = list(roles)
    while pending:
        for role in list(pending):
            state, detail = _converged(swarm, role, image, started)
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
        _record_previous(swarm, state["before"].get("web"), image)

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


def _record_previous(swarm: Swarm, before: str | None, now: str) -> None:
    """Tag what ran before as ``<repo>:previous`` (on this engine, as on one host)."""
    if not before or before == now:
        return
    image = images.image_or_none(swarm.target, before)
    if image is None:
        swarm.out(f"warning: {before} is not on {engine_name()}: `deploy rollback` cannot use it")
        return
    images.tag_image(image, images.previous_tag(swarm.target))


def rollback_steps(swarm: Swarm) -> list[Step]:
    """Back to ``<repo>:previous`` (Swarm forgets a service's previous spec once it rolled
    back, so deploy keeps its own record, as on one host); again goes forward again.
    """
    target = swarm.target
    roles = swarm.app_roles()
    if not roles:
        raise ConfigError(f"No stack {swarm.name!r} on {engine_name()}: deploy it first.")
    previous = images.previous_image(target, swarm.name, "deploy code --target swarm")
    ref = f"{target.stack.image_repo}:{images.revision_of(target, previous)}"
    before = {r: _image(swarm.service(r)) for r in roles}
    if before.get("web", before[roles[0]]) == ref:
        raise ConfigError(f"The stack already runs the previous version ({_tag(ref)}).")
    registry = _is_registry(target.stack.image_repo)

    def run() -> None:
        started = time.time()
        for role in roles:
            swarm.run(
                "service",
                "update",
                "--detach",
                "--image",
                ref,
                *(["--with-registry-auth"] if registry else ["--no-resolve-image"]),
                f"{swarm.name}_{role}",
            )
        _wait_all(swarm, roles, ref, before, started)
        _record_previous(swarm, before.get("web"), ref)

    return [
        Step(
            "rollback",
            f"update {', '.join(roles)} to {_tag(ref)} (start-first, one task at a time; "
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


#: A dump of the in-cluster database, run in its task container (credentials stay there).
_DUMP = {
    "postgres": (
        ".pgdump",
        'exec pg_dump --username="$POSTGRES_USER" --format=custom --no-owner '
        '"${POSTGRES_DB:-$POSTGRES_USER}"',
    ),
    "mariadb": (
        ".sql.gz",
        'MYSQL_PWD="$(cat "$MARIADB_ROOT_PASSWORD_FILE")" exec mariadb-dump --user=root '
        '--single-transaction --routines --triggers --hex-blob "$MARIADB_DATABASE"',
    ),
}


def backup_steps(swarm: Swarm, *, keep: int, output: str | None) -> list[Step]:
    """Dump the stack's in-cluster database into a local directory (0600 files, 0700 dir)."""
    if not output:
        raise ConfigError(
            "A Swarm stack's backup is written to a directory of this machine: give "
            "--output DIR (copy it off the cluster from there)."
        )
    vendor = swarm.target.stack.db_vendor
    if vendor not in _DUMP or "db" not in swarm.file_roles():
        raise ConfigError(
            f"The stack {swarm.name} runs no database of its own (--database-in-cluster): "
            "back up the external database with its provider's tools."
        )
    directory = Path(output)
    ext, script = _DUMP[vendor]

    def run() -> None:
        found = swarm.target.client.containers.list(
            filters={"label": f"com.docker.swarm.service.name={swarm.name}_db"}
        )
        if not found:
            raise StepFailed(
                f"No running {swarm.name}_db task on {engine_name()}: run the backup on the "
                "node that has it (the node labelled deploykit.db), or with DOCKER_HOST "
                "naming that node."
            )
        private_directory(directory, swarm.out)
        dest = directory / f"{swarm.name}-{backup_stamp()}{ext}"
        _dump(swarm, found[0], script, dest, gzipped=ext.endswith(".gz"))
        swarm.out(f"      {dest} ({dest.stat().st_size} bytes)")
        backups = sorted(p for p in directory.glob(f"{swarm.name}-*{ext}") if p.is_file())
        for old in backups[: max(len(backups) - keep, 0)]:
            old.unlink()
            swarm.out(f"      pruned {old.name}")

    return [
        Step(
            "backup",
            f"dump the {vendor} database of stack {swarm.name} into {directory} (keep {keep})",
            run,
        )
    ]


def _dump(swarm: Swarm, container: Any, script: str, dest: Path, *, gzipped: bool) -> None:
    api = swarm.target.client.api
    exec_id = api.exec_create(container.id, ["sh", "-c", script], stdout=True, stderr=True)["Id"]
    errors: list[bytes] = []
    # A new 0600 file, never an existing one; removed again if the dump fails.
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            sink: Any = gzip.GzipFile(fileobj=raw, mode="wb") if gzipped else raw
            for out, err in api.exec_start(exec_id, stream=True, demux=True):
                if out:
                    sink.write(out)
                if err:
                    errors.append(err)
            if gzipped:
                sink.close()
        code = api.exec_inspect(exec_id).get("ExitCode")
        if code != 0:
            raise StepFailed(
                f"the database dump failed (exit code {code}): "
                f"{b''.join(errors).decode('utf-8', 'replace').strip()[-400:]}",
                container=container.name,
            )
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
