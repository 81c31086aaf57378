"""Benchmark: the images of the corpus projects next to the example project's.

Run: .venv/bin/python benchmarks/corpus.py [--runs 1] [--base-image IMAGE] [NAME ...]

For the example project and each corpus project with an "e2e" entry
(tests/corpus/README.md): copy it, add django_deploykit to INSTALLED_APPS, run
``manage.py dockerize`` (with this interpreter), then measure

* cold build: ``docker build --no-cache`` (no layer cache; BuildKit's cache mounts,
  i.e. uv's download cache, as they are: the situation of a CI runner with a warm cache);
* warm rebuild: one line added to a Python file of the project, then ``docker build``;
* image size, and its size over the base image.

One table, the example first, ratios against it. Nothing is pushed; images are removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
DOCKER = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else shutil.which("docker")
JUNK = shutil.ignore_patterns(
    "db.sqlite3", "staticfiles", "media", "wheels", ".env*", "__pycache__", ".deploykit*"
)


def docker(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    return subprocess.run(
        [DOCKER or "docker", *args], capture_output=True, text=True, check=True, env=env,
        timeout=timeout,
    )  # fmt: skip


def projects(names: list[str]) -> list[tuple[str, Path, list[str]]]:
    found = [("example", ROOT / "example_project", [])]
    for spec in sorted(CORPUS.glob("*/corpus.json")):
        e2e = json.loads(spec.read_text()).get("e2e")
        if e2e is None or (names and spec.parent.name not in names):
            continue
        db = e2e.get("db", "sqlite")
        found.append((spec.parent.name, spec.parent, ["--db", db] if db != "sqlite" else []))
    return found


def prepare(source: Path, workdir: Path, args: list[str]) -> Path:
    project = workdir / source.name
    shutil.copytree(source, project, ignore=JUNK)
    requirements = project / "requirements.txt"
    if requirements.is_file() and "./wheels" in requirements.read_text():
        # The example names ./wheels (make demo fills it): a wheel of this checkout.
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
             str(project / "wheels"), str(ROOT)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    for path in project.rglob("*.py"):
        text = path.read_text()
        if "INSTALLED_APPS = [" in text and "django_deploykit" not in text:
            path.write_text(
                text.replace("INSTALLED_APPS = [", "INSTALLED_APPS = [\n    'django_deploykit',", 1)
            )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(SECRET_KEY="benchmark-only", DEBUG="false", PATH=f"/usr/bin:{env.get('PATH', '')}")
    result = subprocess.run(
        [sys.executable, "manage.py", "dockerize", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"dockerize failed in {project}:\n{result.stdout}\n{result.stderr}")
    return project


def build(project: Path, tag: str, base: str, *extra: str) -> float:
    started = time.monotonic()
    docker(
        "build",
        "--progress",
        "plain",
        *extra,
        "--build-arg",
        f"BASE_IMAGE={base}",
        "-t",
        tag,
        str(project),
    )
    return time.monotonic() - started


def size(tag: str) -> int:
    return int(json.loads(docker("image", "inspect", tag).stdout)[0]["Size"])


def touch_code(project: Path) -> None:
    """One line added to a Python file of the project (a code-only change)."""
    target = next(p for p in sorted(project.rglob("urls.py")) if "notes" not in p.parts)
    with target.open("a") as handle:
        handle.write(f"# benchmark change {uuid.uuid4().hex}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--base-image", default="deploykit-ci/python:3.11-slim")
    parser.add_argument("names", nargs="*", help="corpus projects (default: every e2e one)")
    args = parser.parse_args()
    base_size = size(args.base_image)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dk-bench-corpus-") as tmp:
        for name, source, flags in projects(args.names):
            project = prepare(source, Path(tmp), flags)
            tag = f"deploykit-bench/{name}:{uuid.uuid4().hex[:8]}"
            colds, warms = [], []
            try:
                for _ in range(args.runs):
                    colds.append(build(project, tag, args.base_image, "--no-cache"))
                    touch_code(project)
                    warms.append(build(project, tag, args.base_image))
                rows.append((name, statistics.median(colds), statistics.median(warms), size(tag)))
            finally:
                subprocess.run([DOCKER or "docker", "rmi", "-f", tag], capture_output=True)
            print(f"measured {name}", file=sys.stderr)
    example = rows[0]
    print(f"base image {args.base_image}: {base_size / 1e6:.0f} MB; runs: {args.runs} (median)")
    print(f"{'project':<18} {'cold s':>7} {'×ex':>5} {'warm s':>7} {'×ex':>5} "
          f"{'size MB':>8} {'over base MB':>13} {'×ex':>5}")  # fmt: skip
    for name, cold, warm, image in rows:
        over = image - base_size
        print(
            f"{name:<18} {cold:7.1f} {cold / example[1]:5.2f} {warm:7.1f} "
            f"{warm / example[2]:5.2f} {image / 1e6:8.0f} {over / 1e6:13.0f} "
            f"{over / (example[3] - base_size):5.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
