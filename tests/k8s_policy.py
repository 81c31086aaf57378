"""Our own policy over rendered Kubernetes objects: what a schema cannot see.

``violations(docs)`` returns one line per problem (empty: all rules hold).
"""

from __future__ import annotations

import re
from typing import Any

from django_deploykit.docker.targets.config import GUNICORN_TIMEOUT
from django_deploykit.env.variables import VARIABLES

WORKLOADS = {"Deployment", "StatefulSet", "Job"}
LABELS = ("name", "instance", "component", "part-of", "managed-by")
SECRET_NAMES = {v.name for v in VARIABLES if v.secret}
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]


def violations(docs: list[dict[str, Any]], secret_values: list[str] = ()) -> list[str]:
    out: list[str] = []
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
        name = doc["metadata"]["name"]
        where = f"{doc['kind']}/{name}"
        if not DNS1123.match(name) or len(name) > 253:
            out.append(f"{where}: name is not DNS-1123")
        if doc["kind"] not in ("Secret", "Namespace"):
            labels = doc["metadata"].get("labels", {})
            missing = [k for k in LABELS if f"app.kubernetes.io/{k}" not in labels]
            if missing:
                out.append(f"{where}: missing app.kubernetes.io/ labels {missing}")
        if doc["kind"] != "Secret":
            text = repr(doc)
            out += [f"{where}: contains a secret value" for v in secret_values if v and v in text]
        if doc["kind"] in WORKLOADS:
            out += _workload(doc, where)
            out += _master_key(doc, where)
    out += _relations(by_kind)
    return out


#: The only pods that may see Meilisearch's master key: Meilisearch itself and the Job
#: that creates the app's own key from it. The app's pods get MEILISEARCH_API_KEY.
MASTER_KEY_COMPONENTS = {"search", "search-key"}


def _master_key(doc: dict[str, Any], where: str) -> list[str]:
    component = _pod(doc)["metadata"]["labels"].get("app.kubernetes.io/component")
    if component in MASTER_KEY_COMPONENTS:
        return []
    spec = _pod(doc)["spec"]
    seen = []
    for container in spec.get("initContainers", []) + spec["containers"]:
        for env in container.get("env", []):
            ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
            if "MEILISEARCH_MASTER_KEY" in (env["name"], ref.get("key")):
                seen.append(f"{container['name']} env {env['name']}")
    for volume in spec.get("volumes", []):
        items = (volume.get("secret") or {}).get("items")
        if "secret" in volume and items is None:
            seen.append(f"volume {volume['name']} mounts the whole Secret")
        seen += [
            f"volume {volume['name']}"
            for item in items or ()
            if item["key"] == "MEILISEARCH_MASTER_KEY"
        ]
    return [f"{where}: the app's pod gets the Meilisearch master key ({s})" for s in seen]


