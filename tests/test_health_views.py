"""Health endpoints in process: schema, status codes, secrecy, deadline, cache, middleware."""

from __future__ import annotations

import sqlite3
import threading
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.migrations.loader import MigrationLoader
from django.test import Client, override_settings

from django_deploykit.health.checks import Check, CheckFailed, MigrationsCheck
from django_deploykit.health.runner import runner
from tests.health_fixtures import (
    MARIADB_URL,
    POSTGRES_URL,
    HungServer,
    closed_port,  # noqa: F401
    db_config,
    sqlite_config,
)

pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")

DB_ONLY = ["django_deploykit.health.checks.DatabaseCheck"]
MIDDLEWARE_FIRST = [
    "django_deploykit.health.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tests.login_required.LoginRequiredMiddleware",
]


@pytest.fixture(autouse=True)
def fresh_runner():
    runner.reset()
    MigrationsCheck.reset()
    yield
    runner.reset()
    MigrationsCheck.reset()


def site(databases=None, checks=DB_ONLY, **extra):
    return override_settings(
        DATABASES={"default": sqlite_config(), **(databases or {})},
        DEPLOYKIT_HEALTH_CHECKS=checks,
        DEPLOYKIT_HEALTH_CACHE_SECONDS=extra.pop("ttl", 0),
        **extra,
    )


def test_ready_ok_schema_and_headers(client):
    with site(checks=[*DB_ONLY, "django_deploykit.health.checks.CacheCheck"]):
        response = client.get("/health/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["status"] == "ok" and body["tier"] == "ready" and body["checked_at"]
    assert set(body["checks"]) == {"database:default", "cache:default"}
    item = body["checks"]["database:default"]
    assert item["status"] == "ok" and isinstance(item["duration_ms"], float)
    assert "reason" not in item


def test_live_does_no_io_and_head_works(client, closed_port):  # noqa: F811
    broken = {"broken": db_config("postgres://u@127.0.0.1/db", PORT=closed_port)}
    with site(broken):
        live = client.get("/health/live/")
        ready = client.get("/health/ready/")
        head = client.head("/health/")
    assert live.status_code == 200 and live.json()["checks"] == {}
    assert ready.status_code == 503
    assert ready.json()["checks"]["database:broken"]["reason"] == "refused"
    assert head.status_code == 503 and head.content == b""
    assert client.post("/health/").status_code == 405


def test_verbose_text_listing(client, closed_port):  # noqa: F811
    with site({"broken": db_config("postgres://u@127.0.0.1/db", PORT=closed_port)}):
        response = client.get("/health/?verbose")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "[+]database:default ok" in text
    assert "[-]database:broken fail: refused" in text
    assert text.endswith("ready check failed\n")


OPS_TOKEN = "t0ken-for-ops-t0ken-for-ops-t0ken-for-ops"


@pytest.mark.postgres
def test_a_token_shorter_than_the_minimum_never_shows_details(client, closed_port):  # noqa: F811
    short = "t0ken-for-ops"
    broken = {"broken": db_config("postgres://u@127.0.0.1/db", PORT=closed_port)}
    with site(broken, DEPLOYKIT_HEALTH_TOKEN=short):
        response = client.get("/health/", headers={"authorization": f"Bearer {short}"})
    with site(broken, DEPLOYKIT_HEALTH_TOKEN=OPS_TOKEN):
        allowed = client.get("/health/", headers={"authorization": f"Bearer {OPS_TOKEN}"})
    assert all("detail" not in c for c in response.json()["checks"].values())
    assert any("detail" in c for c in allowed.json()["checks"].values())


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(MARIADB_URL, marks=pytest.mark.mariadb, id="mariadb"),
        pytest.param(POSTGRES_URL, marks=pytest.mark.postgres, id="postgres"),
    ],
)
def test_public_body_never_leaks_host_user_or_driver_text(client, url):
    config = db_config(url, USER="leaky_user_name", PASSWORD="leaky-Pa55")
    with site({"db": config}, DEPLOYKIT_HEALTH_TOKEN=OPS_TOKEN):
        public = client.get("/health/")
        verbose = client.get("/health/?verbose")
        wrong = client.get("/health/", headers={"authorization": "Bearer nope"})
        authorised = client.get("/health/", headers={"authorization": f"Bearer {OPS_TOKEN}"})
    assert public.status_code == 503
    assert public.json()["checks"]["database:db"] == {
        "status": "fail",
        "duration_ms": public.json()["checks"]["database:db"]["duration_ms"],
        "reason": "auth",
    }
    for response in (public, verbose, wrong):
        body = response.content.decode().lower()
        for secret in (
            "127.0.0.1",
            "leaky_user_name",
            "leaky-pa55",
            "denied",
            "error",
            "fatal",
            "password",
            "mysql",
            "psycopg",
            "operational",
        ):
            assert secret not in body, secret
    detail = authorised.json()["checks"]["database:db"]["detail"]
    assert "leaky_user_name" in detail and "leaky-Pa55" not in detail


