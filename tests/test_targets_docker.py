"""Docker tier of the multi-host targets: the image run the way a kubelet runs it, and a
real single-node Swarm deployed from the generated stack.yml.

Traffic goes only to 127.0.0.1 (published ports) and to the containers, services and
networks these tests create. The Swarm test leaves the swarm it created (and only that).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import ssl
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests import tiers
from tests.deploy_site import NGINX_IMAGE, ensure_nginx_image
from tests.dockerize_helpers import ROOT
from tests.test_dockerize_docker import BASE_IMAGE, docker, free_port, make_project, manage

pytestmark = pytest.mark.docker

HOST = "example.test"
POSTGRES_IMAGE = os.environ.get("DEPLOYKIT_TEST_POSTGRES_IMAGE", "deploykit-ci/postgres:latest")
# docker stack deploy needs a CLI ≥ 23 (job modes, --detach); Debian's 20.10 builds.
STACK_CLI = next(
    (
        c
        for c in ("/usr/local/bin/docker", shutil.which("docker") or "")
        if c and os.access(c, os.X_OK)
    ),
    "docker",
)
UID = "10001"


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Iterator[dict]:
    """The example project dockerized for both targets and built once."""
    if tiers.unavailable("docker"):
        pytest.skip(tiers.unavailable("docker"))
    project = make_project(tmp_path_factory.mktemp("targets") / "site")
    tag = f"deploykit-test/targets:{uuid.uuid4().hex[:10]}"
    common = ["--db", "postgres", "--host", HOST, "--shared-media", "--no-input"]
    result = manage(project, "dockerize", "--target", "kubernetes", *common)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    result = manage(
        project,
        "dockerize",
        "--target",
        "swarm",
        "--database-in-cluster",
        *common,
        "--build",
        "--tag",
        tag,
        "--build-arg",
        f"BASE_IMAGE={BASE_IMAGE}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    yield {"project": project, "tag": tag}
    docker("rmi", "-f", tag, check=False)


def request(
    port: int,
    path: str,
    host: str,
    *,
    tls: bool = False,
    timeout: float = 5.0,
    headers: dict | None = None,
) -> tuple[int, bytes]:
    if tls:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # test certificate
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=timeout, context=context
        )
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_status(port: int, path: str, host: str, timeout: float, **kwargs) -> None:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            status, _ = request(port, path, host, **kwargs)
            if status == 200:
                return
            last = status
        except OSError as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"{path} not 200 within {timeout}s: {last}")


# -- Kubernetes: the pod as the kubelet runs it -------------------------------------------

DRAIN_URLS = """
import time
from django.http import HttpResponse
from django.urls import include, path

def slow(request):
    time.sleep(3)
    return HttpResponse("finished")

