"""Detection reads the live settings and the project's files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from django_deploykit.docker.detect import detect
from django_deploykit.docker.plan import Choices, make_plan
from django_deploykit.docker.render import render_all
from django_deploykit.exceptions import ConfigError
from tests.dockerize_helpers import project_settings

pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")

SQLITE = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}


@pytest.fixture
def project(tmp_path: Path, settings) -> Path:
    for name, value in project_settings(tmp_path).items():
        setattr(settings, name, value)
    settings.DATABASES = {"default": SQLITE}
    return tmp_path


def plan_for(project: Path, **choices):
    return make_plan(detect(project), Choices(**choices))


def test_defaults_of_a_plain_project(project: Path) -> None:
    facts = detect(project)
    assert facts.python_version == f"{sys.version_info.major}.{sys.version_info.minor}"
    # The tests run with tests.settings, but WSGI_APPLICATION's wsgi.py names the module
    # the project's servers load: the image takes that one.
    assert facts.settings_module == "example_site.settings"
    assert facts.settings.reason == "wsgi.py names it; this run uses tests.settings"
    assert facts.static_root == "staticfiles" and facts.media_root == "media"
    assert facts.whitenoise and not facts.redis and not facts.search
    assert facts.celery_app is None
    plan = make_plan(facts, Choices())
    assert (plan.db, plan.server, plan.port, plan.nginx) == ("sqlite", "gunicorn", 8000, False)
    assert plan.app_target == "example_site.wsgi:application"
    assert not plan.wait_for_db  # SQLite alone: nothing to wait for, no startup cost


@pytest.mark.parametrize(
    ("engine", "vendor"),
    [
        ("django.db.backends.mysql", "mariadb"),
        ("django.db.backends.postgresql", "postgres"),
        ("django.contrib.gis.db.backends.postgis", None),
    ],
)
def test_database_engine_of_the_default_alias(project: Path, settings, engine, vendor) -> None:
    settings.DATABASES = {"default": {"ENGINE": engine, "NAME": "x"}}
    if vendor is None:
        with pytest.raises(ConfigError, match="--db sqlite"):
            plan_for(project)
        assert plan_for(project, db="postgres").db == "postgres"
    else:
        plan = plan_for(project)
        assert plan.db == vendor and plan.wait_for_db


def test_other_aliases_stay_external(project: Path, settings) -> None:
    settings.DATABASES = {
        "default": {"ENGINE": "django.db.backends.mysql", "NAME": "site"},
        "analytics": {"ENGINE": "django.db.backends.postgresql", "NAME": "stats"},
    }
    plan = plan_for(project)
    assert plan.db == "mariadb"
    assert [a.alias for a in plan.facts.external_databases] == ["analytics"]
    files = {f.path: f.content for f in render_all(plan)}
    # One database service; the external alias is configured from env, not containerized.
    assert (
        files["compose.yaml"].count("\n  db:\n") == 1 and "postgres:" not in files["compose.yaml"]
    )
    # Both drivers' runtime libraries are present; wait_for_db covers every alias.
    assert "libmariadb3" in files["Dockerfile"]
    assert "wait_for_db" in files["docker-entrypoint.sh"].split("  web)")[1].split(";;")[0]


def test_sqlite_with_an_external_database_waits(project: Path, settings) -> None:
    settings.DATABASES = {
        "default": SQLITE,
        "analytics": {"ENGINE": "django.db.backends.postgresql", "NAME": "stats"},
    }
    assert plan_for(project).wait_for_db


def test_redis_cache_and_meilisearch(project: Path, settings) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}
    settings.DEPLOYKIT_MEILISEARCH_URL = "http://127.0.0.1:7700"
    plan = plan_for(project)
    assert plan.redis and plan.search and not plan.celery
    assert not plan_for(project, search=False).search


def test_celery_app_and_beat(project: Path, settings, monkeypatch, tmp_path_factory) -> None:
    packages = tmp_path_factory.mktemp("pkgs")
    (packages / "shop").mkdir()
    (packages / "shop" / "__init__.py").write_text("")
    (packages / "shop" / "celery.py").write_text("app = None\n")
    monkeypatch.syspath_prepend(str(packages))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "shop.settings")
    settings.WSGI_APPLICATION = "shop.wsgi.application"
    settings.CELERY_BEAT_SCHEDULE = {"tick": {}}
    plan = plan_for(project)
    assert plan.facts.celery_app == "shop" and plan.celery and plan.beat and plan.redis
    files = {f.path: f.content for f in render_all(plan)}
    assert "celery --app shop worker" in files["docker-entrypoint.sh"]
    assert "\n  beat:\n" in files["compose.yaml"]
    assert '"celery[redis]"' in files["Dockerfile"]  # not in requirements.txt
    assert not plan_for(project, celery=False).celery


def test_asgi_projects_get_uvicorn_workers(project: Path, settings) -> None:
    settings.ASGI_APPLICATION = "example_site.asgi.application"
    plan = plan_for(project)
    assert plan.server == "uvicorn" and plan.worker_class == "uvicorn_worker.UvicornWorker"
    assert plan.app_target == "example_site.asgi:application"
    assert plan_for(project, server="gunicorn").worker_class == "gthread"


def test_requirements_includes_and_local_wheels(project: Path) -> None:
    (project / "requirements").mkdir()
    (project / "wheels").mkdir()
    (project / "requirements.txt").write_text(
        "--find-links ./wheels\n-r requirements/base.txt\ngunicorn==23.0  # server\n"
    )
    (project / "requirements" / "base.txt").write_text("Django>=5.2\ndjango_deploykit\n")
    deps = detect(project).dependencies
    assert deps.kind == "requirements"
    assert deps.files == ("requirements.txt", "requirements/base.txt")
    assert deps.dirs == ("wheels",)
    assert deps.has("django", "gunicorn") and deps.has("django-deploykit")
    assert not deps.has("server")  # a comment is no requirement
    text = {f.path: f.content for f in render_all(make_plan(detect(project), Choices()))}[
        "Dockerfile"
    ]
    assert "source=requirements/base.txt,target=requirements/base.txt" in text
    assert "source=wheels,target=wheels" in text


def test_missing_packages_are_added_and_reported(project: Path) -> None:
    (project / "requirements.txt").write_text("Django>=5.2\n")
    plan = plan_for(project, db="postgres")
    assert plan.extra_packages == ["gunicorn", "whitenoise", "psycopg[binary]"]
    assert any("Not in your dependency files" in note for note in plan.notes)
    assert any("dj-deploykit is not in your dependency files" in n for n in plan.notes)


def test_no_static_root_is_collected_by_the_container_settings(project: Path, settings) -> None:
    settings.STATIC_ROOT = None
    plan = plan_for(project)
    assert plan.collectstatic and plan.static_path == "/app/staticfiles"
    dockerfile = {f.path: f.content for f in render_all(plan)}["Dockerfile"]
    assert "DEPLOYKIT_STATIC_ROOT=/src/staticfiles" in dockerfile  # the build stage
    assert "DEPLOYKIT_STATIC_ROOT=/app/staticfiles" in dockerfile  # the runtime
