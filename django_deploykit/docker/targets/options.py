"""What the user asks of a multi-machine target, and the combinations refused.

Every refusal is a ConfigError raised before anything is rendered or written;
its message names the problem and the way out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings

from django_deploykit.docker.plan import Plan
from django_deploykit.exceptions import ConfigError

__all__ = [
    "MIN_KUBERNETES",
    "ROLES",
    "TARGETS",
    "ScaleOptions",
    "check",
    "media_on_object_storage",
    "parse_autoscale",
    "parse_replicas",
]

TARGETS = ("compose", "kubernetes", "swarm")
#: Roles whose replica count can be set with --replicas ROLE=N.
ROLES = ("web", "worker", "beat", "search", "db")
#: The oldest Kubernetes whose schemas the manifests are validated against.
MIN_KUBERNETES = "1.25"
_HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$|^localhost$")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


@dataclass
class ScaleOptions:
    target: str = "kubernetes"
    #: Public host names (the first is canonical). Required: no ALLOWED_HOSTS=*.
    hosts: list[str] = field(default_factory=list)
    replicas: dict[str, int] = field(default_factory=dict)
    #: (min, max) web replicas for a HorizontalPodAutoscaler (Kubernetes only).
    autoscale: tuple[int, int] | None = None
    #: "ingress" (networking.k8s.io/v1) or "gateway" (Gateway API HTTPRoute).
    ingress: str = "ingress"
    ingress_class: str | None = None
    #: Namespace of the ingress controller's (or gateway's) pods: the only ones let in.
    ingress_namespace: str = "ingress-nginx"
    #: The Gateway an HTTPRoute attaches to: NAME or NAMESPACE/NAME.
    gateway: str | None = None
    #: Run the database inside the cluster/stack (one instance, not highly available).
    database_in_cluster: bool = False
    #: Media on a volume every replica can mount (RWX PVC / a shared Swarm volume).
    shared_media: bool = False
    storage_class: str | None = None
    #: Image repository the manifests deploy (registry/name); the tag is per revision.
    image: str | None = None
    #: Host names of a staging overlay (Kubernetes); none: no staging overlay.
    staging_hosts: list[str] = field(default_factory=list)

    def count(self, role: str) -> int:
        return self.replicas.get(role, 2 if role == "web" else 1)

    @property
    def web_min(self) -> int:
        return self.autoscale[0] if self.autoscale else self.count("web")

    @property
    def web_max(self) -> int:
        return self.autoscale[1] if self.autoscale else self.count("web")


def parse_replicas(values: list[str]) -> dict[str, int]:
    """``["3", "worker=2"]`` → ``{"web": 3, "worker": 2}`` (a bare number is web)."""
    replicas: dict[str, int] = {}
    for value in values:
        role, sep, number = value.partition("=")
        if not sep:
            role, number = "web", value
        if role not in ROLES:
            raise ConfigError(
                f"--replicas {value!r}: unknown role {role!r}; use N or ROLE=N with ROLE one of "
                f"{', '.join(ROLES)}."
            )
        if not number.isdigit() or int(number) < 1:
            raise ConfigError(f"--replicas {value!r}: give a whole number of at least 1.")
        replicas[role] = int(number)
    return replicas


def parse_autoscale(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    match = re.fullmatch(r"(\d+)[-:](\d+)", value)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ConfigError(
            f"--autoscale {value!r}: write MIN-MAX web replicas, e.g. 2-10 (1 ≤ MIN ≤ MAX)."
        )
    return int(match[1]), int(match[2])


def media_on_object_storage() -> bool:
    """True when the default file storage is not the local file system (django-storages…)."""
    storages = getattr(settings, "STORAGES", None) or {}
    backend = str(storages.get("default", {}).get("BACKEND", "")) or str(
        getattr(settings, "DEFAULT_FILE_STORAGE", "") or ""
    )
    return bool(backend) and "FileSystemStorage" not in backend


def check(plan: Plan, options: ScaleOptions) -> None:
    """Refuse what cannot work on several machines, before anything is written."""
    if options.target not in ("kubernetes", "swarm"):
        raise ConfigError(f"Unknown target {options.target!r}: use one of {', '.join(TARGETS)}.")
    for host in [*options.hosts, *options.staging_hosts]:
        if not _HOST.match(host):
            raise ConfigError(
                f"--host {host!r} is not a host name (lower-case DNS name such as "
                "www.example.com; no scheme, port or path)."
            )
    if not options.hosts:
        raise ConfigError(
            f"--target {options.target} needs the site's public host name: add --host "
            "www.example.com (repeatable). It becomes ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS and "
            "the Ingress/proxy host; deploykit never writes ALLOWED_HOSTS=*."
        )
    if options.image and not _image_ok(options.image):
        raise ConfigError(
            f"--image {options.image!r}: give a repository without tag, e.g. "
            "registry.example.com/mysite (the tag is set per revision)."
        )
    if options.target == "swarm" and options.autoscale:
        raise ConfigError(
            "Swarm has no autoscaler: drop --autoscale and set --replicas N (or use "
            "--target kubernetes)."
        )
    if options.ingress not in ("ingress", "gateway"):
        raise ConfigError(f"--ingress {options.ingress!r}: use ingress or gateway.")
    if options.ingress == "gateway" and not options.gateway:
        raise ConfigError("--ingress gateway needs --gateway NAME (or NAMESPACE/NAME).")
    if options.gateway and not all(_NAME.match(p) for p in options.gateway.split("/", 1)):
        raise ConfigError(f"--gateway {options.gateway!r}: write NAME or NAMESPACE/NAME.")
    if not _NAME.match(options.ingress_namespace) or "." in options.ingress_namespace:
        raise ConfigError(
            f"--ingress-namespace {options.ingress_namespace!r} is not a namespace name "
            "(lower-case letters, digits and '-')."
        )
    for role in ("beat", "search", "db"):
        if options.count(role) > 1:
            raise ConfigError(_SINGLETONS[role])
    several = options.web_max > 1 or options.autoscale is not None
    if plan.db == "sqlite":
        _check_sqlite(plan, options, several)
    if several and not options.shared_media and not media_on_object_storage():
        raise ConfigError(
            f"Media files are stored on the local file system (MEDIA_ROOT) but web runs "
            f"{_how_many(options)}: each replica would see only its own uploads. Put media on "
            "object storage (django-storages, STORAGES['default']), or pass --shared-media "
            "for a volume all replicas mount (Kubernetes: a ReadWriteMany PVC, see "
            "--storage-class; Swarm: a volume driver shared across nodes), or --replicas 1."
        )
    if options.database_in_cluster and plan.db == "sqlite":
        raise ConfigError(
            "--database-in-cluster runs MariaDB or PostgreSQL: add --db mariadb or --db postgres."
        )


_SINGLETONS = {
    "beat": "Celery beat must run exactly once (two beats send every periodic task twice): "
    "use --replicas beat=1.",
    "search": "Meilisearch runs as a single instance (replicas do not share or sync their "
    "data): use --replicas search=1; the index can be rebuilt with reindex_search.",
    "db": "The in-cluster database is a single instance, not a replicated cluster: use "
    "--replicas db=1, or a managed/operator-run database through DATABASE_URL.",
}


def _check_sqlite(plan: Plan, options: ScaleOptions, several: bool) -> None:
    move = (
        "Move to MariaDB or PostgreSQL first (manage.py dbcopy copies the data), then "
        "re-run with --db mariadb|postgres."
    )
    if several:
        raise ConfigError(
            f"The database is SQLite, a file on one machine, but web runs {_how_many(options)}. "
            f"{move} Or keep one replica: --replicas 1 (no --autoscale)."
        )
    if plan.celery:
        raise ConfigError(
            "The database is SQLite, but Celery workers run in their own containers and "
            f"cannot share the file reliably across machines. {move}"
        )


def _how_many(options: ScaleOptions) -> str:
    if options.autoscale:
        return f"autoscaled ({options.autoscale[0]}-{options.autoscale[1]} replicas)"
    return f"{options.count('web')} replicas"


def _image_ok(image: str) -> bool:
    last = image.rsplit("/", 1)[-1]
    return bool(re.fullmatch(r"[a-z0-9][a-z0-9._/:-]*", image)) and ":" not in last
