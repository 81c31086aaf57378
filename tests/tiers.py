"""Test tiers: which real services this run can reach, and why not.

A tier runs when its service answers and is skipped with a one-line reason
otherwise; with ``DEPLOYKIT_REQUIRE_TIERS=all`` (or a comma list) a tier that
cannot run fails the session instead, and so does a required tier in which no
test passed.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import urllib.request
from urllib.parse import urlsplit

import dj_database_url

TIERS = ("mariadb", "postgres", "docker", "meilisearch")

# Debian's docker CLI has BuildKit built in; another docker earlier on PATH may not.
DOCKER = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else shutil.which("docker")


def required_tiers() -> set[str]:
    value = os.environ.get("DEPLOYKIT_REQUIRE_TIERS", "").strip()
    if value == "all":
        return set(TIERS)
    wanted = {t.strip() for t in value.split(",") if t.strip()}
    unknown = wanted - set(TIERS)
    if unknown:
        raise SystemExit(f"DEPLOYKIT_REQUIRE_TIERS names unknown tiers: {sorted(unknown)}")
    return wanted


def _database_error(url_var: str) -> str | None:
    url = os.environ.get(url_var, "")
    if not url:
        return f"{url_var} is not set"
    config = dj_database_url.parse(url)
    engine = config["ENGINE"]
    try:
        if engine.endswith("mysql"):
            import MySQLdb

            conn = MySQLdb.connect(
                host=config["HOST"] or "127.0.0.1",
                port=int(config["PORT"] or 3306),
                user=config["USER"],
                password=config["PASSWORD"],
                connect_timeout=3,
            )
        else:
            import psycopg

            conn = psycopg.connect(
                host=config["HOST"] or "127.0.0.1",
                port=int(config["PORT"] or 5432),
                user=config["USER"] or None,
                password=config["PASSWORD"] or None,
                dbname=config["NAME"] or "postgres",
                connect_timeout=3,
            )
    except ImportError as exc:
        return f"driver missing ({exc.name}); pip install '.[mariadb,postgres]'"
    except Exception as exc:  # any driver error means: not reachable
        host = urlsplit(url).hostname
        return f"{url_var} ({host}) not reachable: {type(exc).__name__}"
    conn.close()
    return None


def _docker_error() -> str | None:
    if not DOCKER:
        return "no docker CLI on PATH"
    try:
        result = subprocess.run(
            [DOCKER, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker version failed: {exc}"
    if result.returncode != 0:
        return f"no Docker engine: {result.stderr.strip()[:200]}"
    return None


def _meilisearch_error() -> str | None:
    url = os.environ.get("DEPLOYKIT_TEST_MEILISEARCH_URL", "")
    if not url:
        return None  # the bundled Meilisearch-compatible test server is used
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=3) as resp:
            resp.read()
    except OSError as exc:
        return f"DEPLOYKIT_TEST_MEILISEARCH_URL not reachable: {exc}"
    return None


@functools.cache
def unavailable(tier: str) -> str | None:
    """Why ``tier`` cannot run here, or None when it can."""
    if tier == "mariadb":
        return _database_error("DEPLOYKIT_TEST_MARIADB_URL")
    if tier == "postgres":
        return _database_error("DEPLOYKIT_TEST_POSTGRES_URL")
    if tier == "docker":
        return _docker_error()
    if tier == "meilisearch":
        return _meilisearch_error()
    raise KeyError(tier)
