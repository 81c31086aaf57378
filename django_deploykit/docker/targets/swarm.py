"""The Swarm stack (``swarm/stack.yml``) from the plan.

Not compose.yaml reused: ``docker stack deploy`` rejects its ``depends_on``
conditions and ignores ``build`` and ``restart``. Here migrate is a
``replicated-job``, web and workers wait for it, updates start the new task first
and roll back on a failed health check, and web is reached by DNS round robin so
no ingress routing mesh (IPVS) is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.template import Context

from django_deploykit.docker.plan import Plan
from django_deploykit.docker.render import RenderedFile, engine
from django_deploykit.docker.targets.config import (
    GUNICORN_TIMEOUT,
    app_config,
    app_secrets,
    db_secrets,
    search_init_secrets,
    secret_values,
)
from django_deploykit.docker.targets.options import ScaleOptions, media_on_object_storage

__all__ = ["render_swarm", "swarm_context"]

DB_DATA = {"mariadb": "/var/lib/mysql", "postgres": "/var/lib/postgresql/data"}
#: nginx forgets a web task's address after this many seconds (its resolver cache).
RESOLVER_VALID_SECONDS = 5
#: A stopping web task serves on this long: Swarm's 2 s DNS delay + the cache + a margin.
DRAIN_SECONDS = 2 * RESOLVER_VALID_SECONDS


def swarm_context(plan: Plan, options: ScaleOptions) -> dict[str, Any]:
    sqlite = plan.db == "sqlite"
    media_volume = not media_on_object_storage()
    return {
        "plan": plan,
        "facts": plan.facts,
        "opts": options,
        "app": plan.project.replace("-", "_"),
        "config": app_config(plan, options),
        "app_secrets": app_secrets(plan, options),
        "db_secrets": db_secrets(plan, options),
        "search_init_secrets": search_init_secrets(plan, options),
        "all_secrets": list(
            dict.fromkeys(
                app_secrets(plan, options)
                + db_secrets(plan, options)
                + search_init_secrets(plan, options)
            )
        ),
        "replicas": options.count("web"),
        "worker_replicas": options.count("worker"),
        "sqlite": sqlite,
        "media_volume": media_volume,
        # A node-local volume shared by one replica: pin web to the node that has it.
        "pinned_web": sqlite or (media_volume and not options.shared_media),
        "db_image": plan.images.get(plan.db, plan.db),
        "db_path": DB_DATA.get(plan.db, ""),
        "resolver_valid": RESOLVER_VALID_SECONDS,
        "drain": DRAIN_SECONDS,
        "web_stop_grace": DRAIN_SECONDS + GUNICORN_TIMEOUT + 10,
    }


def render_swarm(
    plan: Plan, options: ScaleOptions, known: Mapping[str, str] | None = None
) -> list[RenderedFile]:
    eng = engine()
    context = swarm_context(plan, options)

    def render(name: str) -> str:
        template = eng.get_template(f"deploykit/swarm/{name}")
        text = template.render(Context(context, autoescape=False))
        return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()) + "\n"

    files = [
        RenderedFile("swarm/stack.yml", render("stack.yml")),
        RenderedFile("swarm/nginx.conf", render("nginx.conf")),
        RenderedFile("swarm/.gitignore", "# Secrets of this installation\nsecrets/\n"),
    ]
    for name, value in secret_values(plan, options, known).items():
        # One file per secret, written once, never shown; the app reads NAME_FILE.
        files.append(RenderedFile(f"swarm/secrets/{name}", value + "\n", 0o600, secret=True))
    return files
