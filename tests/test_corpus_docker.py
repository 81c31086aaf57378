"""Docker tier: the corpus projects, containerized with only INSTALLED_APPS edited.

For each project with an ``"e2e"`` entry in its ``corpus.json`` (see
tests/corpus/README.md): copy it, add ``django_deploykit`` to INSTALLED_APPS, run
``manage.py dockerize`` from a clean venv holding the built wheel, lint the output,
``docker compose up -d --wait --build``, then a scripted HTTP session on loopback
(pages, static files, admin login, register and log in through forms with CSRF, a
database write, ``/health/``, DEBUG off, the startproject key not in use), ``down``
and ``up`` again (data kept), and an upload read back byte for byte.

Every build shares the engine's BuildKit cache (the uv cache mount and the base
image), so only the first project downloads the packages.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.deploy_site import NGINX_IMAGE, ensure_nginx_image
from tests.test_dockerize_corpus import CORPUS, add_deploykit, copy_corpus, dockerize, lint
from tests.test_dockerize_docker import BASE_IMAGE, docker, free_port

requests = pytest.importorskip("requests")

pytestmark = pytest.mark.docker

POSTGRES_IMAGE = os.environ.get("DEPLOYKIT_TEST_POSTGRES_IMAGE", "deploykit-ci/postgres:latest")
MARIADB_IMAGE = os.environ.get("DEPLOYKIT_TEST_MARIADB_IMAGE", "deploykit-ci/mariadb:latest")
DEBUG_TEXT = ("Using the URLconf", "DEBUG = True", "Django tried these URL patterns")
PASSWORD = "corpus-Passw0rd-" + uuid.uuid4().hex[:8]
UPLOAD = bytes(range(256)) * 64 + b"\x00end"


def e2e_projects() -> list[str]:
    names = []
    for path in sorted(CORPUS.glob("*/corpus.json")):
        if "e2e" in json.loads(path.read_text()):
            names.append(path.parent.name)
    return names


def spec(name: str) -> dict:
    return json.loads((CORPUS / name / "corpus.json").read_text())["e2e"]


class Stack:
    """The compose stack of one project copy, on a unique name and a free port."""

    def __init__(self, project: Path, name: str) -> None:
        self.project = project
        self.name = f"dkcorpus{re.sub('[^a-z0-9]', '', name)}{uuid.uuid4().hex[:6]}"
        self.port = free_port()
        self.image = f"deploykit-test/{self.name}:latest"

    def configure(self, db: str) -> None:
        lines = [
            f"COMPOSE_PROJECT_NAME={self.name}",
            f"BASE_IMAGE={BASE_IMAGE}",
            f"APP_IMAGE={self.image}",
            f"WEB_PORT={self.port}",
            # Projects with uploads get nginx in front of web (it serves MEDIA_URL).
            f"NGINX_IMAGE={NGINX_IMAGE}",
        ]
        if db == "postgres":
            lines.append(f"DB_IMAGE={POSTGRES_IMAGE}")
        elif db == "mariadb":
            lines.append(f"DB_IMAGE={MARIADB_IMAGE}")
        with (self.project / ".env").open("a") as env:
            env.write("\n".join(lines) + "\n")

    def compose(self, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        return docker(
            "compose",
            "--progress",
            "plain",
            *args,
            cwd=self.project,
            env={**os.environ, "DOCKER_BUILDKIT": "1"},
            check=False,
            timeout=timeout,
        )

    def up(self, *extra: str) -> None:
        result = self.compose("up", "-d", "--wait", "--wait-timeout", "180", *extra)
        if result.returncode != 0:
            logs = self.compose("logs", "--no-color").stdout
            pytest.fail(f"compose up failed:\n{result.stderr[-3000:]}\n{logs[-4000:]}")

    def manage_shell(self, code: str) -> str:
        result = self.compose("exec", "-T", "web", "python", "manage.py", "shell", "-c", code)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout.strip().splitlines()[-1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def destroy(self) -> None:
        self.compose("down", "-v", "--remove-orphans", timeout=180)
        docker("rmi", "-f", self.image, check=False)


def csrf_post(session, url: str, data: dict, files: dict | None = None):
    page = session.get(url, timeout=10)
    assert page.status_code == 200, (url, page.status_code)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, f"no CSRF token on {url}"
    return session.post(
        url,
        data={"csrfmiddlewaretoken": token.group(1), **data},
        files=files,
        allow_redirects=False,
        timeout=10,
    )


def insecure_key(project: Path) -> str | None:
    for path in project.rglob("settings*.py"):
        found = re.search(r"SECRET_KEY = ['\"](django-insecure-[^'\"]+)['\"]", path.read_text())
        if found:
            return found.group(1)
    for path in project.rglob("settings/*.py"):
        found = re.search(r"SECRET_KEY = ['\"](django-insecure-[^'\"]+)['\"]", path.read_text())
        if found:
            return found.group(1)
    return None


@pytest.fixture
def python(wheel_venv) -> Path:
    return wheel_venv[0]


@pytest.mark.parametrize("name", e2e_projects())
def test_corpus_project_runs_in_containers(name: str, python: Path, tmp_path: Path) -> None:
    options = spec(name)
    db = options.get("db", "sqlite")
    project = copy_corpus(name, tmp_path)
    add_deploykit(project)
    result = dockerize(python, project, *(["--db", db] if db != "sqlite" else []))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "container settings:" in result.stdout
    lint(project, project / "Dockerfile")
    stack = Stack(project, name)
    ensure_nginx_image()
    stack.configure(db)
    try:
        stack.up("--build")
        check_session(stack, project, options)
        # Data (and uploads) survive down/up: the volumes are kept.
        assert stack.compose("down", timeout=180).returncode == 0
        stack.up()
        check_kept(stack, options)
        if options.get("uploads"):
            check_upload_read_back(stack)
    finally:
        stack.destroy()


def check_session(stack: Stack, project: Path, options: dict) -> None:
    s = requests.Session()
    health = s.get(stack.url("/health/"), timeout=10)
    assert health.status_code == 200, health.text[:500]
    assert requests.get(stack.url("/health/"), headers={"Host": "localhost"}).status_code == 200
    # DEBUG is off: a plain 404 page, no technical text.
    missing = s.get(stack.url("/no-such-page-here/"), timeout=10)
    assert missing.status_code == 404
    assert not any(text in missing.text for text in DEBUG_TEXT), missing.text[:800]
    # A host nobody allowed is refused.
    assert s.get(stack.url("/admin/login/"), headers={"Host": "evil.test"}).status_code == 400
    # Static files: the admin's, collected at build time and served.
    css = s.get(stack.url("/static/admin/css/base.css"), timeout=10)
    assert css.status_code == 200 and b"{" in css.content
    # The admin: a superuser made with the project's own manage.py, then a form login.
    made = stack.compose(
        "exec",
        "-T",
        "-e",
        f"DJANGO_SUPERUSER_PASSWORD={PASSWORD}",
        "web",
        "python",
        "manage.py",
        "createsuperuser",
        "--noinput",
        "--username",
        "boss",
        "--email",
        "boss@example.test",
    )
    assert made.returncode == 0, made.stderr[-2000:]
    admin = requests.Session()
    login = csrf_post(
        admin,
        stack.url("/admin/login/?next=/admin/"),
        {"username": "boss", "password": PASSWORD, "next": "/admin/"},
    )
    assert login.status_code == 302, login.text[:800]
    assert "Site administration" in admin.get(stack.url("/admin/"), timeout=10).text
    # The secret key: not the one hard-coded in the project, the one in .env.
    key = insecure_key(project)
    same = stack.manage_shell(
        "import os; from django.conf import settings as s; "
        f"print(s.SECRET_KEY == {key!r}, s.SECRET_KEY.startswith('django-insecure-'), "
        "s.SECRET_KEY in (os.environ.get('SECRET_KEY'), os.environ.get('DJANGO_SECRET_KEY')), "
        "s.DEBUG)"
    )
    assert same == "False False True False", same
    if options.get("django"):  # the image installed the project's own pin
        version = stack.manage_shell("import django; print(django.get_version())")
        assert version.startswith(options["django"] + "."), version
    if options.get("app") != "notes":
        return
    # The project's pages, its own static file, register and log in through forms.
    home = s.get(stack.url("/"), timeout=10)
    assert home.status_code == 200 and "<h1>Notes</h1>" in home.text
    assert s.get(stack.url("/static/notes/site.css"), timeout=10).status_code == 200
    registered = csrf_post(
        s,
        stack.url("/accounts/register/"),
        {"username": "ada", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert registered.status_code == 302, registered.text[:1500]
    assert "Hello ada" in s.get(stack.url("/"), timeout=10).text
    fresh = requests.Session()
    logged_in = csrf_post(
        fresh, stack.url("/accounts/login/"), {"username": "ada", "password": PASSWORD}
    )
    assert logged_in.status_code == 302, logged_in.text[:1500]
    files = {"attachment": ("data.bin", UPLOAD, "application/octet-stream")}
    wrote = csrf_post(
        fresh,
        stack.url("/notes/new/"),
        {"text": "kept across restarts"},
        files=files if options.get("uploads") else None,
    )
    assert wrote.status_code == 302, wrote.text[:1500]
    assert "kept across restarts" in fresh.get(stack.url("/"), timeout=10).text


def check_kept(stack: Stack, options: dict) -> None:
    assert requests.get(stack.url("/health/"), timeout=10).status_code == 200
    admin = requests.Session()
    login = csrf_post(
        admin,
        stack.url("/admin/login/?next=/admin/"),
        {"username": "boss", "password": PASSWORD, "next": "/admin/"},
    )
    assert login.status_code == 302, "the superuser is gone after down/up"
    if options.get("app") == "notes":
        assert "kept across restarts" in requests.get(stack.url("/"), timeout=10).text


def check_upload_read_back(stack: Stack) -> None:
    home = requests.get(stack.url("/"), timeout=10).text
    link = re.search(r'class="attachment" href="([^"]+)"', home)
    assert link, "the uploaded file is not linked after down/up"
    stored = stack.compose(
        "exec",
        "-T",
        "web",
        "python",
        "-c",
        "import hashlib,sys,glob; p=glob.glob('/app/media/notes/*')[0]; "
        "print(hashlib.sha256(open(p,'rb').read()).hexdigest())",
    )
    assert stored.stdout.strip() == hashlib.sha256(UPLOAD).hexdigest(), stored.stderr
    # Served by the stack's nginx from the media volume (#12 item 4), byte for byte.
    fetched = requests.get(stack.url(link.group(1)), timeout=10)
    assert fetched.status_code == 200 and fetched.content == UPLOAD
    assert fetched.headers.get("Server") == "nginx"
