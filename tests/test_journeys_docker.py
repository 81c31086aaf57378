"""Docker tier: the everyday journeys on a stack with Celery, beat, Redis, PostgreSQL and search.

One project (the example site plus a Celery app, a task that writes a row and a beat
schedule) is dockerized with ``--db postgres --search``, then run twice:

* production-shaped: ``up -d --wait`` exits 0 quickly with web, worker and beat
  healthy; a request's task runs in the worker; beat fires on schedule and keeps its
  schedule on a volume; pausing or stopping the search container leaves web healthy
  and pages fast;
* development (``compose.dev.yaml``): a changed view and a changed task are picked
  up without a restart, ``makemigrations`` writes into the checkout as its owner, and
  Django in the host's venv reaches the services with the URLs ``dockerize`` wrote.

Service images are local stand-ins (tests/images/redis, tests/images/meilisearch,
.ci's postgres), chosen through the *_IMAGE variables.
"""

from __future__ import annotations

import http.client
import json
import os
import pty
import re
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests import tiers
from tests.deploy_site import (
    MEILISEARCH_IMAGE,
    NGINX_IMAGE,
    REDIS_IMAGE,
    ensure_nginx_image,
    ensure_search_images,
)
from tests.dockerize_helpers import ROOT
from tests.test_dockerize_docker import BASE_IMAGE, docker, free_port, make_project, manage

pytestmark = pytest.mark.docker

POSTGRES_IMAGE = os.environ.get("DEPLOYKIT_TEST_POSTGRES_IMAGE", "deploykit-ci/postgres:latest")
DEV_UID = 1234  # not root, not the image's 10001: the owner of the checkout
BEAT_EVERY = 2.0

CELERY_PY = """\
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_site.settings")
app = Celery("example_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
"""
TASKS_PY = """\
import time

from celery import shared_task

from blog.models import Tag

PREFIX = "req"


def _row(slug):
    Tag.objects.create(name=slug, slug=slug)


@shared_task
def record(name):
    _row(f"{PREFIX}-{name}-{time.time_ns() % 10**12}")


@shared_task
def tick():
    _row(f"tick-{time.time():.3f}")
"""
JOURNEY_VIEWS_PY = """\
from django.http import JsonResponse

from blog.models import Tag

MARK = "v1"


def enqueue(request, name):
    from example_site.celery import app  # celery is in the image, not in the test's venv

    app.send_task("blog.tasks.record", args=[name])
    return JsonResponse({"queued": name})


def rows(request, prefix):
    slugs = Tag.objects.filter(slug__startswith=prefix + "-").values_list("slug", flat=True)
    return JsonResponse({"mark": MARK, "slugs": sorted(slugs)})


def pause(request):
    value = "as written"
    breakpoint()
    return JsonResponse({"value": value})
"""
SETTINGS_TAIL = f"""
CELERY_BROKER_URL = env.celery_broker_url()
CELERY_BEAT_SCHEDULE = {{"tick": {{"task": "blog.tasks.tick", "schedule": {BEAT_EVERY}}}}}
"""
# django_celery_beat's DatabaseScheduler: the schedule above is copied into the database
# at beat's start. The package is in the image (requirements.txt), not in the test's venv
# that runs dockerize.
DATABASE_SCHEDULER_TAIL = """
import importlib.util

if importlib.util.find_spec("django_celery_beat"):
    INSTALLED_APPS = [*INSTALLED_APPS, "django_celery_beat"]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
"""
URLS_PY = """\
from django.contrib import admin
from django.urls import include, path

from blog import journey_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", include("django_deploykit.health.urls")),
    path("journey/enqueue/<slug:name>/", journey_views.enqueue),
    path("journey/rows/<slug:prefix>/", journey_views.rows),
    path("journey/pause/", journey_views.pause),
    path("", include("blog.urls")),
]
"""


# Real operations from the host's venv, configured only by the project's .env.
VENV_REACHES_SERVICES = """\
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django_deploykit.search.client import SearchClient

connection.ensure_connection()
print(f"db={connection.settings_dict['HOST']}:{connection.settings_dict['PORT']}")
cache.set("journeys", "ok", 30)
print(f"cache={cache.get('journeys')}")
print(f"search={SearchClient().preflight()}")
print(f"broker={redis.Redis.from_url(settings.CELERY_BROKER_URL).ping()}")
"""


