"""The plans of ``deploy code``, ``deploy rollback`` and ``deploy reindex``.

Images are built from the operator's checkout by the target engine (the build
context travels over ``DOCKER_HOST``; BuildKit only sends changed files and
keeps its cache on the server). No registry and no git access on the server
are needed, and the revision tag names exactly the code that was tested.
"""

from __future__ import annotations

from typing import Any

from django_deploykit.deploy import images
from django_deploykit.deploy.rolling import switch
from django_deploykit.deploy.steps import Step, StepFailed
from django_deploykit.deploy.target import Target, engine_name
from django_deploykit.exceptions import ConfigError

__all__ = ["code_steps", "reindex_steps", "rollback_steps", "running_web"]


def code_steps(target: Target, *, tag: str | None = None, migrate: bool = True) -> list[Step]:
    stack = target.stack
    rev, warning = images.revision(target.compose.directory, tag)
    if warning:
        target.out(f"warning: {warning}")
    if engine_name().startswith(("ssh://", "tcp://")):
        binds = sorted(
            {
                m["source"]
                for svc in stack.services.values()
                for m in svc.get("volumes") or []
                if m.get("type") == "bind"
            }
        )
        if binds:
            target.out(
                f"warning: the engine at {engine_name()} mounts these paths from ITS "
                f"filesystem, so they must exist there: {', '.join(binds)}"
            )
    build_name = f"{stack.image_repo}:{rev}"
    state: dict[str, Any] = {}  # docker Image objects

    def build() -> None:
        state["old"] = images.current_image(target)
        target.compose.run(
            "build",
            "web",
            env={"APP_IMAGE": build_name},
            output=lambda line: target.out(f"      | {line}"),
        )
        state["new"] = target.client.images.get(build_name)

    def backing() -> None:
        target.compose.run("up", "--detach", "--wait", "--no-deps", *stack.backing)

    def run_oneshots() -> None:
        for service in stack.oneshots:
            result = target.compose.run(
                "run",
                "--rm",
                "--no-deps",
                "--no-TTY",
                service,
                env={"APP_IMAGE": build_name},
                output=lambda line: target.out(f"      | {line}"),
                check=False,
            )
            if result.returncode != 0:
                raise StepFailed(
                    f"`{service}` with {build_name} exited with code {result.returncode} "
                    "(output above).",
                    container=f"{stack.project}-{service}-run",
                    hint="Nothing was switched: the previous version still serves. Fix the "
                    "migration and deploy again.",
                )

    def do_switch() -> None:
        old, new = state.get("old"), state["new"]
        if old is not None and old.id == new.id and _all_run(target, new):
            target.out(f"      every app container already runs {rev}: nothing to replace")
            return
        switch(target, new, old)
        if old is not None and getattr(old, "id", None) != getattr(state["new"], "id", None):
            images.tag_image(old, images.previous_tag(target))

    def proxies() -> None:
        target.compose.run("up", "--detach", "--wait", "--no-deps", "--no-recreate", *stack.proxies)

    steps = [
        Step(
            "build",
            f"build {build_name} from {target.compose.directory} on "
            f"{engine_name()} (compose build web)",
            build,
        ),
    ]
    if stack.backing:
        steps.append(
            Step(
                "services",
                f"start {', '.join(stack.backing)} if they are not running, and wait until healthy",
                backing,
            )
        )
    if migrate and stack.oneshots:
        steps.append(
            Step(
                "migrate",
                f"run the one-shot {', '.join(stack.oneshots)} with {build_name}",
                run_oneshots,
            )
        )
    steps.append(
        Step(
            "switch",
            f"tag {build_name} as {stack.app_image}, then replace "
            f"{', '.join(stack.app_services)} one container at a time, each healthy before the "
            "next (automatic rollback if one never gets healthy)",
            do_switch,
            critical=True,
        )
    )
    if stack.proxies:
        steps.append(Step("proxies", f"start {', '.join(stack.proxies)} if not running", proxies))
    return steps


def _all_run(target: Target, image: Any) -> bool:
    services = target.stack.app_services
    return all(
        (found := target.containers(s)) and all(c.image.id == image.id for c in found)
        for s in services
    )


def rollback_steps(target: Target) -> list[Step]:
    stack = target.stack
    previous = images.image_or_none(target, images.previous_tag(target))
    if previous is None:
        raise ConfigError(
            f"No previous deploy is recorded on {engine_name()} (no image "
            f"{images.previous_tag(target)}): there is nothing to roll back to. Deploy a "
            "known good revision with `deploy code` instead."
        )
    current = images.current_image(target)
    label = images.revision_of(target, previous)
    if current is not None and current.id == previous.id:
        raise ConfigError(f"The running image already is the previous one ({label}).")

    def run() -> None:
        switch(target, previous, current)
        if current is not None:
            images.tag_image(current, images.previous_tag(target))

    return [
        Step(
            "rollback",
            f"tag {label} as {stack.app_image} and replace {', '.join(stack.app_services)} one "
            "at a time (migrations are not reversed)",
            run,
            critical=True,
        )
    ]


def running_web(target: Target) -> Any:  # a docker Container
    web = target.running("web")
    if web is None:
        raise StepFailed(
            f"No running web container in project {target.project} on {engine_name()}.",
            hint="Deploy first (`manage.py deploy code`) or start it (`docker compose up -d`).",
        )
    return web


def reindex_steps(target: Target) -> list[Step]:
    def run() -> None:
        web = running_web(target)
        code, _ = target.exec(web, ["python", "manage.py", "reindex_search"])
        if code != 0:
            raise StepFailed(
                f"reindex_search exited with code {code} (output above).",
                container=web.name,
                hint="The live index is untouched by a failed rebuild; fix the cause and run "
                "`manage.py deploy reindex` again.",
            )

    return [Step("reindex", "run `manage.py reindex_search` in the running web container", run)]
