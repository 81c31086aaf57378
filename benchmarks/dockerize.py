"""Benchmark of the image `manage.py dockerize` generates for the example project.

Run: .venv/bin/python benchmarks/dockerize.py [--runs 3] [--base-image IMAGE]

Prints: image size over the base, cold build time (no layer cache; BuildKit cache
mounts as they are), rebuild time after a one-line code change and the bytes of
the layers that change ships, and `docker run` → first 200 / → healthy, after
checking that every page and static file answers 200. Goals (issue #3): cold
build ≤ 8 s, rebuild ≤ 1.5 s shipping ≤ 5 MB, ≤ 50 MB over base, first 200 ≤ 0.8 s.
Traffic goes to 127.0.0.1 only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else shutil.which("docker")
HOST = "bench.test"
ENV = {"SECRET_KEY": "benchmark-only", "ALLOWED_HOSTS": HOST, "SECURE_SSL_REDIRECT": "true"}


def docker(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    return subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, check=True, env=env, timeout=600, **kwargs
    )


def prepare(workdir: Path) -> Path:
    project = workdir / "site"
    shutil.copytree(
        ROOT / "example_project",
        project,
        ignore=shutil.ignore_patterns(
            "db.sqlite3",
            "staticfiles",
            "media",
            "wheels",
            ".env*",
            "__pycache__",
            ".deploykit.json",
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(project / "wheels"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DEBUG": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "manage.py", "dockerize", "--force"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    return project


def build(project: Path, tag: str, base: str, *extra: str) -> float:
    started = time.perf_counter()
    docker(
        "build", "--quiet", "--tag", tag, "--build-arg", f"BASE_IMAGE={base}", *extra, str(project)
    )
    return time.perf_counter() - started


def image_size(tag: str) -> int:
    return int(docker("image", "inspect", tag, "--format", "{{.Size}}").stdout)


def layer_sizes(tag: str) -> dict[str, int]:
    """diff_id → uncompressed bytes, from `docker save` (what a push would ship)."""
    diff_ids = json.loads(
        docker("image", "inspect", tag, "--format", "{{json .RootFS.Layers}}").stdout
    )
    with tempfile.TemporaryFile() as archive:
        subprocess.run([DOCKER, "save", tag], stdout=archive, check=True, timeout=600)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            sizes = [tar.getmember(path).size for path in manifest[0]["Layers"]]
    return dict(zip(diff_ids, sizes, strict=True))


def get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path, headers={"Host": HOST, "X-Forwarded-Proto": "https"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def run_once(tag: str, volume: str) -> tuple[float, float, int, str]:
    args = [
        "run",
        "-d",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "-p",
        "127.0.0.1::8000",
        "-v",
        f"{volume}:/app/data",
    ]
    for key, value in ENV.items():
        args += ["-e", f"{key}={value}"]
    started = time.perf_counter()
    cid = docker(*args, tag).stdout.strip()
    port = int(docker("port", cid, "8000/tcp").stdout.splitlines()[0].rsplit(":", 1)[1])
    first = None
    deadline = started + 30
    while first is None and time.perf_counter() < deadline:
        try:
            if get(port, "/") == 200:
                first = time.perf_counter() - started
        except OSError:
            time.sleep(0.01)
    healthy = None
    while healthy is None and time.perf_counter() < started + 60:
        status = docker("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip()
        if status == "healthy":
            healthy = time.perf_counter() - started
        else:
            time.sleep(0.05)
    return first or float("nan"), healthy or float("nan"), port, cid


def check_pages(port: int) -> list[str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/", headers={"Host": HOST, "X-Forwarded-Proto": "https"})
    page = conn.getresponse().read().decode()
    conn.close()
    paths = ["/", "/health/", "/admin/login/", "/static/admin/css/base.css"]
    paths += re.findall(r'href="(/posts/[^"]+/)"', page)[:5]
    paths += re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    return [f"{path} → {status}" for path in paths if (status := get(port, path)) != 200]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--base-image", default="deploykit-ci/python:3.11-slim")
    args = parser.parse_args()
    if not DOCKER:
        print("no docker CLI", file=sys.stderr)
        return 1
    tag = f"deploykit-bench/example:{uuid.uuid4().hex[:8]}"
    volume = f"deploykit-bench-{uuid.uuid4().hex[:8]}"
    cids: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        project = prepare(Path(tmp))
        try:
            build(project, tag, args.base_image)  # warms BuildKit's cache mounts
            cold = [build(project, tag, args.base_image, "--no-cache") for _ in range(args.runs)]
            build(project, tag, args.base_image)
            # A dependency change: the install step reruns with BuildKit's cache mounts warm.
            requirements = project / "requirements.txt"
            dep_changes = []
            for i in range(args.runs):
                requirements.write_text(requirements.read_text() + f"# benchmark {i}\n")
                dep_changes.append(build(project, tag, args.base_image))
            before = layer_sizes(tag)
            rebuilds, shipped = [], []
            views = project / "blog" / "views.py"
            for i in range(args.runs):
                views.write_text(views.read_text() + f"# benchmark change {i}\n")
                rebuilds.append(build(project, tag, args.base_image))
                after = layer_sizes(tag)
                shipped.append(sum(size for d, size in after.items() if d not in before))
                before = after
            over_base = image_size(tag) - image_size(args.base_image)
            for command in (["migrate", "-v0"], ["manage", "seed_posts", "--count", "20"]):
                docker(
                    "run",
                    "--rm",
                    "-v",
                    f"{volume}:/app/data",
                    *sum((["-e", f"{k}={v}"] for k, v in ENV.items()), []),
                    tag,
                    *command,
                )
            firsts, healthies = [], []
            failures: list[str] = []
            for _ in range(args.runs):
                first, healthy, port, cid = run_once(tag, volume)
                cids.append(cid)
                firsts.append(first)
                healthies.append(healthy)
                failures = check_pages(port)
                docker("rm", "-f", cid)
        finally:
            for cid in cids:
                subprocess.run([DOCKER, "rm", "-f", cid], capture_output=True)
            subprocess.run([DOCKER, "volume", "rm", "-f", volume], capture_output=True)
            subprocess.run([DOCKER, "rmi", "-f", tag], capture_output=True)
    mb = 1e6
    rows = [
        (
            "cold build (--no-cache: no layers, no cache mounts)",
            f"{statistics.median(cold):.2f} s",
            "≤ 8 s",
        ),
        ("rebuild after a dependency change", f"{statistics.median(dep_changes):.2f} s", "-"),
        ("rebuild after a one-line change", f"{statistics.median(rebuilds):.2f} s", "≤ 1.5 s"),
        ("new layer bytes of that rebuild", f"{statistics.median(shipped) / mb:.2f} MB", "≤ 5 MB"),
        ("image size over the base", f"{over_base / mb:.1f} MB", "≤ 50 MB"),
        ("docker run → first 200 on /", f"{statistics.median(firsts):.2f} s", "≤ 0.8 s"),
        ("docker run → healthy", f"{statistics.median(healthies):.2f} s", "-"),
        ("pages and static files", "all 200" if not failures else "; ".join(failures), "all 200"),
    ]
    print(f"dockerize benchmark: example project on {args.base_image}, median of {args.runs}")
    print(
        f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: figures grow with it)"
    )
    for name, value, goal in rows:
        print(f"  {name:<52} {value:>12}   goal {goal}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
