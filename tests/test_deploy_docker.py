"""Docker tier: `manage.py deploy` against the local engine, on a copy of the example project.

One stack (web + one-shot migrate + nginx, SQLite on a volume) is dockerized and
deployed once per module; each test starts from whatever version it finds, so
the order does not matter. Images are built from the local base image; no
registry is involved. Requests go to nginx on a loopback port only.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from django_deploykit.deploy.sqlite import validate
from tests import tiers
from tests.deploy_site import POSTGRES_IMAGE, RequestLoop, Site, ensure_nginx_image, free_port

pytestmark = pytest.mark.docker

TITLE = r"\{% block title %\}.*?\{% endblock %\}"
BASE_HTML = "blog/templates/blog/base.html"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if tiers.unavailable("docker"):
        pytest.skip(str(tiers.unavailable("docker")))
    ensure_nginx_image()
    site = Site.create(tmp_path_factory.mktemp("deploy"), f"dkdeploy{uuid.uuid4().hex[:8]}")
    try:
        first = site.deploy("code")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        yield site
    finally:
        site.down()


def web_versions(site: Site) -> list[str]:
    status = site.deploy("status")
    assert status.returncode == 0, status.stderr
    return [line.split()[2] for line in status.stdout.splitlines() if line.startswith("web ")]


def test_code_deploy_swaps_without_a_failed_request_and_rollback_returns(site: Site) -> None:
    marker = f"release-{uuid.uuid4().hex[:8]}"
    before = site.get("/")[1]
    rev = site.commit_change(
        BASE_HTML, TITLE, f"{{% block title %}}{marker}{{% endblock %}}", marker
    )
    loop = RequestLoop(site)
    loop.start()
    result = site.deploy("code")
    loop.stop()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for step in ("[1/4] build:", "[2/4] migrate:", "[3/4] switch:", "[4/4] proxies:"):
        assert step in result.stdout
    assert not loop.failures, loop.failures[:5]
    assert loop.saw(marker) and len(loop.bodies) - loop.saw(marker) > 0, "no swap observed"
    assert len(loop.bodies) >= 20
    assert marker in site.get("/")[1]
    assert web_versions(site) == [rev]

    # `deploy rollback` returns to the previous tag explicitly, also without a failed request.
    loop = RequestLoop(site)
    loop.start()
    result = site.deploy("rollback")
    loop.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert not loop.failures, loop.failures[:5]
    page = site.get("/")[1]
    assert marker not in page
    assert (
        re.search(r"<title>(.*?)</title>", page)[1] == re.search(r"<title>(.*?)</title>", before)[1]
    )
    # ...and a second rollback toggles back to the new release.
    result = site.deploy("rollback")
    assert result.returncode == 0, result.stdout + result.stderr
    assert marker in site.get("/")[1]
    assert web_versions(site) == [rev]


def test_a_broken_image_is_rolled_back_automatically(site: Site) -> None:
    serving = web_versions(site)
    page = site.get("/")[1]
    site.commit_change(
        "example_site/wsgi.py", r"\Z", 'raise RuntimeError("broken build")\n', "broken"
    )
    try:
        loop = RequestLoop(site)
        loop.start()
        result = site.deploy("code", "--health-timeout", "60")
        loop.stop()
    finally:
        site.git("revert", "--no-edit", "HEAD")
    assert result.returncode == 1, result.stdout + result.stderr
    error = result.stderr
    assert "step 'switch'" in error
    assert re.search(rf"container {site.project}-web-\d+", error)
    assert "never became healthy" in error and "RuntimeError: broken build" in error
    assert "Rolled back: the previous version is serving" in error
    assert not loop.failures, loop.failures[:5]
    assert web_versions(site) == serving
    assert site.get("/") == (200, page)


def _local_db(site: Site, path: Path, title: str) -> None:
    env = {"DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "local", "DEBUG": "0"}
    assert site.manage("migrate", "-v0", env=env).returncode == 0
    assert site.manage("seed_posts", "--count", "3", env=env).returncode == 0
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE blog_post SET title = ? WHERE id = (SELECT MIN(id) FROM blog_post)", (title,)
        )


def test_db_replaces_the_data_keeps_a_backup_and_restore_brings_it_back(
    site: Site, tmp_path: Path
) -> None:
    title = f"shipped-{uuid.uuid4().hex[:8]}"
    local = tmp_path / "local.sqlite3"
    _local_db(site, local, title)
    assert title not in site.get("/")[1]

    # `full` = code (the revision already runs: nothing is replaced), then db.
    result = site.deploy("full", str(local), "--noinput")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing to replace" in result.stdout
    assert "stopping web" in result.stdout and "replaced" in result.stdout
    assert title in site.get("/")[1]

    listing = site.deploy("backup", "--list").stdout
    (before_db,) = re.findall(r"\S+-before-db\.sqlite3", listing)[-1:]
    result = site.deploy("restore", before_db, "--noinput")
    assert result.returncode == 0, result.stdout + result.stderr
    assert title not in site.get("/")[1]

    # The spelling of the issue: `deploy db --restore <backup>` (the pre-restore backup).
    listing = site.deploy("backup", "--list").stdout
    (before_restore,) = re.findall(r"\S+-before-restore\.sqlite3", listing)[-1:]
    result = site.deploy("db", "--restore", before_restore, "--noinput")
    assert result.returncode == 0, result.stdout + result.stderr
    assert title in site.get("/")[1]

    # A file whose migrations are ahead of the deployed code is refused, nothing changes.
    ahead = tmp_path / "ahead.sqlite3"
    ahead.write_bytes(local.read_bytes())
    with sqlite3.connect(ahead) as conn:
        conn.execute(
            "INSERT INTO django_migrations (app, name, applied) "
            "VALUES ('blog', '9999_from_the_future', '2030-01-01')"
        )
    result = site.deploy("db", str(ahead), "--noinput")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "blog.9999_from_the_future" in result.stderr
    assert "stopping" not in result.stdout
    assert title in site.get("/")[1]

    # A manual backup, copied to a local directory, is a valid database; retention holds.
    result = site.deploy("backup", "--keep", "2", "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    (copy,) = (tmp_path / "out").iterdir()
    assert ("blog", "0001_initial") in validate(copy)
    names = re.findall(r"^  (\S+)", site.deploy("backup", "--list").stdout, re.M)
    assert len(names) == 2 and copy.name in names


def test_status_logs_and_dry_run(site: Site) -> None:
    status = site.deploy("status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[1].split() == ["SERVICE", "CONTAINER", "VERSION", "STATE", "HEALTH", "UP"]
    rows = {line.split()[0]: line.split() for line in lines[2:] if line and line[0] != "P"}
    assert rows["web"][1].startswith(f"{site.project}-web-")
    assert rows["web"][3:5] == ["running", "healthy"]
    assert rows["nginx"][3:5] == ["running", "healthy"]
    assert rows["migrate"][3] == "one-shot"

    logs = site.deploy("logs", "web", "--tail", "3")
    assert logs.returncode == 0, logs.stderr
    out = logs.stdout.splitlines()
    assert 1 <= len(out) <= 3 and all(line.startswith(f"{site.project}-web-") for line in out)
    missing = site.deploy("logs", "nosuch")
    assert missing.returncode == 2 and "No service 'nosuch'" in missing.stderr

    dry = site.deploy("code", "--dry-run")
    assert dry.returncode == 0 and "Dry run: nothing is changed" in dry.stdout
    after = site.deploy("status").stdout
    assert re.findall(r"^web\s+(\S+)\s+(\S+)", after, re.M) == [tuple(rows["web"][1:3])]


def test_postgres_stack_backup_db_through_dbcopy_and_restore(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A PostgreSQL stack whose web publishes its own port (so: replaced stop-first)."""
    if tiers.unavailable("docker"):
        pytest.skip(str(tiers.unavailable("docker")))
    base = tmp_path_factory.mktemp("deploy-pg")
    site = Site.create(
        base,
        f"dkdeploypg{uuid.uuid4().hex[:6]}",
        "--db",
        "postgres",
        env=f"DB_IMAGE={POSTGRES_IMAGE}",
        web_port=free_port(),
    )
    try:
        result = site.deploy("code")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "[2/4] services: start db" in result.stdout
        result = site.deploy("backup")
        assert result.returncode == 0, result.stdout + result.stderr
        (empty,) = re.findall(r"\S+\.pgdump", result.stdout)

        title = f"pg-shipped-{uuid.uuid4().hex[:8]}"
        _local_db(site, base / "local.sqlite3", title)
        result = site.deploy("db", str(base / "local.sqlite3"), "--noinput")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Copied" in result.stdout and "verified" in result.stdout  # dbcopy's report
        assert title in site.get("/")[1]
        listing = site.deploy("backup", "--list").stdout
        assert "-before-db.pgdump" in listing and "incoming" not in listing

        # A code deploy on this stack is stop-first, and says so.
        rev = site.commit_change(BASE_HTML, TITLE, "{% block title %}pg v2{% endblock %}", "v2")
        result = site.deploy("code")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "replaced stop-first" in result.stdout
        assert web_versions(site) == [rev] and "pg v2" in site.get("/")[1]

        result = site.deploy("restore", empty, "--noinput")
        assert result.returncode == 0, result.stdout + result.stderr
        assert title not in site.get("/")[1]
        assert site.get("/")[0] == 200
    finally:
        site.down()
