"""Kubernetes manifests from the plan: a Kustomize base, overlays, and the migrate Job.

Layout (under ``k8s/``)::

    base/        workloads, Services, NetworkPolicies, Ingress/HTTPRoute
    overlays/production/   namespace, image tag, config.env (tracked),
                 secrets.env (generated, git-ignored), secrets.env.example

``kubectl apply -k k8s/overlays/production`` is the whole install. The
ConfigMap and Secret come from kustomize generators whose names carry a hash of
their content, so a changed value renames them and the pods that reference
them roll. The migrate Job's name carries the image tag: one Job per revision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.template import Context

from django_deploykit.docker.plan import Plan
from django_deploykit.docker.render import RenderedFile, engine
from django_deploykit.docker.targets.config import (
    GUNICORN_TIMEOUT,
    SECRETS_DIR,
    app_config,
    app_secrets,
    db_secrets,
    search_init_secrets,
    secret_values,
)
from django_deploykit.docker.targets.options import ScaleOptions, media_on_object_storage

__all__ = ["RESOURCES", "kubernetes_context", "render_kubernetes"]

MIDDLEWARE = "django_deploykit.health.middleware.HealthCheckMiddleware"
PRE_STOP_SECONDS = 5
#: requests (cpu, memory) and memory limit per role; no CPU limit (throttling hurts latency).
RESOURCES = {
    "web": ("100m", "256Mi", "512Mi"),
    "init": ("20m", "128Mi", "256Mi"),
    "worker": ("100m", "256Mi", "512Mi"),
    "beat": ("20m", "128Mi", "256Mi"),
    "migrate": ("100m", "256Mi", "512Mi"),
    "redis": ("20m", "64Mi", "256Mi"),
    "search": ("100m", "256Mi", "1Gi"),
    "db": ("250m", "512Mi", "1Gi"),
}
#: uid of the third-party images (their own non-root users).
UIDS = {"redis": 999, "search": 1000, "db": 999}
DB_IMAGES = {"mariadb": "mariadb", "postgres": "postgres"}
DB_PATHS = {
    "mariadb": {"port": 3306, "data": "/var/lib/mysql", "run": "/run/mysqld"},
    "postgres": {"port": 5432, "data": "/var/lib/postgresql/data", "run": "/var/run/postgresql"},
}


def _labels(app: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/instance": app,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": app,
        "app.kubernetes.io/managed-by": "django-deploykit",
    }


def _selector(app: str, component: str) -> dict[str, str]:
    return {k: v for k, v in _labels(app, component).items() if not k.endswith(("part-of", "by"))}


def kubernetes_context(plan: Plan, options: ScaleOptions) -> dict[str, Any]:
    app = plan.project
    components = ["web", "migrate"]
    if plan.celery:
        components.append("worker")
    if plan.beat:
        components.append("beat")
    backends = []
    if options.database_in_cluster:
        backends.append(("db", 3306 if plan.db == "mariadb" else 5432))
    if plan.search:
        backends.append(("search", 7700))
    if plan.redis:
        backends.append(("redis", 6379))
    media_pvc = not media_on_object_storage()
    sqlite = plan.db == "sqlite"
    repository = options.image or app
    probe_headers = []
    if MIDDLEWARE not in list(getattr(settings, "MIDDLEWARE", [])):
        # Without the health middleware the kubelet's Host (the pod IP) would get a 400
        # and plain HTTP a redirect: send a Host the site accepts and the proxy header.
        probe_headers = [("Host", options.hosts[0]), ("X-Forwarded-Proto", "https")]
    return {
        "plan": plan,
        "facts": plan.facts,
        "opts": options,
        "app": app,
        "image": app,
        "repository": repository,
        # kustomize replacements split the image on ":"; the tag is the last part.
        "tag_index": repository.count(":") + 1,
        "app_name_dashes": app.count("-"),
        "labels": {
            **{c: _labels(app, c) for c in [*components, "db", "search", "redis"]},
            "search_key": _labels(app, "search-key"),
        },
        "selectors": {c: _selector(app, c) for c in [*components, "db", "search", "redis"]},
        "clients": list(components),
        # Meilisearch also answers the Job that creates the app's key.
        "search_clients": [*components, "search-key"],
        "backends": backends,
        "resources": {
            k: dict(zip(("cpu", "memory", "limit"), v, strict=True)) for k, v in RESOURCES.items()
        },
        "uids": {**UIDS, "app": plan.uid},
        "secrets_dir": SECRETS_DIR,
        "app_secrets": app_secrets(plan, options),
        "db_secrets": db_secrets(plan, options),
        "search_init_secrets": search_init_secrets(plan, options),
        "config": app_config(plan, options),
        "replicas": None if options.autoscale else options.count("web"),
        "worker_replicas": options.count("worker"),
        "pdb": options.web_min >= 2,
        "sqlite": sqlite,
        "recreate": sqlite or (media_pvc and not options.shared_media),
        "media_pvc": media_pvc,
        "media_access": "ReadWriteMany" if options.shared_media else "ReadWriteOnce",
        "probe_headers": probe_headers,
        "pre_stop": PRE_STOP_SECONDS,
        "grace": GUNICORN_TIMEOUT + PRE_STOP_SECONDS + 10,
        "db_image": plan.images.get(plan.db, DB_IMAGES.get(plan.db, "")),
        "db": DB_PATHS.get(plan.db, {}),
        "gateway_name": (options.gateway or "").rsplit("/", 1)[-1],
        "gateway_namespace": (options.gateway or "").rpartition("/")[0],
    }


def render_kubernetes(
    plan: Plan, options: ScaleOptions, known: Mapping[str, str] | None = None
) -> list[RenderedFile]:
    eng = engine()
    context = kubernetes_context(plan, options)

    def render(name: str, **extra: Any) -> str:
        template = eng.get_template(f"deploykit/kubernetes/{name}")
        text = template.render(Context({**context, **extra}, autoescape=False))
        return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()) + "\n"

    base = ["kustomization.yaml", "serviceaccount.yaml", "web.yaml", "networkpolicy.yaml"]
    base.append("httproute.yaml" if options.ingress == "gateway" else "ingress.yaml")
    if not context["sqlite"]:
        base.append("migrate.yaml")
    if plan.celery:
        base.append("worker.yaml")
    if plan.beat:
        base.append("beat.yaml")
    if plan.redis:
        base.append("redis.yaml")
    if plan.search:
        base += ["meilisearch.yaml", "search-key.yaml"]
    if options.database_in_cluster:
        base.append("db.yaml")
    if context["media_pvc"] or context["sqlite"]:
        base.append("volumes.yaml")
    files = [
        RenderedFile(f"k8s/base/{name}", render(f"base/{name}", base_files=base)) for name in base
    ]
    overlays = [("production", app_namespace(plan), options.hosts)]
    if options.staging_hosts:
        overlays.append(("staging", f"{app_namespace(plan)}-staging", options.staging_hosts))
    values = secret_values(plan, options, known)
    for name, namespace, hosts in overlays:
        config = dict(
            context["config"],
            ALLOWED_HOSTS=",".join(hosts),
            CSRF_TRUSTED_ORIGINS=",".join(f"https://{h.lstrip('*.')}" for h in hosts),
        )
        extra = {
            "overlay": name,
            "namespace": namespace,
            "hosts": hosts,
            "overlay_config": config,
            "patch_hosts": hosts != options.hosts,
        }
        folder = f"k8s/overlays/{name}"
        files += [
            RenderedFile(
                f"{folder}/kustomization.yaml", render("overlay/kustomization.yaml", **extra)
            ),
            RenderedFile(f"{folder}/namespace.yaml", render("overlay/namespace.yaml", **extra)),
            RenderedFile(f"{folder}/config.env", render("overlay/config.env", **extra)),
            RenderedFile(
                f"{folder}/secrets.env.example", render("overlay/secrets.env.example", **extra)
            ),
            RenderedFile(f"{folder}/.gitignore", "# Secrets of this installation\nsecrets.env\n"),
            RenderedFile(
                f"{folder}/secrets.env",
                render("overlay/secrets.env", values=values, **extra),
                0o600,
                secret=True,
            ),
        ]
    files.append(RenderedFile("k8s/README.md", render("README.md")))
    return files


def app_namespace(plan: Plan) -> str:
    return plan.project