urlpatterns = [path("slow/", slow), path("", include("example_site.urls"))]
"""


def kubelet_run(
    tag: str,
    project: Path,
    name: str,
    args: list[str],
    secrets: Path,
    data: str,
    extra: list[str] = (),
) -> list[str]:
    """`docker run` argv with what the manifests give a pod: numeric uid, read-only root,
    a memory /tmp, no capabilities, no privilege escalation, the ConfigMap as env and the
    Secret as files read through *_FILE."""
    overlay = project / "k8s/overlays/production"
    web = next(
        d
        for d in yaml.safe_load_all((project / "k8s/base/web.yaml").read_text())
        if d and d["kind"] == "Deployment"
    )
    container = web["spec"]["template"]["spec"]["containers"][0]
    argv = [
        "run",
        "-d",
        "--name",
        name,
        "--user",
        f"{UID}:{UID}",
        "--read-only",
        "--tmpfs",
        "/tmp:size=64m",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--env-file",
        str(overlay / "config.env"),
        "-v",
        f"{secrets}:/run/secrets/deploykit:ro",
        "-v",
        f"{data}:/data",
    ]
    for env in container["env"]:
        argv += ["-e", f"{env['name']}={env['value']}"]
    return [*argv, *extra, tag, *args]


@pytest.fixture
def pod(site, tmp_path) -> Iterator[dict]:
    names: list[str] = []
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "SECRET_KEY").write_text("k8s-like-test-" + uuid.uuid4().hex)
    # The migrate Job and web share a database: SQLite on a volume stands in for the
    # external server (the same DATABASE_URL_FILE path as in the cluster).
    (secrets / "DATABASE_URL").write_text("sqlite:////data/db.sqlite3\n")
    for f in secrets.iterdir():
        f.chmod(0o444)
    volume = f"dk-k8s-{uuid.uuid4().hex[:8]}"
    docker("volume", "create", volume)
    # The image creates no /data: give the volume to the app's uid, as fsGroup would.
    docker(
        "run",
        "--rm",
        "-v",
        f"{volume}:/data",
        "--user",
        "0",
        site["tag"],
        "chown",
        f"{UID}:{UID}",
        "/data",
    )
    yield {"names": names, "secrets": secrets, "volume": volume}
    for name in names:
        docker("rm", "-f", name, check=False)
    docker("volume", "rm", "-f", volume, check=False)


def test_image_runs_as_the_kubelet_runs_it(site, pod, tmp_path):
    project, tag = site["project"], site["tag"]
    migrate = f"dk-k8s-migrate-{uuid.uuid4().hex[:6]}"
    pod["names"].append(migrate)
    docker(*kubelet_run(tag, project, migrate, ["migrate"], pod["secrets"], pod["volume"]))
    assert docker("wait", migrate, timeout=120).stdout.strip() == "0", docker(
        "logs", migrate
    ).stderr

    drain = tmp_path / "drain"
    drain.mkdir()
    (drain / "drain_urls.py").write_text(DRAIN_URLS)
    # The site plus one slow view, to have a request in flight at SIGTERM.
    (drain / "drain_settings.py").write_text(
        "from example_site.settings import *  # noqa\nROOT_URLCONF = 'drain_urls'\n"
    )
    web = f"dk-k8s-web-{uuid.uuid4().hex[:6]}"
    pod["names"].append(web)
    extra = [
        "-p",
        "127.0.0.1::8000",
        "-v",
        f"{drain}:/opt/drain:ro",
        "-e",
        "PYTHONPATH=/opt/drain",
        "-e",
        "DJANGO_SETTINGS_MODULE=drain_settings",
    ]
    docker(*kubelet_run(tag, project, web, ["web"], pod["secrets"], pod["volume"], extra))
    port = int(docker("port", web, "8000").stdout.split(":")[-1])
    inspect = json.loads(docker("inspect", web).stdout)[0]
    pod_ip = next(iter(inspect["NetworkSettings"]["Networks"].values()))["IPAddress"]
    assert inspect["Config"]["User"] == f"{UID}:{UID}"

    # The probes of the rendered Deployment, with the Host a kubelet sends: the pod IP.
    manifest = next(
        d
        for d in yaml.safe_load_all((project / "k8s/base/web.yaml").read_text())
        if d and d["kind"] == "Deployment"
    )
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    pod_host = f"{pod_ip}:8000"
    wait_status(port, container["startupProbe"]["httpGet"]["path"], pod_host, 60)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert "httpHeaders" not in get  # the health middleware makes them unnecessary
        started = time.monotonic()
        status, body = request(port, get["path"], pod_host)
        assert status == 200, (probe, body[:300])
        assert time.monotonic() - started < container[probe]["timeoutSeconds"]
    # …while the site itself stays strict: unknown Host refused, plain HTTP redirected.
    assert request(port, "/", pod_host)[0] == 400
    assert request(port, "/", HOST)[0] == 301
    assert request(port, "/", HOST, headers={"X-Forwarded-Proto": "https"})[0] == 200
    # The read-only root holds: the app cannot write outside /tmp and its volumes.
    wrote = docker("exec", web, "sh", "-c", "touch /app/x", check=False)
    assert wrote.returncode != 0 and "Read-only" in wrote.stderr
    # preStop: the pause command exists in the image and runs as the pod's user.
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert docker("exec", web, *pre_stop[:1], "0.1").returncode == 0

    # SIGTERM while a request is in flight: it completes, then gunicorn exits cleanly
    # within the grace period the manifest gives.
    result: dict = {}

    def slow() -> None:
        try:
            result["response"] = request(
                port, "/slow/", HOST, timeout=30, headers={"X-Forwarded-Proto": "https"}
            )
        except OSError as exc:
            result["error"] = exc

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(1.0)
    started = time.monotonic()
    docker("kill", "--signal", "TERM", web)
    thread.join(timeout=30)
    assert result.get("response") == (200, b"finished"), result
    grace = manifest["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert docker("wait", web, timeout=grace + 5).stdout.strip() == "0"
    assert time.monotonic() - started < grace


def test_web_serves_on_while_it_drains(site, pod):
    """DRAIN_SECONDS (set by the Swarm stack): after SIGTERM the task answers for that long,
    then gunicorn stops gracefully and the container exits 0."""
    project, tag = site["project"], site["tag"]
    web = f"dk-drain-{uuid.uuid4().hex[:6]}"
    pod["names"].append(web)
    drain = 4
    extra = ["-p", "127.0.0.1::8000", "-e", f"DRAIN_SECONDS={drain}"]
    docker(*kubelet_run(tag, project, web, ["web"], pod["secrets"], pod["volume"], extra))
    port = int(docker("port", web, "8000").stdout.split(":")[-1])
    inspect = json.loads(docker("inspect", web).stdout)[0]
    pod_ip = next(iter(inspect["NetworkSettings"]["Networks"].values()))["IPAddress"]
    host = f"{pod_ip}:8000"
    wait_status(port, "/health/live/", host, 60)

    started = time.monotonic()
    docker("kill", "--signal", "TERM", web)
    answered = 0
    while time.monotonic() - started < drain - 1:  # bounded: about 12 requests
        assert request(port, "/health/live/", host)[0] == 200
        answered += 1
        time.sleep(0.25)
    assert answered >= 5
    assert docker("wait", web, timeout=drain + 40).stdout.strip() == "0"
    assert time.monotonic() - started >= drain


# -- Swarm: the generated stack on a single-node swarm ----------------------------------

_PASSWORD_FROM_FILE = (
    'if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then '
    'POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE"); export POSTGRES_PASSWORD; fi; '
    'exec entrypoint.sh "$@"'
)
# The official image reads POSTGRES_PASSWORD_FILE; the offline stand-in gains it here.
POSTGRES_FILE_DOCKERFILE = (
    "FROM IMAGE\n"
    f"ENTRYPOINT {json.dumps(['sh', '-c', _PASSWORD_FROM_FILE, '--'])}\n"
    'CMD ["postgres"]\n'
)


def stack(*args: str, env: dict | None = None, timeout: float = 300, check: bool = True):
    full = {**os.environ, **(env or {})}
    return subprocess.run(
        [STACK_CLI, *args], capture_output=True, text=True, env=full, timeout=timeout, check=check
    )


def build_from(dockerfile: str, tag: str, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Dockerfile").write_text(dockerfile)
    docker(
        "build", "--quiet", "-t", tag, str(directory), env={**os.environ, "DOCKER_BUILDKIT": "1"}
    )


def service(name: str) -> dict:
    return json.loads(docker("service", "inspect", name).stdout)[0]


def wait_for(predicate, timeout: float, what: str, step: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Load:
    """A bounded request loop against the stack's published HTTPS port (loopback only)."""

    def __init__(self, port: int, limit: int = 1500, seconds: float = 150.0) -> None:
        self.port, self.limit, self.seconds = port, limit, seconds
        self.ok, self.failures, self.stop = 0, [], threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while (
            not self.stop.is_set()
            and time.monotonic() < deadline
            and self.ok + len(self.failures) < self.limit
        ):
            try:
                status, _ = request(self.port, "/", HOST, tls=True)
                if status == 200:
                    self.ok += 1
                else:
                    self.failures.append(status)
            except OSError as exc:
                self.failures.append(repr(exc))
            time.sleep(0.05)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


