"""Benchmark of ``docker compose up -d --wait`` for web + worker + beat + Redis +
PostgreSQL + Meilisearch (+ nginx), side by side with the previous start-up settings.

    .venv/bin/python benchmarks/stack_up.py              # 3 runs of each, alternating
    .venv/bin/python benchmarks/stack_up.py --runs 5

The journeys project of tests/test_journeys_docker.py (the example site with a Celery
app and a beat schedule) is dockerized with ``--db postgres --search`` and its image
built once. Each run starts the stack from nothing (``down -v`` before: fresh volumes,
so PostgreSQL's initdb is in every run) and times ``up -d --wait``. The baseline is the
same stack with ``baseline.yaml`` laid over it: the settings of the release before
(migrate waits for the database's healthcheck and runs wait_for_db and migrate as two
Python processes; web, worker and beat wait for Redis' healthcheck and run wait_for_db;
nginx waits for web's healthcheck and checks every 10 s; worker and beat check every
5 s; the worker's first healthy check is a ``celery inspect ping``; beat's the schedule
file). Runs alternate, so a change in the machine's load hits both sides. Printed: the
median of each and their ratio, with the load average. Goal: "well under 60 s".
Local stand-in images only (no registry); everything is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_dockerize_docker import free_port  # noqa: E402
from tests.test_journeys_docker import (  # noqa: E402
    Stack,
    _journeys_project,
    _remove_images,
    _set_env,
)

# The previous release's start-up settings, as a compose override.
BASELINE = """\
services:
  migrate:
    command:
      - sh
      - -c
      - >-
        python manage.py wait_for_db --timeout 60
        && exec python manage.py migrate_locked --noinput
    depends_on:
      db:
        condition: service_healthy
  web:
    environment:
      WAIT_FOR_DB_TIMEOUT: "60"
    depends_on:
      redis:
        condition: service_healthy
  worker:
    environment:
      WAIT_FOR_DB_TIMEOUT: "60"
    depends_on:
      redis:
        condition: service_healthy
    healthcheck:
      test:
        - CMD-SHELL
        - >-
          stamp=/tmp/worker-healthy;
          if [ -f $$stamp ] && [ $$(( $$(date +%s) - $$(stat -c %Y $$stamp) )) -lt 60 ];
          then exit 0; fi;
          celery --app example_site inspect ping --destination celery@$$(hostname)
          --timeout 10 >/dev/null && touch $$stamp
      interval: 5s
  beat:
    depends_on:
      redis:
        condition: service_healthy
    healthcheck:
      test:
        - CMD-SHELL
        - >-
          find /var/lib/celerybeat -maxdepth 1 -name 'celerybeat-schedule*'
          -newer /tmp/beat-started | grep -q .
      interval: 5s
  nginx:
    depends_on:
      web:
        condition: service_healthy
    healthcheck:
      interval: 10s
"""


def up_once(stack: Stack) -> float:
    stack.down()
    started = time.monotonic()
    result = stack.compose("up", "-d", "--wait", "--wait-timeout", "180", check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"up --wait failed:\n{result.stderr[-3000:]}\n{stack.logs()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Runs of each side (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project, _ = _journeys_project(Path(tmp), "", "", "--search")
        port = free_port()
        _set_env(project, WEB_PORT=port)
        (project / "baseline.yaml").write_text(BASELINE)
        now = Stack(project, ("compose.yaml",), port)
        before = Stack(project, ("compose.yaml", "baseline.yaml"), port)
        try:
            built = now.compose("build", timeout=900, check=False)
            if built.returncode != 0:
                raise SystemExit(built.stderr[-3000:])
            times: dict[str, list[float]] = {"baseline": [], "now": []}
            for run in range(args.runs):
                for name, stack in (("baseline", before), ("now", now)):
                    load = os.getloadavg()[0]
                    seconds = up_once(stack)
                    times[name].append(seconds)
                    print(
                        f"run {run + 1} {name:8}: up -d --wait {seconds:5.1f} s (load {load:.1f})"
                    )
            base, new = statistics.median(times["baseline"]), statistics.median(times["now"])
            print(
                f"median: baseline {base:.1f} s, now {new:.1f} s, "
                f"ratio now/baseline {new / base:.2f}"
            )
        finally:
            now.down()
            _remove_images(project)


if __name__ == "__main__":
    main()