class Stack:
    def __init__(self, project: Path, files: tuple[str, ...], port: int) -> None:
        self.project, self.files, self.port = project, files, port

    def compose(self, *args: str, check: bool = True, timeout: float = 300):
        argv = ["compose", "--progress", "plain"]
        for name in self.files:
            argv += ["-f", name]
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        return docker(*argv, *args, cwd=self.project, env=env, check=check, timeout=timeout)

    def logs(self) -> str:
        text = self.compose("logs", "--no-color", "--tail", "60", check=False).stdout[-6000:]
        web = self.compose("logs", "--no-color", "--tail", "40", "web", check=False).stdout
        return text + "\n--- web:\n" + web[-4000:]

    def get(self, path: str, timeout: float = 15) -> tuple[int, bytes, float]:
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Host": "localhost"})
            response = conn.getresponse()
            return response.status, response.read(), time.monotonic() - started
        finally:
            conn.close()

    def json(self, path: str) -> dict:
        status, body, _ = self.get(path)
        # Django's debug page: its title and exception line say what went wrong.
        summary = re.findall(rb"<title>(.*?)</title>|exception_value\">(.*?)<", body, re.S)
        assert status == 200, (status, summary[:3] or body[-2000:])
        return json.loads(body)

    def wait_for(self, what: str, predicate, timeout: float):
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except (OSError, AssertionError, ValueError, http.client.HTTPException) as exc:
                last = exc
            time.sleep(0.25)
        raise AssertionError(f"{what} not within {timeout}s (last: {last!r})\n{self.logs()}")

    def health(self, service: str) -> dict:
        (cid,) = self.compose("ps", "-q", service).stdout.split()
        state = json.loads(docker("inspect", cid).stdout)[0]["State"]
        return state.get("Health") or {}

    def seconds_to_healthy(self, service: str) -> float:
        """From the container's start to its first passing healthcheck."""
        (cid,) = self.compose("ps", "-q", service).stdout.split()
        state = json.loads(docker("inspect", cid).stdout)[0]["State"]
        assert state["Health"]["Status"] == "healthy", (service, state["Health"])
        passed = [p["End"] for p in state["Health"]["Log"] if p["ExitCode"] == 0]
        return (_when(passed[0]) - _when(state["StartedAt"])).total_seconds()

    def timeline(self, since: datetime) -> str:
        """Each container's start, first healthy report or exit, in s since ``since``.

        From the engine's events (a container's health log keeps only its last five
        probes, too few to find the first passing one). Best effort, for the report: the
        engine keeps its last 256 events only, so on a busy engine the first ones may be
        gone.
        """
        until = datetime.now(timezone.utc)
        events = docker(
            "events", "--since", since.isoformat(), "--until", until.isoformat(),
            "--filter", f"label=com.docker.compose.project={self.project.name}",
            "--filter", "type=container", "--format", "{{json .}}",
        ).stdout.splitlines()  # fmt: skip
        firsts: dict[tuple[str, str], float] = {}
        for line in events:
            event = json.loads(line)
            action = event.get("Action") or event.get("status", "")
            what = {"start": "start", "die": "exited", "health_status: healthy": "healthy"}.get(
                action
            )
            service = event["Actor"]["Attributes"].get("com.docker.compose.service")
            if what and service:
                at = event["timeNano"] / 1e9 - since.timestamp()
                firsts.setdefault((service, what), at)
        order = sorted({s for s, _ in firsts}, key=lambda s: firsts.get((s, "start"), 0))
        return "; ".join(
            service
            + "".join(
                f" {what} {firsts[(service, what)]:.1f}"
                for what in ("start", "healthy", "exited")
                if (service, what) in firsts
            )
            for service in order
        )

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", "--timeout", "5", check=False)


def _when(stamp: str) -> datetime:
    """Docker's RFC 3339 time with nanoseconds, to a datetime."""
    main, _, rest = stamp.partition(".")
    fraction = re.match(r"\d*", rest).group(0)[:6]
    zone = rest[len(re.match(r"\d*", rest).group(0)) :]
    zone = "+00:00" if zone in ("Z", "") else zone
    return datetime.fromisoformat(f"{main}.{fraction or '0'}{zone}")


