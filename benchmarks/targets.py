"""Benchmark of ``dockerize --target kubernetes|swarm``: render, kustomize, validate.

Goals (research/scale-out.md): render all targets for the example project < 1 s;
the offline checks (render + schema + policy + kustomize) < 15 s in CI.

    .venv/bin/python benchmarks/targets.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "example_project")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_site.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only")

import django  # noqa: E402

django.setup()

import yaml  # noqa: E402
from kubernetes_validate.utils import latest_version, validate  # noqa: E402

from django_deploykit.docker.detect import detect  # noqa: E402
from django_deploykit.docker.plan import Choices, make_plan  # noqa: E402
from django_deploykit.docker.targets import ScaleOptions, render_target  # noqa: E402
from django_deploykit.docker.targets.options import MIN_KUBERNETES  # noqa: E402
from tests.k8s_policy import violations  # noqa: E402


def main() -> None:
    plan = make_plan(detect(ROOT / "example_project"), Choices(db="postgres", search=True))
    cases = [
        ScaleOptions(
            target=t,
            hosts=["www.example.com"],
            shared_media=True,
            database_in_cluster=True,
            staging_hosts=["staging.example.com"] if t == "kubernetes" else [],
        )
        for t in ("kubernetes", "swarm")
    ]
    start = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        rendered = [render_target(plan, options) for options in cases]
    per = (time.perf_counter() - start) / rounds
    print(f"render kubernetes + swarm (example project): {per * 1000:.1f} ms  (goal < 1000 ms)")

    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"
    with tempfile.TemporaryDirectory() as tmp:
        for file in rendered[0]:
            (Path(tmp) / file.path).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / file.path).write_text(file.content)
        start = time.perf_counter()
        out = subprocess.run(
            [kubectl, "kustomize", f"{tmp}/k8s/overlays/production"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        print(
            f"kubectl kustomize (production overlay): {(time.perf_counter() - start) * 1000:.0f} ms"
        )
    docs = [d for d in yaml.safe_load_all(out) if d]
    start = time.perf_counter()
    for version in (MIN_KUBERNETES, latest_version()):
        for doc in docs:
            validate(doc, version, strict=True)
    took = time.perf_counter() - start
    print(
        f"schema validation, {len(docs)} objects × 2 versions: {took * 1000:.0f} ms "
        f"({took / (2 * len(docs)) * 1000:.1f} ms/object)"
    )
    start = time.perf_counter()
    problems = violations(docs)
    print(f"policy check: {(time.perf_counter() - start) * 1000:.1f} ms, {len(problems)} findings")


if __name__ == "__main__":
    main()
