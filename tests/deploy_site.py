"""A throwaway copy of the example project, dockerized with nginx, driven by `manage.py deploy`."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import docker

from tests import tiers
from tests.dockerize_helpers import ROOT, copy_example

BASE_IMAGE = os.environ.get("DEPLOYKIT_TEST_BASE_IMAGE", "deploykit-ci/python:3.11-slim")
POSTGRES_IMAGE = os.environ.get("DEPLOYKIT_TEST_POSTGRES_IMAGE", "deploykit-ci/postgres:latest")
IMAGES = ROOT / "tests" / "images"


def standin_tag(name: str, *sources: Path) -> str:
    """A stand-in image's tag named by what it is built from, so that an image left by
    an earlier run on this engine is rebuilt once its Dockerfile or server changes."""
    digest = hashlib.sha256(b"".join(source.read_bytes() for source in sources))
    return f"deploykit-ci/{name}:{digest.hexdigest()[:12]}"


NGINX_IMAGE = os.environ.get(
    "DEPLOYKIT_TEST_NGINX_IMAGE", standin_tag("nginx", IMAGES / "nginx" / "Dockerfile")
)
REDIS_IMAGE = standin_tag("redis", IMAGES / "redis" / "Dockerfile")
MEILISEARCH_IMAGE = standin_tag(
    "meilisearch", IMAGES / "meilisearch" / "Dockerfile", ROOT / "tests" / "meilisearch_server.py"
)
ECHO_PATH = "/deploykit-test/echo/"
ECHO_VIEW = f"""

from django.http import HttpResponse  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


@csrf_exempt
def deploykit_test_echo(request):
    if request.method != "POST":
        return HttpResponse(status=405)
    return HttpResponse(b"echo:" + request.body, content_type="text/plain")


urlpatterns.append(path("{ECHO_PATH[1:]}", deploykit_test_echo))
"""
_TLS = ssl.create_default_context()
_TLS.check_hostname = False
_TLS.verify_mode = ssl.CERT_NONE  # a self-signed certificate on loopback


def deploy_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a `manage.py` run in the site (none of the test run's settings)."""
    full = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PATH": "/usr/bin:" + os.environ["PATH"],
        **(env or {}),
    }
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "SECRET_KEY", "DEBUG"):
        if env is None or name not in env:
            full.pop(name, None)
    return full