def _journeys_project(
    base: Path, settings_tail: str = "", requirements: str = "", *dockerize: str
) -> tuple[Path, str]:
    """The example site with the Celery app, dockerized; and what dockerize printed."""
    ensure_search_images()
    ensure_nginx_image()
    name = f"dkj{uuid.uuid4().hex[:8]}"
    project = make_project(base / name)
    (project / "example_site" / "celery.py").write_text(CELERY_PY)
    (project / "blog" / "tasks.py").write_text(TASKS_PY)
    (project / "blog" / "journey_views.py").write_text(JOURNEY_VIEWS_PY)
    (project / "example_site" / "urls.py").write_text(URLS_PY)
    with (project / "example_site" / "settings.py").open("a") as settings:
        settings.write(SETTINGS_TAIL + settings_tail)
    with (project / "requirements.txt").open("a") as file:
        file.write(requirements)
    result = manage(project, "dockerize", "--db", "postgres", *dockerize)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "celery        example_site + beat" in result.stdout
    with (project / ".env").open("a") as env:
        env.write(
            f"BASE_IMAGE={BASE_IMAGE}\nDB_IMAGE={POSTGRES_IMAGE}\nREDIS_IMAGE={REDIS_IMAGE}\n"
            f"MEILISEARCH_IMAGE={MEILISEARCH_IMAGE}\nAPP_IMAGE=deploykit-test/{name}:latest\n"
            f"NGINX_IMAGE={NGINX_IMAGE}\n"
        )
    return project, result.stdout


