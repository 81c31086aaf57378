"""Docker tier: the app containers of a ``--search`` stack hold no Meilisearch master key.

The example project is dockerized with ``--search`` and brought up with
``docker compose up --wait`` (local stand-in images: tests/images/meilisearch built
from this checkout's tests/meilisearch_server.py, whose key handling follows the real
server's). search-init creates the app's key; web searches and rebuilds with it, and
the same key is refused key management.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from django_deploykit.search.app_key import derive_key
from tests import tiers
from tests.deploy_site import (
    MEILISEARCH_IMAGE,
    Site,
    ensure_nginx_image,
    ensure_search_images,
    free_port,
    run,
)

pytestmark = pytest.mark.docker


def compose(site: Site, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return run(
        [tiers.DOCKER or "docker", "compose", "--project-name", site.project, *args],
        cwd=site.dir,
        timeout=timeout,
    )


def in_web(site: Site, *argv: str) -> subprocess.CompletedProcess[str]:
    return compose(site, "exec", "--no-TTY", "web", *argv, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if tiers.unavailable("docker"):
        pytest.skip(str(tiers.unavailable("docker")))
    ensure_nginx_image()
    ensure_search_images()
    site = Site.create(
        tmp_path_factory.mktemp("searchkey"),
        f"dksk{uuid.uuid4().hex[:8]}",
        "--search",
        env=f"MEILISEARCH_IMAGE={MEILISEARCH_IMAGE}",
        web_port=free_port(),
    )
    try:
        result = compose(site, "up", "--detach", "--build", "--wait", "--wait-timeout", "300")
        if result.returncode != 0:
            logs = compose(site, "logs", "--no-color", "--tail", "40").stdout
            raise AssertionError(result.stderr[-2000:] + logs[-5000:])
        yield site
    finally:
        site.down()


def _secret(site: Site, name: str) -> str:
    return (site.dir / "secrets" / name).read_text().strip()


def test_web_holds_no_master_key(site: Site) -> None:
    master, app_key = _secret(site, "meilisearch_master_key"), _secret(site, "meilisearch_api_key")
    assert master and app_key == derive_key(master)
    init = compose(site, "logs", "--no-color", "search-init").stdout
    assert "search-init: created the app's key" in init, init
    for service in ("web", "migrate", "nginx"):
        cid = compose(site, "ps", "--all", "--quiet", service).stdout.split()[0]
        inspect = run([tiers.DOCKER or "docker", "inspect", cid], site.dir, timeout=60).stdout
        assert master not in inspect, service
        [state] = json.loads(inspect)
        env = {e.split("=", 1)[0] for e in state["Config"]["Env"]}
        assert not {"MEILISEARCH_MASTER_KEY", "MEILISEARCH_MASTER_KEY_FILE"} & env, service
        sources = [m["Source"] for m in state["Mounts"]]
        assert not [s for s in sources if s.endswith("meilisearch_master_key")], service
    # What web can read: its environment and every mounted secret file.
    seen = in_web(site, "sh", "-c", "env; ls /run/secrets; cat /run/secrets/*")
    assert seen.returncode == 0, seen.stderr
    assert master not in seen.stdout
    assert "meilisearch_master_key" not in seen.stdout.split()
    assert app_key in seen.stdout  # the app's own key, as a file
    keys = in_web(
        site, "python", "manage.py", "shell", "-c",
        "from django_deploykit.conf import conf; "
        "print(conf.MEILISEARCH_MASTER_KEY is None, "
        "conf.MEILISEARCH_API_KEY == open('/run/secrets/meilisearch_api_key').read().strip())",
    )  # fmt: skip
    assert keys.returncode == 0 and keys.stdout.split()[-2:] == ["True", "True"], keys


def test_search_and_rebuilds_work_from_web_with_the_limited_key(site: Site) -> None:
    seeded = in_web(site, "python", "manage.py", "seed_posts")
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    # Twice: a first build, then a zero-downtime rebuild swapped into the live index.
    for _ in range(2):
        rebuilt = in_web(site, "python", "manage.py", "reindex_search", "--json")
        assert rebuilt.returncode == 0, rebuilt.stdout[-2000:] + rebuilt.stderr[-2000:]
        [entry] = json.loads(rebuilt.stdout)["indexes"]
        assert entry["swapped"] is True and entry["documents"] > 0
    assert in_web(site, "python", "manage.py", "reindex_search", "--check").returncode == 0
    found = in_web(
        site, "python", "manage.py", "shell", "-c",
        "from django_deploykit.search.query import search_pks; "
        "print(len(search_pks('posts', 'Django')))",
    )  # fmt: skip
    assert found.returncode == 0, found.stderr[-2000:]
    assert int(found.stdout.split()[-1]) > 0


def test_the_limited_key_is_refused_key_management(site: Site) -> None:
    script = (
        "import json, urllib.request, urllib.error\n"
        "key = open('/run/secrets/meilisearch_api_key').read().strip()\n"
        "for method, path, body in (('GET', '/keys', None), ('POST', '/keys', "
        'b\'{"actions": ["*"], "indexes": ["*"], "expiresAt": null}\')):\n'
        "    request = urllib.request.Request('http://meilisearch:7700' + path, data=body, "
        "method=method, headers={'Authorization': 'Bearer ' + key, "
        "'Content-Type': 'application/json'})\n"
        "    try:\n"
        "        urllib.request.urlopen(request, timeout=10)\n"
        "        print(method, path, 200)\n"
        "    except urllib.error.HTTPError as exc:\n"
        "        print(method, path, exc.code, json.load(exc)['code'])\n"
    )
    answer = in_web(site, "python", "-c", script)
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert answer.stdout.splitlines() == [
        "GET /keys 403 invalid_api_key",
        "POST /keys 403 invalid_api_key",
    ]


def test_search_init_is_idempotent_and_refuses_a_key_file_of_another_master_key(
    site: Site,
) -> None:
    again = compose(site, "run", "--rm", "--no-deps", "search-init")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "is in place" in again.stdout + again.stderr
    key_file = site.dir / "secrets" / "meilisearch_api_key"
    kept = key_file.read_text()
    key_file.write_text(derive_key("an-older-master-key") + "\n")
    try:
        wrong = compose(site, "run", "--rm", "--no-deps", "search-init")
    finally:
        key_file.write_text(kept)
    assert wrong.returncode == 2, (wrong.returncode, wrong.stderr[-2000:])
    assert "run `manage.py dockerize` again" in wrong.stderr
    assert "Traceback" not in wrong.stderr