def run(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    full = deploy_env(env)
    # No terminal, as under cron or CI: a confirmation can never be answered.
    return subprocess.run(
        argv,
        cwd=cwd,
        env=full,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_standin_image(tag: str, dockerfile: Path, context: Path) -> None:
    """Build a local stand-in for a registry image (none can be pulled) unless present."""
    client = docker.from_env()
    try:
        client.images.get(tag)
        return
    except docker.errors.ImageNotFound:
        pass
    finally:
        client.close()
    subprocess.run(
        [
            tiers.DOCKER or "docker",
            "build",
            "--quiet",
            "--build-arg",
            f"BASE_IMAGE={BASE_IMAGE}",
            "--tag",
            tag,
            "--file",
            str(dockerfile),
            str(context),
        ],
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        check=True,
        capture_output=True,
        timeout=600,
    )


def ensure_nginx_image() -> None:
    ensure_standin_image(NGINX_IMAGE, IMAGES / "nginx" / "Dockerfile", IMAGES / "nginx")


def ensure_search_images() -> None:
    """Redis and the Meilisearch-compatible test server (its context is tests/)."""
    ensure_standin_image(REDIS_IMAGE, IMAGES / "redis" / "Dockerfile", IMAGES / "redis")
    ensure_standin_image(MEILISEARCH_IMAGE, IMAGES / "meilisearch" / "Dockerfile", ROOT / "tests")


class Site:
    def __init__(self, directory: Path, project: str, web_port: int | None = None) -> None:
        self.dir = directory
        self.project = project
        self.app = f"{project}-app"
        #: Set when web publishes its own port (no nginx in front).
        self.web_port = web_port

    @classmethod
    def create(
        cls, base: Path, project: str, *options: str, env: str = "", web_port: int | None = None
    ) -> Site:
        """Dockerized with ``options`` (default ``--nginx``); ``env`` is added to .env."""
        site = cls(copy_example(base / "site"), project, web_port)
        built = run(
            [
                sys.executable,
                "-m",
                "build",
                "--wheel",
                "--no-isolation",
                "--outdir",
                str(site.dir / "wheels"),
                str(ROOT),
            ],
            cwd=site.dir,
            timeout=300,
        )
        assert built.returncode == 0, built.stderr[-2000:]
        result = site.manage(
            "dockerize",
            *(options or ("--nginx",)),
            "--no-input",
            env={"SECRET_KEY": "dockerize-only", "DEBUG": "0"},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        # A POST endpoint for the request loop (CSRF-exempt: it stands for an API view).
        with open(site.dir / "example_site" / "urls.py", "a") as urls:
            urls.write(ECHO_VIEW)
        with open(site.dir / ".env", "a") as dotenv:
            dotenv.write(
                f"\nCOMPOSE_PROJECT_NAME={project}\nAPP_IMAGE={site.app}:latest\n"
                f"ALLOWED_HOSTS=localhost,127.0.0.1\nBASE_IMAGE={BASE_IMAGE}\n"
                f"NGINX_IMAGE={NGINX_IMAGE}\n"
                # Loopback only, on ports the engine picks.
                # gunicorn keeps its default worker count (2).
                "HTTP_PORT=127.0.0.1:\nHTTPS_PORT=127.0.0.1:\n"
                f"{f'WEB_PORT={web_port}' if web_port else ''}\n{env}\n"
            )
        (site.dir / "certs").mkdir()
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
                "/CN=localhost",
                "-keyout",
                "certs/privkey.pem",
                "-out",
                "certs/fullchain.pem",
            ],
            cwd=site.dir,
            check=True,
            capture_output=True,
            timeout=60,
        )
        for pem in (site.dir / "certs").iterdir():
            pem.chmod(0o644)  # nginx's workers read them as www-data
        site.git("init", "-q")
        site.git("add", "-A")
        site.git("commit", "-q", "-m", "first")
        return site

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.test", *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return result.stdout.strip()

    def commit_change(self, path: str, pattern: str, replacement: str, message: str) -> str:
        file = self.dir / path
        file.write_text(re.sub(pattern, replacement, file.read_text(), count=1))
        self.git("commit", "-q", "-am", message)
        return self.git("rev-parse", "--short=12", "HEAD")

    def manage(
        self,
        *args: str,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return run([sys.executable, "manage.py", *args], cwd=self.dir, env=env)

    def deploy(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.manage("deploy", *args)

    def port(self) -> int:
        client = docker.from_env()
        try:
            (nginx,) = client.containers.list(
                filters={
                    "label": [
                        f"com.docker.compose.project={self.project}",
                        "com.docker.compose.service=nginx",
                    ]
                }
            )
            return int(nginx.ports["443/tcp"][0]["HostPort"])
        finally:
            client.close()

    def get(self, path: str = "/") -> tuple[int, str]:
        if self.web_port:
            url = f"http://127.0.0.1:{self.web_port}{path}"
        else:
            url = f"https://127.0.0.1:{self.port()}{path}"
        request = urllib.request.Request(url, headers={"Host": "localhost"})
        try:
            with urllib.request.urlopen(request, context=_TLS, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def down(self) -> None:
        docker_cli = tiers.DOCKER or "docker"
        run(
            [
                docker_cli,
                "compose",
                "--project-name",
                self.project,
                "down",
                "--volumes",
                "--remove-orphans",
                "--timeout",
                "5",
            ],
            cwd=self.dir,
            timeout=120,
        )
        client = docker.from_env()
        try:
            for volume in client.volumes.list(filters={"name": f"{self.project}_"}):
                volume.remove(force=True)
            for image in client.images.list(name=self.app):
                for tag in image.tags:
                    client.images.remove(tag, noprune=False)
        finally:
            client.close()


class RequestLoop(threading.Thread):
    """GET / and POST to the echo view in turn, on loopback, each on a new connection,
    at most ``rate`` a second, bounded in count and time; every answer is recorded.
    """

    def __init__(
        self,
        site: Site,
        max_requests: int = 6000,
        max_seconds: float = 400,
        timeout: float = 2,
        rate: float = 20,
    ) -> None:
        super().__init__(daemon=True)
        self.port = site.port()
        self.max_requests = max_requests
        self.deadline = time.monotonic() + max_seconds
        self.timeout = timeout
        self.interval = 1 / rate
        self.stopped = threading.Event()
        #: Bodies of the answered GETs.
        self.bodies: list[str] = []
        self.posts = 0
        self.failures: list[str] = []
        #: Seconds of the slowest answered request.
        self.max_latency = 0.0
        self.started = time.monotonic()
        self.seconds = 0.0

    @property
    def count(self) -> int:
        return len(self.bodies) + self.posts + len(self.failures)

    def _one(self, post: bool) -> None:
        base = f"https://127.0.0.1:{self.port}"
        if post:
            payload = f"n={self.count}".encode()
            request = urllib.request.Request(
                base + ECHO_PATH, data=payload, headers={"Host": "localhost"}, method="POST"
            )
        else:
            request = urllib.request.Request(base + "/", headers={"Host": "localhost"})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, context=_TLS, timeout=self.timeout) as response:
                body = response.read().decode()
            if post:
                if body != "echo:" + payload.decode():
                    self.failures.append(f"POST answered {body[:100]!r}")
                else:
                    self.posts += 1
            else:
                self.bodies.append(body)
            self.max_latency = max(self.max_latency, time.monotonic() - started)
        except (OSError, urllib.error.HTTPError) as exc:
            self.failures.append(f"{'POST' if post else 'GET'}: {exc!r}"[:200])

    def run(self) -> None:
        while (
            not self.stopped.is_set()
            and time.monotonic() < self.deadline
            and self.count < self.max_requests
        ):
            started = time.monotonic()
            self._one(post=self.count % 2 == 1)
            self.stopped.wait(max(0.0, self.interval - (time.monotonic() - started)))
        self.seconds = time.monotonic() - self.started

    def stop(self) -> RequestLoop:
        self.stopped.set()
        self.join(timeout=30)
        return self

    def saw(self, text: str) -> int:
        return sum(text in body for body in self.bodies)

    def report(self) -> str:
        return (
            f"{self.count} requests ({len(self.bodies)} GET, {self.posts} POST answered) in "
            f"{self.seconds:.0f}s, {len(self.failures)} failed, slowest {self.max_latency:.2f}s"
        )
