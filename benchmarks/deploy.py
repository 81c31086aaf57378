"""Benchmark of ``manage.py deploy`` on the local engine: how long each job takes, and
what the site's visitors see during a deploy.

    .venv/bin/python benchmarks/deploy.py            # 3 routine deploys (the median is printed)
    .venv/bin/python benchmarks/deploy.py --runs 5

A copy of the example project is dockerized with nginx (SQLite on a volume), deployed
once, then changed (one template line) and deployed ``--runs`` times while a request
loop sends GETs and POSTs through nginx on loopback (2 s client timeout, at most 20 a
second); then a rollback, a database shipment, a
backup and a restore are timed. Everything is removed at the end. Goal: no failed
request during a deploy or a rollback.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.deploy_site import RequestLoop, Site, ensure_nginx_image  # noqa: E402

TITLE = r"\{% block title %\}.*?\{% endblock %\}"


def timed(site: Site, *args: str) -> tuple[float, str]:
    start = time.monotonic()
    result = site.deploy(*args)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"deploy {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed, result.stdout


def steps(output: str) -> dict[str, float]:
    names = re.findall(r"^\[\d+/\d+\] (\w+):", output, re.M)
    times = [float(t) for t in re.findall(r"^ +done in ([\d.]+)s", output, re.M)]
    return dict(zip(names, times, strict=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ensure_nginx_image()
    with tempfile.TemporaryDirectory() as tmp:
        site = Site.create(Path(tmp), f"dkbench{uuid.uuid4().hex[:6]}")
        try:
            first, _ = timed(site, "code")
            print(f"first deploy (build, volumes, migrate, web, nginx): {first:.1f} s")
            totals, switches, served, failed, latencies = [], [], [], [], []
            for run in range(args.runs):
                site.commit_change(
                    "blog/templates/blog/base.html",
                    TITLE,
                    f"{{% block title %}}bench {run}{{% endblock %}}",
                    f"r{run}",
                )
                loop = RequestLoop(site)
                loop.start()
                total, output = timed(site, "code")
                loop.stop()
                totals.append(total)
                switches.append(steps(output).get("switch", 0.0))
                served.append(len(loop.bodies) + loop.posts)
                failed.append(len(loop.failures))
                latencies.append(loop.max_latency)
            print(
                f"routine deploy (one template line): median {statistics.median(totals):.1f} s "
                f"(runs: {', '.join(f'{t:.1f}' for t in totals)})"
            )
            print(
                f"  of which switch (new web healthy, old one drained): median "
                f"{statistics.median(switches):.1f} s"
            )
            print(
                f"  requests during the deploys: {sum(served)} served, {sum(failed)} failed "
                f"(goal: 0), slowest {max(latencies) * 1000:.0f} ms"
            )
            loop = RequestLoop(site)
            loop.start()
            rollback, _ = timed(site, "rollback")
            loop.stop()
            print(
                f"rollback: {rollback:.1f} s, {len(loop.bodies) + loop.posts} requests served, "
                f"{len(loop.failures)} failed (goal: 0)"
            )
            env = {
                "DATABASE_URL": f"sqlite:///{tmp}/local.sqlite3",
                "SECRET_KEY": "b",
                "DEBUG": "0",
            }
            site.manage("migrate", "-v0", env=env)
            site.manage("seed_posts", "--count", "2000", env=env)
            size = Path(tmp, "local.sqlite3").stat().st_size
            db, _ = timed(site, "db", f"{tmp}/local.sqlite3", "--noinput")
            print(
                f"db (ship {size / 1e6:.1f} MB SQLite, backup, swap, migrate, healthy): {db:.1f} s"
            )
            backup, _ = timed(site, "backup")
            print(f"backup (online, site running): {backup:.1f} s")
            listing = site.deploy("backup", "--list").stdout
            name = re.findall(r"\S+-before-db\.sqlite3", listing)[-1]
            restore, _ = timed(site, "restore", name, "--noinput")
            print(f"restore (backup, swap, migrate, healthy): {restore:.1f} s")
        finally:
            site.down()


if __name__ == "__main__":
    main()
