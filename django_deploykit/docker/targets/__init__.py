"""``dockerize --target kubernetes|swarm``: past one Docker host, from the same plan.

The compose files, the Kubernetes manifests and the Swarm stack all come from
one :class:`~django_deploykit.docker.plan.Plan` (detect → plan); these modules
only map its roles (web, worker, beat, migrate, db, search, cache) onto each
engine's own objects and refuse unsafe combinations before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from django_deploykit.docker.render import read_env_file
from django_deploykit.docker.targets.options import TARGETS, ScaleOptions, check

__all__ = [
    "TARGETS",
    "ScaleOptions",
    "add_app_search_key",
    "check",
    "known_secrets",
    "render_target",
]


def render_target(plan, options: ScaleOptions, known: Mapping[str, str] | None = None):  # type: ignore[no-untyped-def]
    """The files of ``options.target`` (a list of RenderedFile), after the refusals."""
    check(plan, options)
    if options.target == "kubernetes":
        from django_deploykit.docker.targets.kubernetes import render_kubernetes

        return render_kubernetes(plan, options, known)
    from django_deploykit.docker.targets.swarm import render_swarm

    return render_swarm(plan, options, known)


def add_app_search_key(directory: Path, options: ScaleOptions, *, write: bool) -> list[str]:
    """The Kubernetes secrets.env files written before the app's search key existed.

    secrets.env is the user's (written once, never replaced), but the app's pods now
    mount MEILISEARCH_API_KEY from it: the missing line, derived from that file's own
    master key, is appended (``write``); nothing already there changes. Returns the
    files concerned (relative paths).
    """
    from django_deploykit.search.app_key import derive_key

    if options.target != "kubernetes":
        return []
    concerned = []
    for path in sorted((directory / "k8s" / "overlays").glob("*/secrets.env")):
        values = read_env_file(path)
        master = values.get("MEILISEARCH_MASTER_KEY", "")
        if not master or "MEILISEARCH_API_KEY" in values:
            continue
        concerned.append(str(path.relative_to(directory)))
        if write:
            with path.open("a") as file:
                file.write(f"MEILISEARCH_API_KEY={derive_key(master)}\n")
    return concerned


def known_secrets(directory: Path, options: ScaleOptions) -> dict[str, str]:
    """The secrets an earlier run wrote for this target (Swarm: one file each;
    Kubernetes: the production overlay's secrets.env), so that a secret added by a newer
    deploykit (the app's search key) is derived from them instead of fresh values."""
    if options.target == "swarm":
        folder = directory / "swarm" / "secrets"
        if not folder.is_dir():
            return {}
        return {p.name: p.read_text().strip() for p in folder.iterdir() if p.is_file()}
    path = directory / "k8s" / "overlays" / "production" / "secrets.env"
    if not path.is_file():
        return {}
    return {name: value for name, value in read_env_file(path).items() if value}
