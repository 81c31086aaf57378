"""The core install (the built wheel, no extra) runs a site; optional parts name their extra.

A venv holds the wheel with its core dependencies only: no Meilisearch client, no
Docker SDK, no PyYAML. A fresh ``startproject`` site with the app imports, passes
``check`` and answers ``/health/`` from gunicorn; the commands that need an extra
stop with one line naming it (exit 2), never a traceback.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from django_deploykit.extras import EXTRAS

OPTIONAL = ("meilisearch", "pydantic", "docker", "yaml")
SEARCH_INDEXES = """
from django.contrib.auth.models import Group

from django_deploykit.search import SearchIndex


class GroupIndex(SearchIndex):
    name = "groups"
    model = Group
    fields = ["id", "name"]
"""


@dataclass(frozen=True)
class Site:
    python: Path
    root: Path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """This environment without the suite's Django and deploykit settings."""
        clean = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"} and not k.startswith("DEPLOYKIT_")
        }
        return {**clean, "PATH": "/usr/bin:" + clean.get("PATH", ""), **(extra or {})}

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.python), *args],
            cwd=self.root,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def manage(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run("manage.py", *args, **kwargs)


@pytest.fixture(scope="module")
def site(core_venv, tmp_path_factory) -> Site:
    root = tmp_path_factory.mktemp("core-site")
    created = subprocess.run(
        [str(core_venv), "-m", "django", "startproject", "mysite", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    settings = root / "mysite" / "settings.py"
    text = settings.read_text()
    text = text.replace("INSTALLED_APPS = [", 'INSTALLED_APPS = [\n    "django_deploykit",')
    text = text.replace(
        "MIDDLEWARE = [",
        'MIDDLEWARE = [\n    "django_deploykit.health.middleware.HealthCheckMiddleware",',
    )
    settings.write_text(text + '\nALLOWED_HOSTS = ["127.0.0.1", "localhost"]\n')
    # The same site with search configured (the server URL is set per test).
    (root / "mysite" / "search_indexes.py").write_text(SEARCH_INDEXES)
    (root / "mysite" / "settings_search.py").write_text(
        "import os\n\nfrom .settings import *  # noqa: F403\n\n"
        'DEPLOYKIT_MEILISEARCH_URL = os.environ.get("SITE_MEILISEARCH_URL", "http://127.0.0.1:9")\n'
        'DEPLOYKIT_MEILISEARCH_MASTER_KEY = os.environ.get("SITE_MEILISEARCH_KEY")\n'
        'DEPLOYKIT_SEARCH_INDEXES = ["mysite.search_indexes.GroupIndex"]\n'
    )
    (root / "mysite" / "settings_search_updates.py").write_text(
        "from .settings_search import *  # noqa: F403\n\nDEPLOYKIT_SEARCH_AUTO_UPDATE = True\n"
    )
    (root / "requirements.txt").write_text("dj-deploykit\n")
    site = Site(core_venv, root)
    migrated = site.manage("migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    return site


def _one_line_naming(result: subprocess.CompletedProcess, extra: str) -> None:
    """Exit 2 and one line on stderr naming the extra to install; no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    # System checks may warn first (W042); the error itself is the last line, whole.
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("CommandError: "), result.stderr
    assert error.endswith(f'pip install "dj-deploykit[{extra}]"'), error


def test_the_core_install_has_no_optional_package(site: Site) -> None:
    found = site.run(
        "-c",
        f"import importlib.util as u; print(','.join(m for m in {OPTIONAL!r} if u.find_spec(m)))",
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == ""
    imported = site.run(
        "-c",
        "import django_deploykit.search.client, django_deploykit.deploy.actions, "
        "django_deploykit.docker.engine, django_deploykit.health.checks, sys; "
        f"print(','.join(m for m in {OPTIONAL!r} if m in sys.modules))",
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "", "an optional package is imported at module level"


def test_check_passes(site: Site) -> None:
    result = site.manage("check")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_search_configured_without_the_client_is_a_check_warning(site: Site) -> None:
    result = site.manage("check", "--settings", "mysite.settings_search")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "deploykit.W042" in result.stderr
    assert 'pip install "dj-deploykit[search]"' in result.stderr


def test_reindex_search_names_the_search_extra(site: Site) -> None:
    _one_line_naming(
        site.manage("reindex_search", "--settings", "mysite.settings_search"), "search"
    )


def test_an_index_update_without_the_client_is_one_log_line(site: Site) -> None:
    """Auto-update on, no client: the row is saved and the log says which extra, once."""
    saved = site.manage(
        "shell",
        "--settings",
        "mysite.settings_search_updates",
        "-c",
        "from django.contrib.auth.models import Group; "
        "print(Group.objects.create(name='editors').pk)",
    )
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.split()[-1].isdigit()  # the new pk: the row is saved
    assert "Traceback" not in saved.stderr
    assert "Search index update failed for auth.Group" in saved.stderr
    assert saved.stderr.strip().endswith('pip install "dj-deploykit[search]"'), saved.stderr


@pytest.mark.docker
def test_dockerize_build_and_deploy_name_the_deploy_extra(site: Site) -> None:
    if not shutil.which("docker", path="/usr/bin:" + os.environ.get("PATH", "")):
        pytest.fail("the docker CLI is missing: the docker tier provisions it")
    built = site.manage("dockerize", "--build", "--noinput", env={"DEBUG": "0"})
    _one_line_naming(built, "deploy")
    assert not (site.root / "Dockerfile").exists(), "--build failed after writing files"
    written = site.manage("dockerize", "--noinput")
    assert written.returncode == 0, written.stderr
    for action in ("status", "code"):
        _one_line_naming(site.manage("deploy", action), "deploy")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get_health(port: int, deadline: float) -> tuple[int, dict]:
    """GET /health/ (JSON), retried while gunicorn starts (bounded in count and time)."""
    last: Exception | None = None
    for _ in range(100):
        if time.monotonic() > deadline:
            break
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/health/")
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        except OSError as exc:
            last = exc
            time.sleep(0.3)
        finally:
            conn.close()
    raise AssertionError(f"gunicorn did not answer on port {port}: {last}")


def _serve_health(site: Site, env: dict[str, str]) -> tuple[int, dict]:
    port = _free_port()
    server = subprocess.Popen(
        [
            str(site.python),
            "-m",
            "gunicorn",
            "mysite.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        cwd=site.root,
        env=site.env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        return _get_health(port, time.monotonic() + 30)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
        assert "Traceback" not in stderr, stderr


def test_health_answers_from_gunicorn(site: Site) -> None:
    status, body = _serve_health(site, {"DJANGO_SETTINGS_MODULE": "mysite.settings"})
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["checks"]["database:default"]["status"] == "ok"
    assert "search" not in body["checks"]


@pytest.mark.meilisearch
def test_health_search_without_the_client_is_missing_driver(site: Site, meilisearch_server) -> None:
    """The server answers; this site cannot ask it about indexes: degraded, not a crash."""
    env = {
        "DJANGO_SETTINGS_MODULE": "mysite.settings_search",
        "SITE_MEILISEARCH_URL": meilisearch_server.url,
        "SITE_MEILISEARCH_KEY": meilisearch_server.key or "",
    }
    status, body = _serve_health(site, env)
    assert status == 200, body  # search is optional: web keeps its traffic
    assert body["checks"]["search"]["reason"] == "missing_driver", body


def test_every_extra_is_in_pyproject_and_the_installation_page() -> None:
    root = Path(__file__).resolve().parent.parent
    with (root / "pyproject.toml").open("rb") as f:
        declared = tomllib.load(f)["project"]["optional-dependencies"]
    page = (root / "docs" / "installation.rst").read_text()
    for extra in EXTRAS:
        assert extra in declared, extra
        assert f"dj-deploykit[{extra}]" in page, extra
    # The test extra brings every optional part: the whole suite runs.
    assert set(EXTRAS) <= Requirement(declared["test"][0]).extras