@pytest.fixture
def swarm() -> Iterator[None]:
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    created = state == "inactive"
    if created:
        docker(
            "swarm", "init", "--advertise-addr", "127.0.0.1", "--default-addr-pool", "10.213.0.0/16"
        )
    node = docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    labels = [f"deploykit.{k}=true" for k in ("db", "edge", "search", "data")]
    docker("node", "update", *[a for label in labels for a in ("--label-add", label)], node)
    try:
        yield
    finally:
        if created:  # leave only a swarm this test created
            docker("swarm", "leave", "--force", check=False)


def deploy(project: Path, *args: str, env: dict) -> subprocess.CompletedProcess[str]:
    """`manage.py deploy ARGS --target swarm` in the project, with the stack's variables."""
    full = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DEBUG": "0",
        "SECRET_KEY": "dockerize-test",
        "DOCKER_BUILDKIT": "1",
        "PATH": "/usr/bin:" + os.environ.get("PATH", ""),
        **env,
    }
    full.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "deploy", *args, "--target", "swarm"],
        cwd=project,
        env=full,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_deploy_drives_the_swarm_stack_without_errors_and_undoes_a_broken_one(
    site, swarm, tmp_path
):
    """`deploy --target swarm` on the generated stack.yml: build and tag, the revision's
    migrate job, a start-first roll under load, status/logs, a broken revision undone,
    `deploy rollback`; not one failed request.
    """
    project = site["project"]
    name = f"dk{uuid.uuid4().hex[:6]}"
    repo = f"deploykit-test/swarmdeploy-{name}"
    db_image = "deploykit-test/postgres-file:latest"
    build_from(
        POSTGRES_FILE_DOCKERFILE.replace("IMAGE", POSTGRES_IMAGE, 1), db_image, tmp_path / "pg"
    )
    ensure_nginx_image()
    certs = tmp_path / "certs"
    certs.mkdir()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={HOST}",
            "-keyout",
            str(certs / "privkey.pem"),
            "-out",
            str(certs / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
    )
    https = free_port()
    env = {
        "APP_IMAGE": f"{repo}:latest",
        "BASE_IMAGE": BASE_IMAGE,
        "DB_IMAGE": db_image,
        "NGINX_IMAGE": NGINX_IMAGE,
        "HTTP_PORT": str(free_port()),
        "HTTPS_PORT": str(https),
        "TLS_CERT_DIR": str(certs),
        "SWARM_CONFIG_VERSION": name,
    }
    wsgi = project / "example_site" / "wsgi.py"
    original = wsgi.read_text()
    base_html = project / "blog" / "templates" / "blog" / "base.html"
    original_html = base_html.read_text()

    def tasks() -> str:
        states = docker(
            "stack",
            "ps",
            name,
            "--no-trunc",
            "--format",
            "{{.Name}} {{.Image}} {{.CurrentState}} {{.Error}}",
            check=False,
        )
        return states.stdout

    def ok(result: subprocess.CompletedProcess[str]) -> str:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:] + tasks()
        return result.stdout

    try:
        # A relative TLS_CERT_DIR counts from swarm/: refused before anything is created.
        result = deploy(project, "code", "-p", name, env={**env, "TLS_CERT_DIR": "./certs"})
        assert result.returncode == 2, result.stdout + result.stderr
        assert "do not exist" in result.stderr and "absolute path" in result.stderr
        assert not docker("network", "ls", "-q", "--filter", f"name={name}_").stdout.strip()

        started = time.monotonic()
        out = ok(deploy(project, "code", "-p", name, "--tag", "v1", env=env))
        first = time.monotonic() - started
        assert "[1/2] build:" in out and "[2/2] rollout:" in out and "migrate job complete" in out
        wait_status(https, "/health/ready/", HOST, 60, tls=True)
        assert service(f"{name}_web")["Spec"]["EndpointSpec"]["Mode"] == "dnsrr"

        # A new revision under load: migrate job, then start-first, nothing failed.
        base_html.write_text(original_html.replace("</title>", " v2</title>", 1))
        with Load(https) as load:
            started = time.monotonic()
            out = ok(deploy(project, "code", "-p", name, "--tag", "v2", env=env))
            second = time.monotonic() - started
            time.sleep(2)
        assert load.failures == [] and load.ok > 50, (load.ok, load.failures[:10], tasks())
        assert f"{name}_web: 2/2 tasks running v2" in out, out
        migrations = docker("service", "ps", f"{name}_migrate", "--format", "{{.Image}}").stdout
        assert f"{repo}:v2" in migrations  # the new revision ran its own migrate job
        print(f"swarm: first deploy {first:.0f}s; v2 {second:.0f}s, {load.ok} requests, 0 failed")

        status = ok(deploy(project, "status", "-p", name, env=env))
        web_row = next(line.split() for line in status.splitlines() if line.startswith("web "))
        assert web_row[1:4] == ["replicated", "2/2", "v2"], status
        assert re.search(r"^migrate\s+replicatedjob\s+\d+ complete\s+v2", status, re.M), status
        logs = ok(deploy(project, "logs", "web", "--tail", "2", "-p", name, env=env))
        assert f"{name}_web." in logs, logs

        # A backup of the in-cluster database: a new 0600 file in a 0700 directory.
        out = ok(deploy(project, "backup", "-p", name, "--output", str(tmp_path / "b"), env=env))
        (dump,) = (tmp_path / "b").iterdir()
        assert dump.name.startswith(f"{name}-") and dump.suffix == ".pgdump", out
        assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
        assert stat.S_IMODE(dump.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o700

        # A broken revision (gunicorn cannot load the app): its tasks never get healthy,
        # the stack is put back, the cause is shown, and the old tasks serve throughout.
        wsgi.write_text(original + '\nraise RuntimeError("broken build")\n')
        with Load(https) as load:
            started = time.monotonic()
            result = deploy(project, "code", "-p", name, "--tag", "broken", env=env)
            third = time.monotonic() - started
        assert result.returncode == 1, result.stdout[-3000:] + result.stderr + tasks()
        assert "Rolled back: the previous version is serving" in result.stderr, result.stderr
        assert "RuntimeError: broken build" in result.stderr, result.stderr
        image = service(f"{name}_web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        assert image.startswith(f"{repo}:v2"), image
        assert load.failures == [] and load.ok > 20, (load.ok, load.failures[:10], tasks())
        assert request(https, "/", HOST, tls=True)[0] == 200
        print(f"swarm: broken deploy undone in {third:.0f}s, {load.ok} requests, 0 failed")

        # `deploy rollback` (after that automatic undo) goes back to v1 under load.
        wsgi.write_text(original)
        with Load(https) as load:
            started = time.monotonic()
            out = ok(deploy(project, "rollback", "-p", name, env=env))
            fourth = time.monotonic() - started
        assert load.failures == [] and load.ok > 20, (load.ok, load.failures[:10], tasks())
        image = service(f"{name}_web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        assert image.startswith(f"{repo}:v1"), (image, out)
        print(f"swarm: rollback to v1 in {fourth:.0f}s, {load.ok} requests, 0 failed")
    finally:
        wsgi.write_text(original)
        base_html.write_text(original_html)
        stack("stack", "rm", name, check=False)
        # Best effort: the swarm fixture leaves the swarm (and its networks) anyway.
        for _ in range(30):
            if not docker(
                "network", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={name}"
            ).stdout.strip():
                break
            time.sleep(1)
        # The stack's named volumes outlive `stack rm`; they go once no task holds them.
        label = f"label=com.docker.stack.namespace={name}"
        for _ in range(30):
            volumes = docker("volume", "ls", "-q", "--filter", label).stdout.split()
            if not volumes or docker("volume", "rm", *volumes, check=False).returncode == 0:
                break
            time.sleep(1)
        for tag in ("v1", "v2", "broken", "previous"):
            docker("rmi", "-f", f"{repo}:{tag}", check=False)