@pytest.mark.mariadb
@pytest.mark.postgres
def test_deadline_holds_and_repeated_probes_stay_bounded(client):
    hung = HungServer()
    databases = {
        "maria": db_config(MARIADB_URL, HOST="127.0.0.1", PORT=hung.port),
        "pg": db_config(POSTGRES_URL, HOST="127.0.0.1", PORT=hung.port),
    }
    threads_before = threading.active_count()
    try:
        with site(databases, DEPLOYKIT_HEALTH_DEADLINE=0.3):
            for _ in range(15):
                started = time.monotonic()
                response = client.get("/health/")
                assert time.monotonic() - started < 0.6
                assert response.status_code == 503
                checks = response.json()["checks"]
                assert checks["database:maria"]["reason"] == "timeout"
                assert checks["database:pg"]["reason"] == "timeout"
                assert checks["database:default"]["status"] == "ok"
        # 15 probes × 0.3 s = 4.5 s; each hung attempt lasts 1 s (MySQL) or 2 s (libpq)
        # and is shared by the probes that arrive meanwhile.
        assert len(hung.accepted) <= 10
        assert threading.active_count() <= threads_before + 3
    finally:
        hung.close()


class Slow(Check):
    name = "slow"
    calls = 0

    def check(self, timeout):
        type(self).calls += 1
        time.sleep(0.2)


def test_result_cache_and_single_flight(client):
    Slow.calls = 0
    statuses = []

    def hit():
        statuses.append(Client().get("/health/").status_code)

    with site(checks=["tests.test_health_views.Slow"], ttl=5, DEPLOYKIT_HEALTH_DEADLINE=2):
        workers = [threading.Thread(target=hit) for _ in range(40)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(10)
        again = client.get("/health/").json()
    assert statuses == [200] * 40
    assert Slow.calls == 1  # 41 probes, one run
    assert again["checks"]["slow"]["age_ms"] >= 0


class Broken(Check):
    name = "queue"

    def check(self, timeout):
        raise CheckFailed("backlog", "12000 jobs waiting on redis://secret-host")


class Crashing(Check):
    name = "crash"

    def check(self, timeout):
        raise RuntimeError("boom at db.internal:5432")


def test_custom_checks_report_reasons_without_text(client):
    checks = ["tests.test_health_views.Broken", "tests.test_health_views.Crashing"]
    with site(checks=checks):
        body = client.get("/health/").json()
    assert body["checks"]["queue"]["reason"] == "backlog"
    assert body["checks"]["crash"]["reason"] == "unknown"
    assert "secret-host" not in str(body) and "db.internal" not in str(body)


def test_invalid_checks_setting_answers_503(client):
    with site(checks=["no.such.Check"]):
        response = client.get("/health/")
    assert response.status_code == 503 and response.json()["reason"] == "misconfigured"


def test_migrations_check_one_query_then_none(client, tmp_path):
    path = tmp_path / "mig.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE django_migrations (id integer primary key, app, name, applied)")
    nodes = sorted(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)
    conn.executemany("INSERT INTO django_migrations (app, name) VALUES (?, ?)", nodes[:-1])
    conn.commit()
    mig = ["django_deploykit.health.checks.MigrationsCheck"]
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    with override_settings(
        DATABASES={"default": database},
        DEPLOYKIT_HEALTH_CHECKS=mig,
        DEPLOYKIT_HEALTH_CACHE_SECONDS=0,
    ):
        pending = client.get("/health/startup/")
        assert pending.status_code == 503
        assert pending.json()["checks"]["migrations"]["reason"] == "migrations"
        conn.execute("INSERT INTO django_migrations (app, name) VALUES (?, ?)", nodes[-1])
        conn.commit()
        assert client.get("/health/startup/").status_code == 200
        # Once everything is applied the check no longer touches the database.
        conn.execute("DROP TABLE django_migrations")
        conn.commit()
        assert client.get("/health/").status_code == 200
    conn.close()


