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
    return CodeDeploy(target, rev).steps(migrate=migrate)


class CodeDeploy:
    """The steps of ``deploy code`` as methods; what one step hands the next (the
    images) are named attributes, set as the steps run."""

    def __init__(self, target: Target, rev: str) -> None:
        self.target = target
        self.stack = target.stack
        self.rev = rev
        self.build_name = f"{self.stack.image_repo}:{rev}"
        #: The docker Image web ran before (None on a first deploy); set by build().
        self.old_image: Any = None
        #: The docker Image just built; set by build().
        self.new_image: Any = None

    def steps(self, *, migrate: bool) -> list[Step]:
        target, stack, build_name = self.target, self.stack, self.build_name
        steps = [
            Step(
                "build",
                f"build {build_name} from {target.compose.directory} on "
                f"{engine_name()} (compose build web)",
                self.build,
            ),
        ]
        if stack.backing:
            steps.append(
                Step(
                    "services",
                    f"start {', '.join(stack.backing)} if they are not running, and wait "
                    "until healthy",
                    self.start_backing,
                )
            )
        if migrate and stack.oneshots:
            steps.append(
                Step(
                    "migrate",
                    f"run the one-shot {', '.join(stack.oneshots)} with {build_name}",
                    self.run_oneshots,
                )
            )
        steps.append(
            Step(
                "switch",
                f"tag {build_name} as {stack.app_image}, then replace "
                f"{', '.join(stack.app_services)} one container at a time, each healthy "
                "before the next (automatic rollback if one never gets healthy)",
                self.switch,
                critical=True,
            )
        )
        if stack.proxies:
            steps.append(
                Step("proxies", f"start {', '.join(stack.proxies)} if not running", self.proxies)
            )
        return steps

    def _show(self, line: str) -> None:
        self.target.out(f"      | {line}")

    def build(self) -> None:
        self.old_image = images.current_image(self.target)
        self.target.compose.run(
            "build", "web", env={"APP_IMAGE": self.build_name}, output=self._show
        )
        self.new_image = self.target.client.images.get(self.build_name)

    def start_backing(self) -> None:
        self.target.compose.run("up", "--detach", "--wait", "--no-deps", *self.stack.backing)

    def run_oneshots(self) -> None:
        for service in self.stack.oneshots:
            result = self.target.compose.run(
                "run",
                "--rm",
                "--no-deps",
                "--no-TTY",
                service,
                env={"APP_IMAGE": self.build_name},
                output=self._show,
                check=False,
            )
            if result.returncode != 0:
                raise StepFailed(
                    f"`{service}` with {self.build_name} exited with code {result.returncode} "
                    "(output above).",
                    container=f"{self.stack.project}-{service}-run",
                    hint="Nothing was switched: the previous version still serves. Fix the "
                    "migration and deploy again.",
                )

    def switch(self) -> None:
        old, new = self.old_image, self.new_image
        if old is not None and old.id == new.id and _all_run(self.target, new):
            self.target.out(
                f"      every app container already runs {self.rev}: nothing to replace"
            )
            return
        switch(self.target, new, old)
        if old is not None and getattr(old, "id", None) != getattr(new, "id", None):
            images.tag_image(old, images.previous_tag(self.target))

    def proxies(self) -> None:
        self.target.compose.run(
            "up", "--detach", "--wait", "--no-deps", "--no-recreate", *self.stack.proxies
        )


def _all_run(target: Target, image: Any) -> bool:
    services = target.stack.app_services
    return all(
        (found := target.containers(s)) and all(c.image.id == image.id for c in found)
        for s in services
    )


def rollback_steps(target: Target) -> list[Step]:
    stack = target.stack
    previous = images.previous_image(target, target.project, "deploy code")
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


def reindex_steps(target: Target, *, allow_shrink: bool = False) -> list[Step]:
    """Rebuild search in the web container.

    ``allow_shrink``: after ``deploy db``/``restore`` the user has already agreed to
    replace the data, so an index that shrinks with it is expected, not a mistake.
    """
    command = ["python", "manage.py", "reindex_search"]
    if allow_shrink:
        command.append("--allow-shrink")

    def run() -> None:
        web = running_web(target)
        code, _ = target.exec(web, command)
        if code != 0:
            raise StepFailed(
                f"reindex_search exited with code {code} (output above).",
                container=web.name,
                hint="The live index is untouched by a failed rebuild; fix the cause and run "
                "`manage.py deploy reindex` again.",
            )

    return [Step("reindex", "run `manage.py reindex_search` in the running web container", run)]