def _remove_images(project: Path) -> None:
    name = project.name
    docker("rmi", "-f", f"deploykit-test/{name}:latest", f"{name}-dev:latest", check=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Iterator[Path]:
    if tiers.unavailable("docker"):
        pytest.skip(tiers.unavailable("docker"))
    base = tmp_path_factory.mktemp("journeys")
    project, said = _journeys_project(base, "", "", "--search")
    # dockerize says how the venv reaches the services, and wrote the URLs into .env.
    assert "up -d --wait db meilisearch redis" in said
    assert ".env gives the venv DATABASE_URL, CACHE_URL, CELERY_BROKER_URL, MEILISEARCH_URL" in said
    yield project
    _remove_images(project)


def _dap_initialize(port: int, timeout: float = 20) -> dict:
    """A Debug Adapter Protocol ``initialize`` request to debugpy; its response."""
    body = json.dumps(
        {
            "seq": 1,
            "type": "request",
            "command": "initialize",
            "arguments": {"clientID": "deploykit-test", "adapterID": "debugpy"},
        }
    ).encode()
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        data = b""
        while time.monotonic() < deadline:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            # Messages are "Content-Length: N\r\n\r\n" + N bytes; events may come first.
            while b"\r\n\r\n" in data:
                header, _, rest = data.partition(b"\r\n\r\n")
                length = int(re.search(rb"Content-Length: (\d+)", header).group(1))
                if len(rest) < length:
                    break
                message, data = json.loads(rest[:length]), rest[length:]
                if message.get("type") == "response" and message.get("command") == "initialize":
                    return message
    raise AssertionError(f"no initialize response from debugpy within {timeout}s: {data[:500]!r}")


def _pdb_in_attached_run(stack: Stack, project: Path) -> str:
    """The documented way to stop at breakpoint(): web run attached to a terminal.

    Returns the pause view's answer after pdb changed a local and continued.
    """
    stack.compose("stop", "web")
    master, slave = pty.openpty()
    argv = [tiers.DOCKER or "docker", "compose"]
    for name in stack.files:
        argv += ["-f", name]
    # DEBUGPY off for this run: under debugpy, breakpoint() stops in the IDE instead.
    argv += ["run", "--rm", "--service-ports", "-e", "DEBUGPY=false", "web", "dev"]
    process = subprocess.Popen(
        argv, cwd=project, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
    )
    os.close(slave)
    seen = b""

    def read_until(marker: bytes, timeout: float) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
        assert marker in seen, (marker, seen[-3000:])

    answer: dict[str, object] = {}
    try:
        read_until(b"Quit the server with", 120)
        thread = threading.Thread(
            target=lambda: answer.update(page=stack.get("/journey/pause/", timeout=60)),
            daemon=True,
        )
        thread.start()
        read_until(b"(Pdb)", 30)
        os.write(master, b"value = 'set in pdb'\n")
        os.write(master, b"c\n")
        thread.join(30)
        status, body, _ = answer["page"]  # type: ignore[misc]
        assert status == 200, body[-2000:]
        return json.loads(body)["value"]
    finally:
        os.write(master, b"\x03")  # Ctrl-C, as a user ends runserver
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        os.close(master)


def _set_env(project: Path, **values: object) -> None:
    path = project / ".env"
    text = path.read_text()
    for key, value in values.items():
        text, found = re.subn(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
        if not found:
            text += f"{key}={value}\n"
    path.write_text(text)


def test_production_stack_waits_quickly_runs_tasks_and_survives_search_outages(project):
    port = free_port()
    _set_env(project, WEB_PORT=port)
    stack = Stack(project, ("compose.yaml",), port)
    try:
        started = time.monotonic()
        build = stack.compose("build", timeout=900, check=False)
        build_seconds = time.monotonic() - started
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        started, since = time.monotonic(), datetime.now(timezone.utc)
        up = stack.compose("up", "-d", "--wait", "--wait-timeout", "120", check=False)
        up_seconds = time.monotonic() - started
        assert up.returncode == 0, up.stderr[-3000:] + stack.logs()
        ready = {
            service: stack.seconds_to_healthy(service) for service in ("web", "worker", "beat")
        }
        print(
            f"\njourneys: build {build_seconds:.1f} s, up -d --wait {up_seconds:.1f} s "
            f"(load average {os.getloadavg()[0]:.1f}); healthy after start: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in ready.items())
            + f"\njourneys: timeline: {stack.timeline(since)}"
        )
        # The goal is "well under 60 s": 24-30 s measured at load 9-13 on 2 cores (first
        # start: PostgreSQL's initdb and Python starts are most of it), 38-77 s before
        # (benchmarks/stack_up.py). The bounds leave a loaded CI machine about twice
        # that: the whole stack under 60 s, and web, worker and beat healthy within 40 s
        # of their start (their first probes run at 3-5 s; 5-13 s seen at load 9-13, up
        # to 30 s with another stack starting beside it). The old worker took >= 60 s.
        assert all(seconds < 40 for seconds in ready.values()), ready
        assert up_seconds < 60, f"up -d --wait took {up_seconds:.1f} s"

        # The worker and beat said they were ready (the marks their healthchecks test).
        for service in ("worker", "beat"):
            marks = stack.compose("exec", "-T", service, "ls", "/tmp").stdout.split()
            assert f"deploykit-{service}-ready" in marks, (service, marks)

        # debugpy is for the development image only.
        imported = stack.compose("exec", "-T", "web", "python", "-c", "import debugpy", check=False)
        assert imported.returncode != 0 and "No module named 'debugpy'" in imported.stderr

        # A fresh search volume has no index: reported, not fatal; reindex fixes it.
        # (Retried: on a very busy machine one probe's checks can miss its deadline.)
        body = stack.wait_for(
            "health degraded",
            lambda: (b := stack.json("/health/"))["status"] == "degraded" and b,
            20,
        )
        assert body["checks"]["search"]["reason"] == "missing_index", body
        stack.compose("exec", "-T", "web", "python", "manage.py", "seed_posts", "--count", "40")
        stack.compose("exec", "-T", "web", "python", "manage.py", "reindex_search")
        stack.wait_for("health ok", lambda: stack.json("/health/")["status"] == "ok", 10)

        # A task sent by a request runs in the worker and writes its row.
        assert stack.json("/journey/enqueue/hello/")["queued"] == "hello"
        stack.wait_for("the task's row", lambda: stack.json("/journey/rows/req/")["slugs"], 20)

        # Beat fires on schedule, and its schedule state lives on a volume.
        # Ticks from now on (the first ones queued before the worker was up ran at once).
        seen = set(stack.json("/journey/rows/tick/")["slugs"])
        ticks = stack.wait_for(
            "four new beats",
            lambda: (s := sorted(set(stack.json("/journey/rows/tick/")["slugs"]) - seen))[3:] and s,
            8 * BEAT_EVERY + 10,
        )
        times = sorted(float(s.split("-", 1)[1]) for s in ticks)[1:]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(0.5 * BEAT_EVERY < gap < 2.5 * BEAT_EVERY for gap in gaps), gaps
        files = stack.compose("exec", "-T", "beat", "ls", "/var/lib/celerybeat").stdout
        assert "celerybeat-schedule" in files
        volumes = stack.compose("config", "--volumes").stdout.split()
        assert "beat-data" in volumes

        # Search paused (hung): pages stay fast, web stays healthy, the probe says degraded.
        stack.compose("pause", "meilisearch")
        try:
            search, plain = [], []
            for n in range(10):
                status, page, seconds = stack.get(f"/?q=post+{n}")
                assert status == 200 and b"result" in page
                search.append(seconds)
                status, _, seconds = stack.get("/")
                assert status == 200
                plain.append(seconds)
            print(
                f"journeys: search paused: search pages max {max(search):.2f} s, median "
                f"{statistics.median(search):.3f} s; plain pages max {max(plain):.2f} s"
            )
            # Before: every search waited 10 s on the hung server. Now at most one per
            # gunicorn worker (2) waits DEPLOYKIT_SEARCH_QUERY_TIMEOUT (1.5 s); the rest
            # fall back at once. Margins are for a loaded CI machine.
            slow = [seconds for seconds in search if seconds > 1.4]
            assert len(slow) <= 2 and max(search) < 5.0, search
            assert statistics.median(search) < 1.0 and max(plain) < 3.0, (search, plain)
            body = stack.json("/health/")
            assert body["status"] == "degraded" and body["checks"]["search"]["status"] == (
                "degraded"
            )
            # Three failed container probes (5 s apart) would turn web unhealthy.
            time.sleep(17)
            health = stack.health("web")
            assert health["Status"] == "healthy" and health["FailingStreak"] == 0, health
        finally:
            stack.compose("unpause", "meilisearch", check=False)

        # Search stopped: the same.
        stack.compose("stop", "meilisearch")
        status, page, seconds = stack.get("/?q=post")
        print(f"journeys: search stopped: a search page {seconds:.2f} s")
        assert status == 200 and seconds < 5.0
        assert stack.get("/health/")[0] == 200
    finally:
        stack.down()


def test_development_override_reloads_writes_as_owner_and_serves_the_venv(project):
    web, db, redis, search, debug = (free_port() for _ in range(5))
    text = (project / ".env").read_text()
    password = re.search(r"^DB_PASSWORD=(.+)$", text, re.M).group(1)
    # The ports are moved off the host's own servers: the venv URLs follow, as documented.
    _set_env(
        project,
        WEB_PORT=web, DB_PORT=db, REDIS_PORT=redis, MEILISEARCH_PORT=search,
        DEV_UID=DEV_UID, DEV_GID=DEV_UID, DEBUGPY="true", DEBUGPY_PORT=debug,
        DATABASE_URL=f"postgres://app:{password}@127.0.0.1:{db}/app",
        CACHE_URL=f"redis://127.0.0.1:{redis}/1",
        CELERY_BROKER_URL=f"redis://127.0.0.1:{redis}/0",
        MEILISEARCH_URL=f"http://127.0.0.1:{search}",
    )  # fmt: skip
    subprocess.run(["chown", "-R", f"{DEV_UID}:{DEV_UID}", str(project)], check=True)
    stack = Stack(project, ("compose.yaml", "compose.dev.yaml"), web)
    config = json.loads(stack.compose("config", "--format", "json").stdout)
    assert config["name"] == f"{project.name}-dev"  # never the production stack's project
    try:
        started = time.monotonic()
        up = stack.compose("up", "-d", "--build", "--wait", "--wait-timeout", "180", check=False)
        up_seconds = time.monotonic() - started
        assert up.returncode == 0, up.stderr[-3000:] + stack.logs()
        print(f"\njourneys: dev up -d --build --wait {up_seconds:.1f} s")
        assert stack.json("/journey/rows/req/")["mark"] == "v1"

        # DEBUGPY=true: runserver under debugpy, which answers a DAP client on 127.0.0.1.
        started = time.monotonic()
        response = _dap_initialize(debug)
        assert response["success"] is True, response
        assert response["body"].get("supportsConfigurationDoneRequest") is True, response
        print(f"journeys: debugpy initialize answered in {time.monotonic() - started:.2f} s")
        published = stack.compose("port", "web", "5678").stdout.strip()
        assert published == f"127.0.0.1:{debug}", published
        # The page still serves with debugpy in the process.
        assert stack.json("/journey/rows/req/")["mark"] == "v1"

        # A changed view is served without a restart (runserver's reloader).
        views = project / "blog" / "journey_views.py"
        views.write_text(views.read_text().replace('MARK = "v1"', 'MARK = "v2"'))
        started = time.monotonic()
        stack.wait_for(
            "the changed view", lambda: stack.json("/journey/rows/req/")["mark"] == "v2", 30
        )
        print(f"journeys: view reload {time.monotonic() - started:.1f} s")

        # A changed task runs in the restarted worker.
        tasks = project / "blog" / "tasks.py"
        tasks.write_text(tasks.read_text().replace('PREFIX = "req"', 'PREFIX = "new"'))
        started = time.monotonic()

        def new_code_ran() -> bool:
            stack.json("/journey/enqueue/again/")
            time.sleep(0.5)
            return bool(stack.json("/journey/rows/new/")["slugs"])

        stack.wait_for("the changed task", new_code_ran, 45)
        print(f"journeys: worker reload {time.monotonic() - started:.1f} s")
        # Beat runs in development too.
        stack.wait_for("a beat", lambda: stack.json("/journey/rows/tick/")["slugs"], 20)

        # makemigrations writes into the checkout, as the checkout's owner.
        models = project / "blog" / "models.py"
        models.write_text(
            models.read_text().replace(
                "    body = models.TextField()\n",
                "    body = models.TextField()\n"
                "    note = models.CharField(max_length=20, blank=True)\n",
            )
        )
        made = stack.compose(
            "exec", "-T", "web", "python", "manage.py", "makemigrations", "blog", "--name", "note",
            check=False,
        )  # fmt: skip
        assert made.returncode == 0, made.stdout + made.stderr
        (migration,) = (project / "blog" / "migrations").glob("*_note.py")
        assert migration.stat().st_uid == DEV_UID

        # Django in the host's venv reaches the services with the URLs in .env.
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env.update(PYTHONPATH=str(ROOT), DEPLOYKIT_IN_CONTAINER="0")
        reach = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", VENV_REACHES_SERVICES],
            cwd=project, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert reach.returncode == 0, reach.stdout + reach.stderr
        assert re.findall(r"^\w+=\S+$", reach.stdout, re.M) == [
            f"db=127.0.0.1:{db}",
            "cache=ok",
            "search=1.15.0",
            "broker=True",
        ], reach.stdout

        # No request of this journey failed: runserver logged no 500 (reloads included).
        served = stack.compose("logs", "--no-color", "web").stdout
        assert not re.search(r'" 500 \d+', served), served[-6000:]

        # breakpoint() with a terminal attached (the documented command): pdb prompts,
        # a changed local reaches the response.
        assert _pdb_in_attached_run(stack, project) == "set in pdb"
    finally:
        stack.down()


def test_database_scheduler_beat_is_healthy_and_fires(tmp_path_factory):
    """django_celery_beat's DatabaseScheduler: no schedule file, no beat volume; beat is
    healthy once its scheduler has read the database, and the schedule fires."""
    if tiers.unavailable("docker"):
        pytest.skip(tiers.unavailable("docker"))
    project, said = _journeys_project(
        tmp_path_factory.mktemp("dbbeat"), DATABASE_SCHEDULER_TAIL, "django-celery-beat>=2.6\n"
    )
    port = free_port()
    _set_env(project, WEB_PORT=port)
    stack = Stack(project, ("compose.yaml",), port)
    assert "beat-data" not in stack.compose("config", "--volumes").stdout.split()
    try:
        build = stack.compose("build", timeout=900, check=False)
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        started, since = time.monotonic(), datetime.now(timezone.utc)
        up = stack.compose("up", "-d", "--wait", "--wait-timeout", "120", check=False)
        up_seconds = time.monotonic() - started
        assert up.returncode == 0, up.stderr[-3000:] + stack.logs()
        print(
            f"\njourneys (DatabaseScheduler): up -d --wait {up_seconds:.1f} s "
            f"(load average {os.getloadavg()[0]:.1f}); beat healthy after start "
            f"{stack.seconds_to_healthy('beat'):.1f} s\njourneys: timeline: {stack.timeline(since)}"
        )
        # The schedule came from the database (copied there from CELERY_BEAT_SCHEDULE).
        rows = stack.compose(
            "exec", "-T", "web", "python", "manage.py", "shell", "-c",
            "from django_celery_beat.models import PeriodicTask; "
            "print(list(PeriodicTask.objects.values_list('name', flat=True)))",
        ).stdout  # fmt: skip
        assert "'tick'" in rows, rows
        marks = stack.compose("exec", "-T", "beat", "ls", "/tmp").stdout.split()
        assert "deploykit-beat-ready" in marks, marks
        seen = set(stack.json("/journey/rows/tick/")["slugs"])
        stack.wait_for(
            "two new beats",
            lambda: len(set(stack.json("/journey/rows/tick/")["slugs"]) - seen) >= 2,
            4 * BEAT_EVERY + 20,
        )
    finally:
        stack.down()
        _remove_images(project)
