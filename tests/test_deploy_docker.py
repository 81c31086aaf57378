"""Docker tier: `manage.py deploy` against the local engine, on a copy of the example project.

One stack (web + one-shot migrate + nginx, SQLite on a volume) is dockerized and
deployed once per module; each test starts from whatever version it finds, so
the order does not matter. Images are built from the local base image; no
registry is involved. Requests go to nginx on a loopback port only.
"""

from __future__ import annotations

import re
import sqlite3
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from django_deploykit.deploy.sqlite import validate
from tests import tiers
from tests.deploy_site import (
    POSTGRES_IMAGE,
    RequestLoop,
    Site,
    deploy_env,
    ensure_nginx_image,
    free_port,
)

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


DEPLOYS = 5


def test_code_deploys_and_a_rollback_drop_no_get_and_no_post(site: Site) -> None:
    """GETs and POSTs through nginx, 2 s client timeout, gunicorn at 2 workers: each deploy
    drains the old container out of nginx before stopping it, so not one request fails.
    """
    before = site.get("/")[1]
    loop = RequestLoop(site, timeout=2)
    loop.start()
    markers, revs = [], []
    try:
        for _ in range(DEPLOYS):
            marker = f"release-{uuid.uuid4().hex[:8]}"
            revs.append(
                site.commit_change(
                    BASE_HTML, TITLE, f"{{% block title %}}{marker}{{% endblock %}}", marker
                )
            )
            result = site.deploy("code")
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            for step in ("[1/4] build:", "[2/4] migrate:", "[3/4] switch:", "[4/4] proxies:"):
                assert step in result.stdout
            assert "nginx drained" in result.stdout, result.stdout
            assert marker in site.get("/")[1]
            markers.append(marker)
        # `deploy rollback` returns to the previous tag, also without a failed request.
        result = site.deploy("rollback")
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        loop.stop()
    print(f"{DEPLOYS} deploys and a rollback: {loop.report()}")
    assert not loop.failures, (loop.report(), loop.failures[:5])
    assert loop.posts >= 20 and len(loop.bodies) >= 20, loop.report()
    for marker in markers[:-1]:
        assert loop.saw(marker), f"{marker} was never served: no swap observed"
    assert markers[-1] not in site.get("/")[1] and markers[-2] in site.get("/")[1]
    assert web_versions(site) == [revs[-2]]
    # ...and a second rollback toggles back to the newest release.
    result = site.deploy("rollback")
    assert result.returncode == 0, result.stdout + result.stderr
    assert markers[-1] in site.get("/")[1]
    assert web_versions(site) == [revs[-1]]
    assert re.search(r"<title>(.*?)</title>", before)


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
    assert "never became healthy" in error
    # The real exit code (gunicorn: 3, a worker failed to boot), not the restarted one's 0,
    # and the first error it logged, however many workers logged after it.
    # gunicorn exits 3 (a worker failed to boot), or 1 when a second worker's failure
    # is reaped while it halts (HaltServer raised again inside stop(), seen in CI).
    assert re.search(r"its process exited \(code [13]\)", error), error
    assert re.search(r"The first error it logged:\n(.*\n){0,6}RuntimeError: broken build", error)
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
    assert "the site answers 502 until web is back" in result.stdout  # said, not hidden
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

    # Without a terminal and without --noinput nothing is replaced: the answer is not "yes".
    for action in (("db", str(local)), ("restore", before_restore), ("full", str(local))):
        result = site.deploy(*action)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "--noinput" in result.stderr and "no terminal" in result.stderr
        assert "stopping" not in result.stdout
    # Only a name from the listing: no path into the volumes, even for a dry run.
    for bad in ("../app/data/db.sqlite3", "../../etc/passwd", f"{before_restore}/.."):
        result = site.deploy("restore", bad, "--noinput", "--dry-run")
        assert result.returncode == 2 and "No backup" in result.stderr, result.stderr
        assert "Dry run" not in result.stdout

    # A file with migrations of an app the code does not have is refused.
    foreign = tmp_path / "foreign.sqlite3"
    foreign.write_bytes(local.read_bytes())
    with sqlite3.connect(foreign) as conn:
        conn.execute(
            "INSERT INTO django_migrations (app, name, applied) "
            "VALUES ('shop', '0001_initial', '2030-01-01')"
        )
    result = site.deploy("db", str(foreign), "--noinput")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "shop.0001_initial" in result.stderr and "apps that" in result.stderr
    assert "stopping" not in result.stdout

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

    # Two backups at the same moment get two names; neither replaces the other.
    runs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "deploy", "backup", "--keep", "50"],
            cwd=site.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=deploy_env(),
        )
        for _ in range(2)
    ]
    made = []
    for proc in runs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out + err
        made += re.findall(r"\S+\.sqlite3", out)
    listing = site.deploy("backup", "--list").stdout
    assert len(set(made)) == 2 and all(name in listing for name in made), (made, listing)

    # A manual backup, copied to a local directory: a valid database, readable by its owner
    # only, in a directory only its owner can enter; -v 0 (cron) prints no step line.
    result = site.deploy("backup", "--keep", "2", "--output", str(tmp_path / "out"), "-v", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "", result.stdout
    (copy,) = (tmp_path / "out").iterdir()
    assert ("blog", "0001_initial") in validate(copy)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700
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
    """A PostgreSQL stack: backup, ship a SQLite file through dbcopy, deploy, restore."""
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
        # Five steps: the example has uploads, so nginx serves them in front of web.
        assert "[2/5] services: start db" in result.stdout
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

        # nginx is in front (the example has uploads): the new web starts first and the
        # old one drains out of nginx, never a stop-first gap.
        rev = site.commit_change(BASE_HTML, TITLE, "{% block title %}pg v2{% endblock %}", "v2")
        result = site.deploy("code")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "stop-first" not in result.stdout
        assert "finishes its requests first" in result.stdout
        assert web_versions(site) == [rev] and "pg v2" in site.get("/")[1]

        result = site.deploy("restore", empty, "--noinput")
        assert result.returncode == 0, result.stdout + result.stderr
        assert title not in site.get("/")[1]
        assert site.get("/")[0] == 200
    finally:
        site.down()
