"""Golden files: what ``dockerize`` writes for a few fixed projects, kept as files.

A template change then shows in review as a diff of real outputs (the way
dockerfile-rails keeps ``test/results/<scenario>/``). Each scenario renders the
example project from a fixed directory name with fixed choices; the values that
would differ between runs or machines (random secrets, the checkout's path, how
deploykit is installed here) are replaced in this module only. Files holding
secrets (.env, secrets/…) are left out: dockerize writes them once and never shows
or compares them; their shape is in .env.example / secrets.env.example.

Refresh after a deliberate change to the outputs, then review ``git diff tests/golden``::

    make golden        # = .venv/bin/python -m tests.golden --update
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from django.test.utils import override_settings

from django_deploykit.docker.detect import detect
from django_deploykit.docker.plan import Choices, make_plan
from django_deploykit.docker.render import render_all
from django_deploykit.docker.source import DeploykitSource
from django_deploykit.docker.targets import ScaleOptions, render_target
from tests.dockerize_helpers import copy_example, project_settings

GOLDEN = Path(__file__).resolve().parent
REFRESH = "make golden  (or: python -m tests.golden --update)"
#: The checkout's path in an output would differ per machine.
PROJECT_PLACEHOLDER = "/path/to/site"
#: deploykit as if installed from the package index at a fixed version.
SOURCE = DeploykitSource("index", "0.0.0-golden")
HOSTS = ["www.example.com", "example.com"]


@dataclass(frozen=True)
class Scenario:
    choices: dict[str, Any]
    #: None: the compose stack; else the ScaleOptions of --target kubernetes|swarm.
    scale: dict[str, Any] | None = None
    celery: bool = False
    settings: dict[str, Any] = field(default_factory=dict)


SCENARIOS: dict[str, Scenario] = {
    "sqlite": Scenario({"db": "sqlite"}),
    "mariadb": Scenario({"db": "mariadb"}),
    "postgres-celery-search": Scenario(
        {"db": "postgres", "search": True, "celery": True}, celery=True
    ),
    "nginx": Scenario({"db": "postgres", "nginx": True, "makefile": True}),
    "kubernetes": Scenario(
        {"db": "postgres", "search": True},
        {
            "target": "kubernetes",
            "database_in_cluster": True,
            "autoscale": (2, 6),
            "shared_media": True,
            "staging_hosts": ["staging.example.com"],
            "image": "registry.example.com:5000/site",
        },
        celery=True,
    ),
    "swarm": Scenario(
        {"db": "mariadb"},
        {
            "target": "swarm",
            "database_in_cluster": True,
            "shared_media": True,
            "replicas": {"web": 2},
        },
        celery=True,
    ),
}


def _counter_secrets() -> Any:
    """Stand-ins for the random secrets: the same sequence every run (letters, digits)."""
    counter = itertools.count(1)

    def fake(length: int = 40) -> str:
        return f"golden{next(counter):03d}".ljust(length, "x")[:length]

    return fake


@contextmanager
def _project() -> Iterator[Path]:
    """The example project copied to <tmp>/site; its settings module imports from there.

    dockerize imports the image's settings module (example_site.settings): whatever
    another test imported before, or left in the environment, must not change it.
    """
    kept = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "example_site"}
    for name in kept:
        del sys.modules[name]
    with tempfile.TemporaryDirectory(prefix="deploykit-golden-") as tmp:
        base = copy_example(Path(tmp) / "site")
        sys.path.insert(0, str(base))
        try:
            with mock.patch.dict(os.environ, {"SECRET_KEY": "golden-not-secret"}):
                yield base
        finally:
            sys.path.remove(str(base))
            for name in [k for k in sys.modules if k.split(".")[0] == "example_site"]:
                del sys.modules[name]
            sys.modules.update(kept)


def render_scenario(name: str) -> dict[str, str]:
    """``{relative path: content}`` of one scenario (the Django settings must be set up)."""
    scenario = SCENARIOS[name]
    with _project() as base:
        overrides = project_settings(base) | {
            # The suite's server aliases exist only where their tiers are configured:
            # the outputs must not depend on that.
            "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            "MIDDLEWARE": [
                "django_deploykit.health.middleware.HealthCheckMiddleware",
                "whitenoise.middleware.WhiteNoiseMiddleware",
            ],
            **scenario.settings,
        }
        fake = _counter_secrets()
        with (
            override_settings(**overrides),
            mock.patch("django_deploykit.docker.render._secret", fake),
            mock.patch("django_deploykit.docker.targets.config._random", fake),
        ):
            facts = detect(base)
            if scenario.celery:
                # Detection of Celery apps is tested on its own; the example has none.
                facts.celery_app, facts.celery_beat = "example_site", True
            plan = make_plan(facts, Choices(python="3.12", **scenario.choices), SOURCE)
            if scenario.scale is None:
                files = render_all(plan)
            else:
                files = render_target(plan, ScaleOptions(hosts=HOSTS, **scenario.scale))
        places = (str(base.resolve()), str(base))
        rendered = {}
        for file in files:
            if file.secret:
                continue
            content = file.content
            for place in places:
                content = content.replace(place, PROJECT_PLACEHOLDER)
            rendered[file.path] = content
        return dict(sorted(rendered.items()))


def stored(name: str) -> dict[str, str]:
    """The golden files of one scenario as kept in the repository."""
    root = GOLDEN / name
    return {
        path.relative_to(root).as_posix(): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def update(name: str) -> None:
    root = GOLDEN / name
    shutil.rmtree(root, ignore_errors=True)
    for path, content in render_scenario(name).items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
