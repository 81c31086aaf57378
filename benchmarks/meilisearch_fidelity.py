"""How faithful the bundled Meilisearch test server is: the official client's own suite.

    git clone https://github.com/meilisearch/meilisearch-python /tmp/meilisearch-python
    .venv/bin/python benchmarks/meilisearch_fidelity.py /tmp/meilisearch-python [--ref HEAD]

``CLIENT_REPO`` is a checkout (or a bare git directory) of the public
``meilisearch/meilisearch-python`` repository; nothing of it is copied into this
project. The script exports ``--ref`` into a temporary directory, starts
``tests/meilisearch_server.py`` on a free 127.0.0.1 port with the master key the
suite expects (``masterKey``), runs the suite with this venv's Python
(``-p no:randomly``, one process) and prints passed/failed/errored/skipped per
test module, then the modules of the features deploykit uses
(``DEPLOYKIT_FEATURES``), which must all pass. Exit code 0 when they do.

Tests of features the test server does not implement (keys, multi-search,
facets, embedders, snapshots...) fail by design: the server answers them 404
like a route that does not exist. ``--only PATTERN`` passes ``-k`` on.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tests" / "meilisearch_server.py"
MASTER_KEY = "masterKey"  # tests/common.py of the client suite

# Test modules (of the client suite) covering the calls deploykit makes:
# version, health, indexes, documents, settings, stats, tasks, swap, search, errors.
DEPLOYKIT_FEATURES = {
    "client/test_client_version_meilisearch.py": "version",
    "client/test_client_health_meilisearch.py": "health",
    "client/test_client_swap_meilisearch.py": "swap",
    "client/test_client_task_meilisearch.py": "tasks",
    "index/test_index.py": "indexes",
    "index/test_index_document_meilisearch.py": "documents",
    "index/test_index_stats_meilisearch.py": "stats",
    "index/test_index_task_meilisearch.py": "tasks",
    "index/test_index_wait_for_task.py": "tasks",
    "index/test_index_search_meilisearch.py": "search",
    "errors/test_api_error_meilisearch.py": "errors",
    "settings/test_settings.py": "settings",
    "settings/test_settings_displayed_attributes_meilisearch.py": "settings",
    "settings/test_settings_searchable_attributes_meilisearch.py": "settings",
    "settings/test_settings_filterable_attributes_meilisearch.py": "settings",
    "settings/test_settings_sortable_attributes_meilisearch.py": "settings",
    "settings/test_settings_ranking_rules_meilisearch.py": "settings",
    "settings/test_settings_stop_words_meilisearch.py": "settings",
    "settings/test_settings_synonyms_meilisearch.py": "settings",
    "settings/test_settings_typo_tolerance_meilisearch.py": "settings",
    "settings/test_settings_distinct_attribute_meilisearch.py": "settings",
    "settings/test_settings_pagination.py": "settings",
    "settings/test_setting_faceting.py": "settings",
    "settings/test_settings_dictionary_meilisearch.py": "settings",
    "settings/test_settings_text_separators_meilisearch.py": "settings",
    "settings/test_settings_proximity_precision_meilisearch.py": "settings",
}


# Tests in those modules that exercise what deploykit never asks for (and the test
# server answers 404/405/501): filters, facets, sorting, highlighting and cropping,
# ranking scores, distinct, nested fields, vectors/embedders, /fields, foreign keys.
NOT_USED_BY_DEPLOYKIT = re.compile(
    r"^test_(.*(filter|facet|sort|highlight|crop|ranking_score|ranking_threshold|distinct"
    r"|nested|vector|hybrid|similar|performance_details|many_params)"
    r"|custom_search$|custom_search_params_with_(wildcard|simple_string|string_list)$"
    r"|get_fields.*|delete_documents$)"
)
# In the settings modules only the embedders (in test_update/reset_settings) are unused.
NOT_USED_SETTINGS = re.compile(r"^test_(update|reset)_settings$")


def export(repo: Path, ref: str, dest: Path) -> None:
    """Write ``ref``'s files under ``dest``; blobs a snapshot lacks (big data files) are skipped."""
    git_dir = repo / ".git" if (repo / ".git").exists() else repo
    git = ["git", f"--git-dir={git_dir}"]
    listing = subprocess.run(
        [*git, "ls-tree", "-r", "-z", ref], check=True, capture_output=True
    ).stdout
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, name = entry.split(b"\t", 1)
        _mode, kind, sha = meta.split()
        if kind != b"blob":
            continue
        blob = subprocess.run([*git, "cat-file", "blob", sha], capture_output=True, check=False)
        if blob.returncode:
            continue
        path = dest / os.fsdecode(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob.stdout)


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", "0", "--key", MASTER_KEY],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("LISTENING "):
        proc.kill()
        raise SystemExit(f"the test server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def outcomes(junit: Path) -> dict[str, collections.Counter[str]]:
    per_module: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        module = module.removeprefix("tests/")
        module = module.rsplit("/", 1)[0] + ".py" if "/Test" in module else module + ".py"
        kinds = {child.tag for child in case}
        if "error" in kinds:
            outcome = "error"
        elif "failure" in kinds:
            outcome = "failed"
        elif "skipped" in kinds:
            outcome = "skipped"
        else:
            outcome = "passed"
        per_module[module][outcome] += 1
        name = case.get("name", "").split("[")[0]
        pattern = {"settings": NOT_USED_SETTINGS, "index": NOT_USED_BY_DEPLOYKIT}.get(
            module.split("/")[0]
        )
        part = "#unused" if pattern and pattern.search(name) else "#deploykit"
        per_module[module + part][outcome] += 1
        if outcome in ("failed", "error") and part == "#deploykit" and module in DEPLOYKIT_FEATURES:
            FAILING.append(f"{module}::{case.get('name')}")
    return per_module


FAILING: list[str] = []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("client_repo", type=Path, help="meilisearch-python checkout or git dir")
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--only", help="pytest -k expression")
    parser.add_argument("--timeout", type=float, default=1800, help="whole run, seconds")
    parser.add_argument("--junit", type=Path, help="also keep pytest's JUnit XML here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="meili-client-suite-") as tmp:
        work = Path(tmp)
        export(args.client_repo, args.ref, work)
        proc, url = start_server()
        junit = work / "junit.xml"
        started = time.monotonic()
        try:
            cmd = [
                sys.executable,
                "-m",
                "pytest",
                "tests",
                "-q",
                "-p",
                "no:randomly",
                "-p",
                "no:cacheprovider",
                "-o",
                "addopts=",
                f"--junitxml={junit}",
                "--rootdir",
                str(work),
            ]
            if args.only:
                cmd += ["-k", args.only]
            env = {**os.environ, "MEILISEARCH_URL": url, "DJANGO_SETTINGS_MODULE": ""}
            env.pop("DJANGO_SETTINGS_MODULE")
            subprocess.run(
                cmd,
                cwd=work,
                env=env,
                timeout=args.timeout,
                check=False,
                stdout=subprocess.DEVNULL,
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        seconds = time.monotonic() - started
        per_module = outcomes(junit)
        if args.junit:
            args.junit.write_bytes(junit.read_bytes())
    total: collections.Counter[str] = collections.Counter()
    print(f"{'module':<62} pass fail  err skip")
    for module in sorted(m for m in per_module if "#" not in m):
        c = per_module[module]
        total.update(c)
        mark = "*" if module in DEPLOYKIT_FEATURES else " "
        print(f"{mark}{module:<61} {c['passed']:4} {c['failed']:4} {c['error']:4} {c['skipped']:4}")
    print(
        f"total {sum(total.values())} tests in {seconds:.0f} s: {total['passed']} passed, "
        f"{total['failed']} failed, {total['error']} errors, {total['skipped']} skipped"
    )
    by_feature: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    unused: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for module, feature in DEPLOYKIT_FEATURES.items():
        by_feature[feature].update(per_module.get(module + "#deploykit", collections.Counter()))
        unused[feature].update(per_module.get(module + "#unused", collections.Counter()))
    print("\nfeatures deploykit uses (* above): tests of what deploykit calls, then the")
    print("same modules' tests of options it never sends (filters, facets, sort, vectors...):")
    bad = 0
    for feature in sorted(by_feature):
        c, u = by_feature[feature], unused[feature]
        bad += c["failed"] + c["error"]
        print(
            f"  {feature:<10} {c['passed']}/{sum(c.values())} pass"
            f"   (not used by deploykit: {u['passed']}/{sum(u.values())} pass)"
        )
    for name in FAILING:
        print(f"  FAILING {name}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