def test_missing_migrations_table(client, tmp_path):
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "empty.db")}
    sqlite3.connect(database["NAME"]).close()
    with override_settings(
        DATABASES={"default": database},
        DEPLOYKIT_HEALTH_CHECKS=["django_deploykit.health.checks.MigrationsCheck"],
    ):
        body = client.get("/health/startup/").json()
    assert body["checks"]["migrations"]["reason"] == "migrations"


@override_settings(
    ALLOWED_HOSTS=["example.com"], SECURE_SSL_REDIRECT=True, MIDDLEWARE=MIDDLEWARE_FIRST
)
@pytest.mark.parametrize(
    "path", ["/health/", "/health", "/health/live/", "/health/ready", "/health/startup/"]
)
def test_probes_pass_host_ssl_and_login_middleware(client, path):
    with site():
        response = client.get(path, HTTP_HOST="10.1.2.3")
    assert response.status_code == 200


@override_settings(
    ALLOWED_HOSTS=["example.com"], SECURE_SSL_REDIRECT=True, MIDDLEWARE=MIDDLEWARE_FIRST
)
def test_other_paths_keep_the_strict_middleware(client):
    assert client.get("/healthz", HTTP_HOST="10.1.2.3").status_code == 400
    assert client.get("/health/other/", HTTP_HOST="example.com").status_code == 301
    with override_settings(MIDDLEWARE=MIDDLEWARE_FIRST[1:]):
        plain = Client()  # a new handler: the middleware chain is built on first use
        assert plain.get("/health/", HTTP_HOST="10.1.2.3").status_code == 400
        assert plain.get("/health/", HTTP_HOST="example.com").status_code == 301


@override_settings(MIDDLEWARE=MIDDLEWARE_FIRST, DEPLOYKIT_HEALTH_PATH="/-/probe")
def test_custom_health_path(client):
    with site():
        assert client.get("/-/probe/live/", HTTP_HOST="10.1.2.3").status_code == 200


def test_healthcheck_command(closed_port):  # noqa: F811
    out = StringIO()
    with site():
        call_command("healthcheck", "--json", stdout=out)
    assert '"status": "ok"' in out.getvalue()
    broken = {"broken": db_config("postgres://u@127.0.0.1/db", PORT=closed_port)}
    with site(broken), pytest.raises(CommandError) as info:
        call_command("healthcheck", "--tier", "ready", stdout=out)
    assert info.value.returncode == 1
    assert "[-]database:broken fail: refused" in out.getvalue()
    with site(checks=["no.such.Check"]), pytest.raises(CommandError) as info:
        call_command("healthcheck", stdout=out)
    assert info.value.returncode == 1


# A probe answered while the interpreter exits (runserver's reloader ends the old process
# with sys.exit while a server thread still takes a request): the health pool's threads
# have stopped and marked it shut down, and submit() raises. A non-daemon thread stands in
# for the server thread: it runs after the pool's exit hook, before the interpreter ends.
EXITING_PROBE = """
import concurrent.futures.thread as pool_module
import threading
import time

import django

django.setup()
from django_deploykit.health.checks import Check
from django_deploykit.health.runner import Runner, runner


class Quick(Check):
    name = "quick"

    def check(self, timeout):
        pass


runner.run("ready", [Quick()], 2.0, 0)  # the pool exists, as after earlier probes


def late_probe():
    while not pool_module._shutdown:
        time.sleep(0.001)
    # The pool that served before ("after shutdown"), and a new one ("after interpreter
    # shutdown"): runserver's log showed both.
    for name, each in (("late probe", runner), ("new runner", Runner())):
        report = each.run("ready", [Quick()], 2.0, 0)
        print(f"{name}:", [r.reason for r in report.results], flush=True)


threading.Thread(target=late_probe).start()
"""


def test_a_probe_while_the_process_exits_still_answers():
    import os
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-c", EXITING_PROBE],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "late probe: ['ok']\nnew runner: ['ok']" in result.stdout, (
        result.stdout + result.stderr[-3000:]
    )