def _workload(doc: dict[str, Any], where: str) -> list[str]:
    out = []
    template = _pod(doc)
    spec = template["spec"]
    if doc["kind"] != "Job":
        selector = doc["spec"]["selector"]["matchLabels"]
        labels = template["metadata"]["labels"]
        if any(labels.get(k) != v for k, v in selector.items()):
            out.append(f"{where}: selector does not match the pod labels")
    else:
        for key in ("backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
            if key not in doc["spec"]:
                out.append(f"{where}: Job without {key}")
    pod_sc = spec.get("securityContext", {})
    if spec.get("automountServiceAccountToken") is not False:
        out.append(f"{where}: service-account token mounted")
    if pod_sc.get("runAsNonRoot") is not True or not int(pod_sc.get("runAsUser", 0)) > 0:
        out.append(f"{where}: not a numeric non-root user")
    if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        out.append(f"{where}: seccomp is not RuntimeDefault")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for container in spec.get("initContainers", []) + spec["containers"]:
        cwhere = f"{where}/{container['name']}"
        sc = container.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{cwhere}: privilege escalation allowed")
        if sc.get("readOnlyRootFilesystem") is not True:
            out.append(f"{cwhere}: root filesystem writable")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            out.append(f"{cwhere}: capabilities not all dropped")
        res = container.get("resources", {})
        if not {"cpu", "memory"} <= set(res.get("requests", {})) or "memory" not in res.get(
            "limits", {}
        ):
            out.append(f"{cwhere}: no cpu/memory requests or memory limit")
        if ":" not in container["image"].rsplit("/", 1)[-1]:
            out.append(f"{cwhere}: image without a tag")
        elif container["image"].endswith(":latest"):
            out.append(f"{cwhere}: moving image tag 'latest'")
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
        if "/tmp" not in mounts:
            out.append(f"{cwhere}: no writable /tmp")
        names = [e["name"] for e in container.get("env", [])]
        if len(names) != len(set(names)):
            out.append(f"{cwhere}: duplicate env names")
        for env in container.get("env", []):
            out += _env(env, mounts, volumes, cwhere)
        for mount in mounts.values():
            if "secret" in volumes.get(mount["name"], {}) and "subPath" in mount:
                out.append(f"{cwhere}: secret mounted with subPath (would not rotate)")
    return out


def _env(env: dict[str, Any], mounts: dict, volumes: dict, where: str) -> list[str]:
    name, value = env["name"], env.get("value")
    if value is None:
        return []
    out = []
    if not name.endswith("_FILE") and (
        name in SECRET_NAMES or re.search(r"PASSWORD|SECRET|_KEY$", name)
    ):
        out.append(f"{where}: secret {name} given as a literal value")
    if re.search(r"://[^/\s]*:[^/\s]*@", str(value)):
        out.append(f"{where}: {name} holds a URL with a password")
    if name.endswith("_FILE"):
        directory = str(value).rsplit("/", 1)[0]
        mount = mounts.get(directory)
        if not mount or "secret" not in volumes.get(mount["name"], {}):
            out.append(f"{where}: {name} does not point into a mounted Secret")
    return out


def _relations(by_kind: dict[str, list[dict[str, Any]]]) -> list[str]:
    out = []
    workloads = [d for k in WORKLOADS for d in by_kind.get(k, [])]
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind.get("HorizontalPodAutoscaler", [])
    }
    for svc in by_kind.get("Service", []):
        selector = svc["spec"]["selector"]
        matches = [
            w
            for w in workloads
            if all(_pod(w)["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ]
        if not matches:
            out.append(f"Service/{svc['metadata']['name']}: selects no pod")
            continue
        ports = {
            p.get("name")
            for c in _pod(matches[0])["spec"]["containers"]
            for p in c.get("ports", [])
        }
        for port in svc["spec"]["ports"]:
            if isinstance(port["targetPort"], str) and port["targetPort"] not in ports:
                out.append(
                    f"Service/{svc['metadata']['name']}: targetPort {port['targetPort']} "
                    "is not a container port"
                )
    for w in workloads:
        name = w["metadata"]["name"]
        component = _pod(w)["metadata"]["labels"]["app.kubernetes.io/component"]
        replicas = w["spec"].get("replicas")
        if name in hpas and replicas is not None:
            out.append(f"{name}: replicas set although an autoscaler owns them")
        if component in ("beat", "search", "db"):
            if replicas != 1:
                out.append(f"{name}: {component} must run exactly one replica")
            if component == "beat" and w["spec"]["strategy"]["type"] != "Recreate":
                out.append(f"{name}: beat must use Recreate")
        if component == "web":
            out += _web(w, hpas.get(name), by_kind.get("PodDisruptionBudget", []))
    policies = by_kind.get("NetworkPolicy", [])
    if not any(p["spec"]["podSelector"] == {} for p in policies):
        out.append("no default-deny NetworkPolicy")
    out += _web_reachable_from_ingress_only(workloads, policies)
    out += _https_settings(by_kind.get("ConfigMap", []))
    return out


def _web_reachable_from_ingress_only(workloads: list, policies: list) -> list[str]:
    """web trusts X-Forwarded-Proto: only the ingress controller's namespace may reach it."""
    out = []
    for w in workloads:
        labels = _pod(w)["metadata"]["labels"]
        if labels.get("app.kubernetes.io/component") != "web":
            continue
        for p in policies:
            selector = p["spec"]["podSelector"].get("matchLabels", {})
            if not selector or not selector.items() <= labels.items():
                continue
            for rule in p["spec"].get("ingress", []):
                sources = rule.get("from") or []
                if not sources or any(not s.get("namespaceSelector") for s in sources):
                    out.append(
                        f"NetworkPolicy/{p['metadata']['name']}: web reachable from any pod "
                        "(X-Forwarded-Proto could be forged)"
                    )
    return out


def _https_settings(config_maps: list) -> list[str]:
    out = []
    for config in config_maps:
        data = config.get("data", {})
        if (
            data.get("SECURE_SSL_REDIRECT") == "true"
            and int(data.get("SECURE_HSTS_SECONDS", "0")) <= 0
        ):
            out.append(f"ConfigMap/{config['metadata']['name']}: HTTPS without HSTS")
    return out


def _web(w: dict[str, Any], hpa: dict | None, pdbs: list[dict[str, Any]]) -> list[str]:
    out = []
    spec = _pod(w)["spec"]
    container = spec["containers"][0]
    ports = {p["name"] for p in container["ports"]}
    paths = {}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container.get(probe, {}).get("httpGet")
        if not get or get["port"] not in ports:
            out.append(f"web: {probe} missing or not on a declared port")
            continue
        paths[probe] = get["path"]
    if paths.get("livenessProbe") == paths.get("readinessProbe"):
        out.append("web: liveness probes the readiness path (a DB blip would restart pods)")
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    pause = int(pre_stop.get("exec", {}).get("command", ["sleep", "0"])[-1])
    if pause <= 0:
        out.append("web: no preStop pause")
    if spec.get("terminationGracePeriodSeconds", 30) <= pause + GUNICORN_TIMEOUT:
        out.append("web: grace period shorter than preStop + gunicorn's graceful timeout")
    strategy = w["spec"]["strategy"]
    if strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] != 0:
        out.append("web: a rolling update may take serving pods away")
    minimum = hpa["spec"]["minReplicas"] if hpa else w["spec"].get("replicas", 1)
    has_pdb = any(
        p["spec"]["selector"]["matchLabels"].items() <= _pod(w)["metadata"]["labels"].items()
        for p in pdbs
    )
    if has_pdb != (minimum >= 2):
        out.append(
            f"web: PodDisruptionBudget {'present' if has_pdb else 'missing'} with "
            f"{minimum} minimum replicas"
        )
    for p in pdbs:
        if "minAvailable" in p["spec"]:
            out.append("PDB uses minAvailable (blocks drains at low counts)")
    return out
