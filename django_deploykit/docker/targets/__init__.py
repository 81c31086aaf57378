"""``dockerize --target kubernetes|swarm``: past one Docker host, from the same plan.

The compose files, the Kubernetes manifests and the Swarm stack all come from
one :class:`~django_deploykit.docker.plan.Plan` (detect → plan); these modules
only map its roles (web, worker, beat, migrate, db, search, cache) onto each
engine's own objects and refuse unsafe combinations before anything is written.
"""

from __future__ import annotations

from django_deploykit.docker.targets.options import TARGETS, ScaleOptions, check

__all__ = ["TARGETS", "ScaleOptions", "check", "render_target"]


def render_target(plan, options: ScaleOptions):  # type: ignore[no-untyped-def]
    """The files of ``options.target`` (a list of RenderedFile), after the refusals."""
    check(plan, options)
    if options.target == "kubernetes":
        from django_deploykit.docker.targets.kubernetes import render_kubernetes

        return render_kubernetes(plan, options)
    from django_deploykit.docker.targets.swarm import render_swarm

    return render_swarm(plan, options)
