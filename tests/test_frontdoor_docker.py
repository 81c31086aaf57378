"""Docker tier: the generated stacks attacked on loopback, as an outsider and as an auditor.

One ``--nginx`` stack (TLS) and one default stack (nginx serving media over plain HTTP)
of the example project; uploads are saved through Django's default storage inside the
web container, exactly as an upload view saves them, then fetched through nginx.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests import tiers
from tests.deploy_site import Site, ensure_nginx_image, free_port, run

pytestmark = pytest.mark.docker

_TLS = ssl.create_default_context()
_TLS.check_hostname = False
_TLS.verify_mode = ssl.CERT_NONE  # a self-signed certificate on loopback

HTML = b"<html><body><script>document.title='pwned'</script></body></html>\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\n'
PNG = bytes(range(256)) * 64  # arbitrary bytes: they must come back identical
ADMIN_PASSWORD = "Frontdoor-admin-pw-1"


def compose(site: Site, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return run(
        [tiers.DOCKER or "docker", "compose", "--project-name", site.project, *args],
        cwd=site.dir,
        timeout=timeout,
    )


def up(site: Site) -> None:
    result = compose(site, "up", "--detach", "--build", "--wait", "--wait-timeout", "240")
    if result.returncode != 0:
        logs = compose(site, "logs", "--no-color", "--tail", "30").stdout
        health = compose(site, "ps", "--all", "--format", "json").stdout
        raise AssertionError(result.stderr[-2000:] + logs[-4000:] + health[-3000:])


def save_upload(site: Site, name: str, content: bytes) -> str:
    """Save through Django's default storage in the web container; return the stored name."""
    script = (
        "import sys; from django.core.files.base import ContentFile; "
        "from django.core.files.storage import default_storage as s; "
        f"print(s.save({name!r}, ContentFile(sys.stdin.buffer.read())))"
    )
    result = subprocess.run(
        [
            tiers.DOCKER or "docker",
            "compose",
            "--project-name",
            site.project,
            "exec",
            "--no-TTY",
            "web",
            "python",
            "manage.py",
            "shell",
            "-c",
            script,
        ],
        cwd=site.dir,
        input=content,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.decode().strip().splitlines()[-1]


def container(site: Site, service: str) -> str:
    result = compose(site, "ps", "--quiet", service)
    assert result.returncode == 0 and result.stdout.strip(), result.stderr
    return result.stdout.split()[0]


def docker_out(*args: str) -> str:
    result = subprocess.run(
        [tiers.DOCKER or "docker", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def published(site: Site, service: str, port: int) -> int:
    out = compose(site, "port", service, str(port)).stdout.strip()
    return int(out.rsplit(":", 1)[1])


def request(
    port: int,
    path: str,
    *,
    tls: bool,
    host: str | None = None,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> http.client.HTTPResponse:
    if tls:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=10, context=_TLS
        )
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(
        method, path, body=body, headers={"Host": host or f"localhost:{port}", **(headers or {})}
    )
    response = conn.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    conn.close()
    return response


def cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    """name -> the whole Set-Cookie header of that cookie."""
    return {
        header.split("=", 1)[0]: header for header in response.headers.get_all("Set-Cookie") or []
    }


def proc_status(container_id: str) -> dict[str, str]:
    text = docker_out("exec", container_id, "cat", "/proc/1/status")
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if tiers.unavailable("docker"):
        pytest.skip(str(tiers.unavailable("docker")))
    ensure_nginx_image()
    site = Site.create(tmp_path_factory.mktemp("frontdoor"), f"dkfront{uuid.uuid4().hex[:8]}")
    try:
        up(site)
        yield site
    finally:
        site.down()


def test_uploads_cannot_run_script_and_dotfiles_stay_hidden(tls_site: Site) -> None:
    port = tls_site.port()
    html = save_upload(tls_site, "uploads/evil.html", HTML)
    svg = save_upload(tls_site, "uploads/evil.svg", SVG)
    png = save_upload(tls_site, "uploads/photo.png", PNG)
    save_upload(tls_site, ".env", b"SECRET=1\n")
    save_upload(tls_site, ".git/config", b"[core]\n")
    for name in (html, svg):
        response = request(port, f"/media/{name}", tls=True)
        # nginx reads the upload (a 403 would mean the volume is not readable to it)...
        assert response.status == 200, (name, response.status)
        # ...but a browser never runs it as a page of this origin.
        assert response.headers["Content-Disposition"] == "attachment"
        csp = response.headers["Content-Security-Policy"]
        assert "sandbox" in csp and "default-src 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    image = request(port, f"/media/{png}", tls=True)
    assert image.status == 200 and image.body == PNG  # type: ignore[attr-defined]
    assert image.headers["Content-Disposition"] == "inline"
    assert "max-age=" in image.headers["Strict-Transport-Security"]
    for path in ("/media/.env", "/media/.git/config", "/media/uploads/../.env"):
        assert request(port, path, tls=True).status == 404, path


def test_front_door_headers_redirects_and_login(tls_site: Site) -> None:
    port, http_port = tls_site.port(), published(tls_site, "nginx", 80)
    home = request(port, "/", tls=True)
    assert home.status == 200
    assert home.headers["Server"] == "nginx"  # no version
    assert "max-age=31536000" in home.headers["Strict-Transport-Security"]
    # Plain HTTP: no client Host ever ends up in a redirect.
    evil = request(http_port, "/x", tls=False, host="evil.example")
    assert "evil.example" not in (evil.headers.get("Location") or "")
    assert evil.status == 400
    good = request(http_port, "/x", tls=False, host="localhost")
    assert good.status == 301 and good.headers["Location"] == "https://localhost/x"
    # Admin login over TLS on a non-443 port: Host keeps its port (CSRF passes), and
    # every cookie is Secure.
    form = request(port, "/admin/login/", tls=True)
    csrf_header = cookies(form)["csrftoken"]
    assert "Secure" in csrf_header
    token = csrf_header.split("=", 1)[1].split(";", 1)[0]
    create = compose(
        tls_site,
        "exec",
        "--no-TTY",
        "-e",
        f"DJANGO_SUPERUSER_PASSWORD={ADMIN_PASSWORD}",
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
    assert create.returncode == 0, create.stderr
    body = f"csrfmiddlewaretoken={token}&username=boss&password={ADMIN_PASSWORD}&next=/admin/"
    login = request(
        port,
        "/admin/login/",
        tls=True,
        method="POST",
        body=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={token}",
            "Origin": f"https://localhost:{port}",
            "Referer": f"https://localhost:{port}/admin/login/",
        },
    )
    assert login.status == 302, login.body[:500]  # type: ignore[attr-defined]
    assert "Secure" in cookies(login)["sessionid"]
    # Guessing passwords: the login form answers 429 after a burst.
    statuses = []
    for _ in range(20):
        statuses.append(
            request(
                port,
                "/admin/login/",
                tls=True,
                method="POST",
                body=b"username=boss&password=guess",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ).status
        )
    assert 429 in statuses and statuses[0] != 429, statuses


def test_tls_offers_only_forward_secret_aead_suites(tls_site: Site) -> None:
    port = tls_site.port()

    def handshake(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2", *args],
            input="",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    for weak in ("AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA"):
        assert handshake("-cipher", weak).returncode != 0, weak
    strong = handshake("-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    assert strong.returncode == 0, strong.stdout[-1000:] + strong.stderr[-1000:]
    assert "TLS session ticket:" not in strong.stdout  # tickets off


def test_app_container_holds_no_secret_and_no_privilege(tls_site: Site) -> None:
    secrets = [p.read_text().strip() for p in (tls_site.dir / "secrets").iterdir()]
    assert secrets
    web = container(tls_site, "web")
    inspect = docker_out("inspect", web)
    for value in secrets:
        assert value not in inspect
    env = json.loads(inspect)[0]["Config"]["Env"]
    names = {e.split("=", 1)[0] for e in env}
    assert "SECRET_KEY" not in names and "SECRET_KEY_FILE" in names
    assert not names & {"DB_PASSWORD", "DB_ROOT_PASSWORD", "MEILISEARCH_MASTER_KEY", "HTTPS_PORT"}
    status = proc_status(web)
    assert status["NoNewPrivs"].strip() == "1"
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0
    setuid = docker_out(
        "exec", web, "sh", "-c", "find / -xdev -perm /6000 -type f 2>/dev/null || true"
    )
    assert setuid.strip() == ""
    nginx = container(tls_site, "nginx")
    nginx_status = proc_status(nginx)
    assert nginx_status["NoNewPrivs"].strip() == "1"
    # CHOWN (bit 0), SETGID (6), SETUID (7), NET_BIND_SERVICE (10) and nothing else.
    assert int(nginx_status["CapEff"], 16) & ~0x4C1 == 0
    assert json.loads(docker_out("inspect", nginx))[0]["HostConfig"]["ReadonlyRootfs"] is True
    # And Django's deployment checks find no security issue (W004 HSTS, W008 redirect,
    # W012/W016 cookies…) in the image as it runs.
    check = compose(
        tls_site, "exec", "--no-TTY", "web", "python", "manage.py", "check", "--deploy",
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "security." not in check.stdout + check.stderr, check.stdout + check.stderr


def test_default_stack_serves_uploads_from_a_volume_across_down_up(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    if tiers.unavailable("docker"):
        pytest.skip(str(tiers.unavailable("docker")))
    ensure_nginx_image()
    web_port = free_port()
    site = Site.create(
        tmp_path_factory.mktemp("frontdoor-default"),
        f"dkplain{uuid.uuid4().hex[:8]}",
        "--db",
        "sqlite",
        web_port=web_port,
    )
    try:
        up(site)
        name = save_upload(site, "uploads/photo.png", PNG)
        first = request(web_port, f"/media/{name}", tls=False)
        assert first.status == 200 and first.body == PNG  # type: ignore[attr-defined]
        assert first.headers["Server"] == "nginx"  # served by nginx, not Django
        down = compose(site, "down", "--timeout", "5")
        assert down.returncode == 0, down.stderr
        up(site)
        deadline = time.monotonic() + 30
        again = request(web_port, f"/media/{name}", tls=False)
        while again.status != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
            again = request(web_port, f"/media/{name}", tls=False)
        assert again.status == 200 and again.body == PNG  # type: ignore[attr-defined]
        assert re.search(r"nginx", compose(site, "ps", "--services").stdout)
    finally:
        site.down()
