"""The ``dockerize`` options of the multi-machine targets (kept here, out of the command)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from django_deploykit.docker.targets.options import (
    ROLES,
    TARGETS,
    ScaleOptions,
    parse_autoscale,
    parse_replicas,
)
from django_deploykit.exceptions import ConfigError

__all__ = ["add_target_arguments", "scale_options"]

#: dest → option, for the error when they are given without a multi-host target.
_SCALE_ONLY = {
    "hosts": "--host",
    "staging_hosts": "--staging-host",
    "replicas": "--replicas",
    "autoscale": "--autoscale",
    "ingress": "--ingress",
    "ingress_class": "--ingress-class",
    "ingress_namespace": "--ingress-namespace",
    "gateway": "--gateway",
    "database_in_cluster": "--database-in-cluster",
    "shared_media": "--shared-media",
    "storage_class": "--storage-class",
    "image": "--image",
}


def add_target_arguments(parser: CommandParser) -> None:
    group = parser.add_argument_group("past one host (--target kubernetes|swarm)")
    group.add_argument(
        "--target",
        choices=TARGETS,
        default="compose",
        help="Also write Kubernetes manifests (k8s/) or a Swarm stack (swarm/)",
    )
    group.add_argument(
        "--host",
        dest="hosts",
        action="append",
        default=[],
        metavar="NAME",
        help="Public host name of the site (required; repeatable)",
    )
    group.add_argument(
        "--staging-host",
        dest="staging_hosts",
        action="append",
        default=[],
        metavar="NAME",
        help="Host name of a staging overlay (Kubernetes)",
    )
    group.add_argument(
        "--replicas",
        action="append",
        default=[],
        metavar="[ROLE=]N",
        help=f"Replicas of web (N) or of a role ({', '.join(ROLES)}); web 2, others 1 by default",
    )
    group.add_argument(
        "--autoscale",
        metavar="MIN-MAX",
        help="HorizontalPodAutoscaler for web, e.g. 2-10 (Kubernetes)",
    )
    group.add_argument(
        "--ingress",
        choices=("ingress", "gateway"),
        default=None,
        help="Ingress (default) or a Gateway API HTTPRoute (Kubernetes)",
    )
    group.add_argument("--ingress-class", help="The ingressClassName of the Ingress")
    group.add_argument(
        "--ingress-namespace",
        metavar="NAMESPACE",
        help="Namespace of the ingress controller's or gateway's pods, the only ones the "
        "web pods accept (Kubernetes; default ingress-nginx)",
    )
    group.add_argument(
        "--gateway",
        metavar="[NAMESPACE/]NAME",
        help="The Gateway the HTTPRoute attaches to (with --ingress gateway)",
    )
    group.add_argument(
        "--database-in-cluster",
        action="store_true",
        default=None,
        help="Run MariaDB/PostgreSQL as one (not highly available) instance",
    )
    group.add_argument(
        "--shared-media",
        action="store_true",
        default=None,
        help="Media on a volume all web replicas mount (RWX / shared driver)",
    )
    group.add_argument("--storage-class", help="The storageClassName of the volume claims")
    group.add_argument(
        "--image",
        metavar="REPOSITORY",
        help="Image repository the manifests deploy, e.g. registry.example.com/app",
    )


def scale_options(opts: dict[str, Any]) -> ScaleOptions | None:
    """ScaleOptions for --target kubernetes|swarm; None for compose (then no scale option)."""
    if opts["target"] == "compose":
        given = [flag for dest, flag in _SCALE_ONLY.items() if opts.get(dest)]
        if given:
            raise ConfigError(
                f"{', '.join(given)} only apply with --target kubernetes or --target swarm."
            )
        return None
    return ScaleOptions(
        target=opts["target"],
        hosts=list(opts["hosts"]),
        staging_hosts=list(opts["staging_hosts"]),
        replicas=parse_replicas(opts["replicas"]),
        autoscale=parse_autoscale(opts["autoscale"]),
        ingress=opts["ingress"] or ("gateway" if opts["gateway"] else "ingress"),
        ingress_class=opts["ingress_class"],
        ingress_namespace=opts.get("ingress_namespace") or "ingress-nginx",
        gateway=opts["gateway"],
        database_in_cluster=bool(opts["database_in_cluster"]),
        shared_media=bool(opts["shared_media"]),
        storage_class=opts["storage_class"],
        image=opts["image"],
    )
