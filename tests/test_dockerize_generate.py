"""Every generated combination is valid: YAML, `docker compose config`, hadolint, shellcheck."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from django_deploykit.docker.detect import detect
from django_deploykit.docker.plan import Choices, make_plan
from django_deploykit.docker.render import render_all
from django_deploykit.search.app_key import derive_key
from tests.dockerize_helpers import compose_config, has_compose, project_settings, tool

COMBINATIONS = list(
    itertools.product(("sqlite", "mariadb", "postgres"), (False, True), (False, True))
)


@pytest.fixture
def project(tmp_path: Path, settings) -> Path:
    for name, value in project_settings(tmp_path).items():
        setattr(settings, name, value)
    return tmp_path


def generate(base: Path, celery_app: str | None = None, **choices) -> dict[str, str]:
    facts = detect(base)
    if celery_app:
        facts.celery_app = celery_app  # the detection of Celery apps is tested separately
    plan = make_plan(facts, Choices(**choices))
    files = {f.path: f.content for f in render_all(plan)}
    for path, content in files.items():
        target = base / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return files


def lint_dockerfile(path: Path) -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def lint_shell(path: Path) -> None:
    result = subprocess.run(
        [tool("shellcheck"), "--shell=sh", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def pinned(image: str) -> bool:
    # "${DB_IMAGE:-mariadb:11.4}" -> "mariadb:11.4"
    default = re.sub(r"^\$\{[A-Z_]+:-(.*)\}$", r"\1", image)
    name, _, tag = default.rpartition(":")
    return bool(name) and bool(tag) and tag != "latest" and "/" not in tag


@pytest.mark.parametrize(("db", "search", "celery"), COMBINATIONS)
def test_combination_is_valid(project: Path, db: str, search: bool, celery: bool) -> None:
    files = generate(
        project, celery_app="example_site" if celery else None, db=db, search=search, celery=celery
    )
    compose = yaml.safe_load(files["compose.yaml"])
    dev = yaml.safe_load(files["compose.dev.yaml"])
    assert "version" not in compose and "version" not in dev
    services = compose["services"]

    expected = {"web", "migrate", "nginx"}  # nginx serves the project's MEDIA_ROOT
    expected |= {"db"} if db != "sqlite" else set()
    expected |= {"meilisearch", "search-init"} if search else set()
    expected |= {"redis", "worker"} if celery else set()
    assert set(services) == expected
    assert set(dev["services"]) <= expected

    web, migrate = services["web"], services["migrate"]
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert web["restart"] == "unless-stopped" and migrate["restart"] == "no"
    assert web["read_only"] is True and "/tmp" in web["tmpfs"]
    assert web["deploy"]["resources"]["limits"]["memory"]
    assert compose["networks"]["backend"]["internal"] is True
    assert web["command"] == ["web"] and migrate["command"] == ["migrate"]
    database_url = web["environment"]["DATABASE_URL"]
    assert database_url.startswith(
        {"sqlite": "sqlite:////app/data/", "mariadb": "mysql://", "postgres": "postgres://"}[db]
    )
    assert "@" not in database_url or ":" not in database_url.split("@")[0].split("//")[1]
    # The app gets an explicit list of variables and its secrets as files, nothing else.
    assert "env_file" not in web or [f["path"] for f in web["env_file"]] == ["app.env"]
    environment = web["environment"]
    for name in ("DB_PASSWORD", "DB_ROOT_PASSWORD", "MEILISEARCH_MASTER_KEY", "SECRET_KEY", "PORT"):
        assert name not in environment, name
    assert environment["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert {"secret_key", "deploykit_health_token"} <= set(web["secrets"])
    assert ("database_password" in web["secrets"]) is (db != "sqlite")
    for service in (web, migrate, services["nginx"]):
        assert service["cap_drop"] == ["ALL"]
        assert service["security_opt"] == ["no-new-privileges:true"]
        assert service["deploy"]["resources"]["limits"]["pids"] > 0
    assert migrate["deploy"]["resources"]["limits"]["memory"]
    assert services["nginx"]["read_only"] is True
    assert "ports" not in web and services["nginx"]["ports"][0].endswith(":80")
    for name in expected - {"web", "migrate", "worker", "nginx", "search-init"}:
        service = services[name]
        assert pinned(service["image"]), service["image"]
        assert service["healthcheck"]["test"], name
        assert service["restart"] == "unless-stopped"
        assert service["networks"] == ["backend"], "services must not be reachable from outside"
        assert any(
            name in (services[s].get("depends_on") or {})
            for s in ("web", "migrate", "search-init")
            if s in services
        ), name
    if db != "sqlite":
        # wait_for_db in migrate polls the server: started is enough, and sooner.
        assert migrate["depends_on"]["db"]["condition"] == "service_started"
        assert "db-data" in compose["volumes"] and "data" not in compose["volumes"]
        assert "DB_PASSWORD=" in files[".env"]
    else:
        assert "data" in compose["volumes"] and "db" not in services
    if search:
        assert "MEILISEARCH_MASTER_KEY=" in files[".env"]
        assert web["environment"]["MEILISEARCH_URL"] == "http://meilisearch:7700"
        assert "search-data" in compose["volumes"]
        # The app gets its own limited key; only search-init (and Meilisearch) the master.
        init = services["search-init"]
        for service in (web, migrate, services.get("worker", web)):
            assert "meilisearch_api_key" in service["secrets"]
            assert "meilisearch_master_key" not in service["secrets"]
            assert "MEILISEARCH_MASTER_KEY_FILE" not in service["environment"]
        assert set(init["secrets"]) == {"meilisearch_master_key", "meilisearch_api_key"}
        assert set(init["environment"]) == {
            "MEILISEARCH_URL",
            "MEILISEARCH_API_KEY_UID",
            "MEILISEARCH_MASTER_KEY_FILE",
            "MEILISEARCH_API_KEY_FILE",
        }
        assert init["networks"] == ["backend"] and init["env_file"] == []
        assert init["volumes"] == [] and init["restart"] == "no"
        assert init["cap_drop"] == ["ALL"] and init["read_only"] is True
        assert init["depends_on"]["meilisearch"]["condition"] == "service_started"
        assert web["depends_on"]["search-init"]["condition"] == "service_completed_successfully"
        master = files[".env"].split("MEILISEARCH_MASTER_KEY=")[1].split()[0]
        assert files["secrets/meilisearch_master_key"].strip() == master
        assert files["secrets/meilisearch_api_key"].strip() == derive_key(master)
    if celery:
        # Celery retries its broker; only migrate must have finished first.
        assert services["worker"]["depends_on"]["redis"]["condition"] == "service_started"
        assert services["worker"]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert services["worker"]["environment"]["WAIT_FOR_DB_TIMEOUT"] == "0"
        assert web["environment"]["CELERY_BROKER_URL"].startswith("redis://redis:6379/")

    if has_compose():
        for stack in (("compose.yaml",), ("compose.yaml", "compose.dev.yaml")):
            result = compose_config(project, *stack)
            assert result.returncode == 0, result.stderr
    lint_dockerfile(project / "Dockerfile")
    lint_shell(project / "docker-entrypoint.sh")
    assert "\r" not in files["docker-entrypoint.sh"]
    roles = re.findall(r"^  ([a-z*]+)\)$", files["docker-entrypoint.sh"], re.M)
    assert set(roles) >= {"web", "migrate", "manage", "dev", "shell", "*"}
    assert ("worker" in roles) is celery
    # Every role ends in exec (web through serve_draining, which execs unless draining);
    # the healthcheck roles are short probes run beside PID 1, not servers.
    dispatch = files["docker-entrypoint.sh"].split('case "$role" in', 1)[1]
    for block in dispatch.split(";;")[:-1]:
        label, body = block.rsplit(")\n", 1)
        if label.strip().endswith("-health"):
            continue
        assert "exec " in body or "serve_draining " in body, body


def test_missing_secret_is_a_clear_compose_error(project: Path) -> None:
    if not has_compose():
        pytest.skip("no docker compose v2 plugin")
    generate(project, db="mariadb")
    (project / ".env").unlink()
    result = compose_config(project, "compose.yaml")
    assert result.returncode != 0
    # Compose names the first missing one it meets; both are in the MariaDB stack.
    assert re.search(r"Set DB(_ROOT)?_PASSWORD in \.env", result.stderr), result.stderr


def test_dockerfile_shape(project: Path) -> None:
    text = generate(project)["Dockerfile"]
    assert "# syntax=" not in text and "<<" not in text and "--link" not in text
    assert "ARG BASE_IMAGE=python:" in text and "-slim" in text
    assert re.search(r"^ARG APP_UID=10001$", text, re.M) and re.search(
        r"^ARG APP_GID=10001$", text, re.M
    )
    assert re.search(r"^USER \$\{APP_UID\}:\$\{APP_GID\}$", text, re.M)  # 10001 unless dev
    assert "useradd" in text and "--home-dir /home/app" in text
    assert "chown -R" not in text
    assert "COPY --chmod=0755 docker-entrypoint.sh" in text
    assert "PYTHONDONTWRITEBYTECODE=1" in text and "PYTHONUNBUFFERED=1" in text
    assert re.search(r"^EXPOSE 8000$", text, re.M)
    assert "HEALTHCHECK" in text and "django_deploykit.health.probe" in text
    # The throwaway build key is inline, never ENV/ARG.
    assert not re.search(r"^(ENV|ARG)\b.*SECRET", text, re.M)
    # Dependencies are installed before the code is copied.
    assert text.index(" -r requirements.txt") < text.index("COPY . .")
    # The runtime stage gets no compilers.
    runtime = text.split("AS runtime", 1)[1]
    assert "gcc" not in runtime and "-dev" not in runtime


def test_mariadb_stage_split(project: Path) -> None:
    text = generate(project, db="mariadb")["Dockerfile"]
    build, runtime = text.split("AS runtime", 1)
    # What mysqlclient's compile needs and nothing more (no build-essential: C++, make
    # and Perl cost minutes in an emulated arm64 build).
    assert 'packages="gcc libc6-dev libmariadb-dev pkg-config $EXTRA' in build
    assert "build-essential" not in build
    assert "libmariadb3" in runtime and "libmariadb-dev" not in runtime
    assert '"mysqlclient"' in build


@pytest.mark.parametrize(
    "choices",
    [
        {"nginx": True},
        {"server": "uvicorn"},
        {"makefile": True, "port": 9000},
        {"python": "3.13", "db": "postgres", "search": True},
    ],
    ids=["nginx", "uvicorn", "makefile-port", "py313-postgres"],
)
def test_variants_are_valid(project: Path, choices: dict[str, object]) -> None:
    files = generate(project, **choices)
    compose = yaml.safe_load(files["compose.yaml"])
    if choices.get("nginx"):
        assert "nginx/default.conf" in files
        assert "ports" not in compose["services"]["web"]
        # nginx starts beside web (up --wait still waits for both to be healthy).
        assert compose["services"]["nginx"]["depends_on"]["web"]["condition"] == "service_started"
        assert "ssl_certificate" in files["nginx/default.conf"]
    if choices.get("server") == "uvicorn":
        assert "uvicorn_worker.UvicornWorker" in files["docker-entrypoint.sh"]
        assert "example_site.asgi:application" in files["docker-entrypoint.sh"]
        assert '"uvicorn-worker"' in files["Dockerfile"]
    if choices.get("makefile"):
        assert {"up:", "down:", "logs:", "migrate:", "shell:", "reindex:", "deploy:"} <= set(
            files["Makefile"].split()
        )
        assert "EXPOSE 9000" in files["Dockerfile"]
    if choices.get("python"):
        assert "ARG BASE_IMAGE=python:3.13-slim" in files["Dockerfile"]
    if has_compose():
        result = compose_config(project, "compose.yaml", "compose.dev.yaml")
        assert result.returncode == 0, result.stderr
    lint_dockerfile(project / "Dockerfile")
    lint_shell(project / "docker-entrypoint.sh")


@pytest.mark.parametrize("lock", ["uv.lock", "poetry.lock", "pdm.lock"])
def test_locked_projects(project: Path, lock: str) -> None:
    (project / "requirements.txt").unlink()
    (project / "pyproject.toml").write_text('[project]\nname = "site"\ndependencies = []\n')
    (project / lock).write_text('[[package]]\nname = "django-deploykit"\nversion = "1"\n')
    text = generate(project)["Dockerfile"]
    assert f"source={lock},target={lock}" in text
    assert {
        "uv.lock": "sync --locked --no-install-project",
        "poetry.lock": "poetry export",
        "pdm.lock": "pdm export",
    }[lock] in text
    lint_dockerfile(project / "Dockerfile")


def test_node_build_stage(project: Path, settings) -> None:
    settings.STATICFILES_DIRS = [project / "assets" / "dist"]
    (project / "package.json").write_text('{"scripts": {"build": "vite build"}}')
    (project / "package-lock.json").write_text("{}")
    text = generate(project)["Dockerfile"]
    assert "AS assets" in text and " npm ci" in text and "RUN npm run build" in text
    assert "COPY --from=assets /src/assets/dist ./assets/dist" in text
    # Only the build output reaches the runtime stage; node_modules never does.
    runtime = text.split("AS runtime", 1)[1]
    assert "--from=assets" not in runtime and "node_modules" not in runtime
    lint_dockerfile(project / "Dockerfile")


@pytest.mark.parametrize("db", ["sqlite", "mariadb", "postgres"])
def test_dockerfile_is_architecture_neutral(project: Path, settings, db: str) -> None:
    """One Dockerfile for amd64 and arm64 (Raspberry Pi): nothing tied to one CPU."""
    settings.STATICFILES_DIRS = [project / "assets" / "dist"]
    (project / "package.json").write_text('{"scripts": {"build": "vite build"}}')
    text = generate(project, db=db)["Dockerfile"]
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"amd64|x86_64|aarch64|arm64|\.deb\b|curl |wget ", code)
    # uv comes from PyPI as a wheel for the build's platform, not as a downloaded binary.
    assert 'pip install --no-cache-dir --target "/opt/uv/' in text
    # Builds for two platforms on one machine share BuildKit's cache mounts: the uv
    # binary and uv's cache (whose interpreter data is keyed by path and mtime, equal
    # for Debian's amd64 and arm64 python) are kept apart by the CPU's name.
    assert "cpu=$(uname -m)" in text
    assert re.search(r'uv="/opt/uv/[0-9.]+/\$cpu/bin/uv"', text)
    assert re.search(r'--target "/opt/uv/[0-9.]+/\$cpu" ', text)
    assert 'export UV_CACHE_DIR="/root/.cache/uv/$cpu"' in text
    # Front-end assets do not depend on the CPU: Node runs natively on the build host.
    assert re.search(r"^FROM --platform=\$BUILDPLATFORM \S+ AS assets$", text, re.M)
    lint_dockerfile(project / "Dockerfile")
