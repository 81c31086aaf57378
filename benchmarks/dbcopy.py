"""Benchmark of ``manage.py dbcopy`` (SQLite -> MariaDB and -> PostgreSQL) against the
server's own bulk path (export to files + LOAD DATA LOCAL INFILE / COPY FROM) and against
dumpdata+loaddata, on the same rows in one run.

    .venv/bin/python benchmarks/dbcopy.py                      # 205 200 rows, both servers
    .venv/bin/python benchmarks/dbcopy.py --scale 5 --no-dumpdata   # ~1M rows, memory check
    .venv/bin/python benchmarks/dbcopy.py --target postgres
    git worktree add /tmp/base main   # then, the same rows through the code of main too:
    .venv/bin/python benchmarks/dbcopy.py --baseline /tmp/base

dbcopy's seconds are its whole process (Python's and Django's start-up included, as
when a user runs manage.py dbcopy); the other methods' are their timed work alone.

The machine may be shared: the load average is printed, and the ratios (same rows, same
run) are the figures to compare, not the seconds. Each fast method runs --repeat times
(3), the rounds in rotating order, each on a freshly migrated target; the median run is
reported with every run's time. dumpdata + loaddata runs once.

The dataset: 200 tags, 5 000 authors, 50 000 books (1 KB text with accents and emoji,
datetimes with microseconds, decimals) and 150 000 book-tag rows, times --scale.
Each method runs in its own process, which reports its wall time and peak RSS.
MariaDB: DEPLOYKIT_BENCH_MARIADB_URL (default mysql://root@127.0.0.1:3306); PostgreSQL:
DEPLOYKIT_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432); scratch
databases deploykit_bench_* are created and dropped. LOAD DATA LOCAL needs the server's
local_infile ON: the script turns it on with SET GLOBAL when it is off, and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVERS = {
    "mariadb": os.environ.get("DEPLOYKIT_BENCH_MARIADB_URL", "mysql://root@127.0.0.1:3306"),
    "postgres": os.environ.get("DEPLOYKIT_BENCH_POSTGRES_URL",
                               "postgres://postgres@127.0.0.1:5432"),
}  # fmt: skip
APP_TABLES = ["dbcopy_app_tag", "dbcopy_app_author", "dbcopy_app_book", "dbcopy_app_book_tags"]


def setup_django(source: str, target: str | None = None, code: str = "") -> None:
    """``target`` is "kind:database"; ``code`` a checkout whose deploykit is imported
    instead of this one's (the baseline)."""
    import dj_database_url
    import django
    from django.conf import settings

    sys.path.insert(0, str(ROOT))
    if code:
        sys.path.insert(0, code)
    databases = {"default": dj_database_url.parse(f"sqlite:///{source}")}
    if target:
        kind, name = target.split(":")
        databases["target"] = dj_database_url.parse(f"{SERVERS[kind].rstrip('/')}/{name}")
        if kind == "mariadb":  # as a user's settings have it (dbcopy turns local_infile on)
            databases["target"]["OPTIONS"] = {"charset": "utf8mb4"}
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                        "django_deploykit", "tests.dbcopy_app"],
        DATABASES=databases, USE_TZ=True, SECRET_KEY="bench",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )  # fmt: skip
    django.setup()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- children: one method each, reporting {"seconds", "peak_mb", ...} as JSON -----------
def child_build(source: str, scale: int) -> dict:
    from django.core.management import call_command

    setup_django(source)
    call_command("migrate", verbosity=0)
    tags, authors, books = 200, 5000 * scale, 50000 * scale
    body = "Ça déménage: naïve café, 🎉 emoji, «quotes» and plain words. " * 16  # ~1 KB
    db = sqlite3.connect(source)
    with db:
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?) "
            "INSERT INTO dbcopy_app_tag (id, name) SELECT i, 'tag ' || i FROM n",
            [tags],
        )
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?) "
            "INSERT INTO dbcopy_app_author (id, name) SELECT i, 'Autör ' || i FROM n",
            [authors],
        )
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?) "
            "INSERT INTO dbcopy_app_book (id, author_id, title, body, price, published) "
            "SELECT i, 1 + i % ?, 'Book ' || i, ? || i, (i % 100000) / 100.0 + 0.99, "
            "printf('2024-%02d-%02d %02d:%02d:%02d.%06d', 1 + i % 12, 1 + i % 28, i % 24, "
            "i % 60, (i / 60) % 60, (i * 7919) % 1000000) FROM n",
            [books, authors, body],
        )
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i < ?) "
            "INSERT INTO dbcopy_app_book_tags (book_id, tag_id) "
            "SELECT 1 + i / 3, 1 + (i + (i / 3) * 7) % ? FROM n",
            [books * 3 - 1, tags],
        )
    db.close()
    return {"rows": tags + authors + books + books * 3}  # fmt: skip


def child_dbcopy(source: str, target: str, verify: bool, code: str = "") -> dict:
    from io import StringIO

    from django.core.management import call_command

    setup_django(source, target, code)
    import django_deploykit

    assert Path(django_deploykit.__file__).is_relative_to(code or ROOT), django_deploykit.__file__
    out = StringIO()
    started = time.perf_counter()
    argv = ["--from", "default", "--to", "target", "--json", "-v", "0"]
    call_command("dbcopy", *argv, *([] if verify else ["--no-verify"]), stdout=out)
    seconds = time.perf_counter() - started
    report = json.loads(out.getvalue())
    assert report["ok"], report
    copy_seconds = sum(t["seconds"] for t in report["tables"])
    return {"seconds": seconds, "copy_seconds": copy_seconds, "peak_mb": peak_mb()}


def child_dumpdata(source: str, fixture: str) -> dict:
    from django.core.management import call_command

    setup_django(source)
    started = time.perf_counter()
    models = ["dbcopy_app.Tag", "dbcopy_app.Author", "dbcopy_app.Book"]  # with book_tags
    call_command("dumpdata", *models, output=fixture, verbosity=0)
    return {"seconds": time.perf_counter() - started, "peak_mb": peak_mb()}


def child_loaddata(source: str, target: str, fixture: str) -> dict:
    from django.core.management import call_command

    setup_django(source, target)
    started = time.perf_counter()
    call_command("loaddata", fixture, database="target", verbosity=0)
    return {"seconds": time.perf_counter() - started, "peak_mb": peak_mb()}


def _tsv(value: object) -> str:
    if value is None:
        return "\\N"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\0", "\\0")


def _export(source: str, workdir: str) -> list[tuple[str, list[str], Path]]:
    db = sqlite3.connect(source)
    files = []
    for table in APP_TABLES:
        cursor = db.execute(f"SELECT * FROM {table} ORDER BY 1")
        columns = [d[0] for d in cursor.description]
        path = Path(workdir) / f"{table}.tsv"
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            while rows := cursor.fetchmany(10000):
                f.writelines("\t".join(map(_tsv, row)) + "\n" for row in rows)
        files.append((table, columns, path))
    db.close()
    return files


def child_infile(source: str, target: str, workdir: str) -> dict:
    """The server's bulk path: export each table to a TSV file, LOAD DATA LOCAL INFILE it
    (MariaDB) or COPY ... FROM STDIN it (PostgreSQL, as psql's \\copy does)."""
    setup_django(source, target)
    from django.db import connections

    started = time.perf_counter()
    files = _export(source, workdir)
    exported = time.perf_counter()
    conn = connections["target"]
    if conn.vendor == "mysql":
        conn.settings_dict["OPTIONS"]["local_infile"] = 1
        with conn.cursor() as cursor:
            cursor.execute("SET foreign_key_checks = 0")
            for table, columns, path in files:
                cursor.execute(
                    f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table} CHARACTER SET utf8mb4 "
                    f"({', '.join(f'`{c}`' for c in columns)})"
                )
            cursor.execute("SET foreign_key_checks = 1")
    else:
        conn.ensure_connection()
        with conn.connection.transaction(), conn.connection.cursor() as cursor:
            for table, columns, path in files:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy, \
                        open(path, "rb") as f:  # fmt: skip
                    while block := f.read(1 << 20):
                        copy.write(block)
    loaded = time.perf_counter()
    return {"seconds": loaded - started, "load_seconds": loaded - exported, "peak_mb": peak_mb()}


CHILDREN = {"build": child_build, "dbcopy": child_dbcopy, "dumpdata": child_dumpdata,
            "loaddata": child_loaddata, "infile": child_infile}  # fmt: skip


# --- the parent ------------------------------------------------------------------------
def run_child(name: str, *args: object) -> dict:
    """The child's report, with ``process_seconds``: its whole process as timed from
    here (Python's and Django's start-up included, as when a user runs the command)."""
    cmd = [sys.executable, __file__, "--child", name, json.dumps(list(args))]
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    process_seconds = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"{name} failed:\n{result.stderr[-3000:]}")
    return {**json.loads(result.stdout.strip().splitlines()[-1]),
            "process_seconds": process_seconds}  # fmt: skip


def admin(kind: str, sql: str) -> list:
    import dj_database_url

    cfg = dj_database_url.parse(SERVERS[kind].rstrip("/") + "/postgres")
    host, port = cfg["HOST"] or "127.0.0.1", int(cfg["PORT"] or 0)
    if kind == "mariadb":
        import MySQLdb

        conn = MySQLdb.connect(host=host, port=port or 3306, user=cfg["USER"],
                               password=cfg["PASSWORD"] or "")  # fmt: skip
    else:
        import psycopg

        conn = psycopg.connect(host=host, port=port or 5432, user=cfg["USER"],
                               password=cfg["PASSWORD"] or "", dbname="postgres",
                               autocommit=True)  # fmt: skip
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        conn.close()


def fresh_target(kind: str, name: str, source: str) -> str:
    admin(kind, f"DROP DATABASE IF EXISTS {name}")
    admin(kind, f"CREATE DATABASE {name}" + (" CHARACTER SET utf8mb4" if kind == "mariadb" else ""))
    run_child("migrate_target", source, f"{kind}:{name}")
    return f"{kind}:{name}"


def child_migrate_target(source: str, target: str) -> dict:
    from django.core.management import call_command

    setup_django(source, target)
    call_command("migrate", database="target", verbosity=0)
    return {}


CHILDREN["migrate_target"] = child_migrate_target


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def whole_command(result: dict) -> dict:
    """dbcopy's figure is its whole process, as a user runs ``manage.py dbcopy``; the
    others' are their timed work alone (a hand-made export and load needs no Python)."""
    return {**result, "seconds": result["process_seconds"], "command_seconds": result["seconds"]}


def median_run(runs: list[dict]) -> dict:
    """The run with the median time (the lower one of an even count), with the spread
    of all runs and the highest peak memory of any."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    middle = ordered[(len(ordered) - 1) // 2]
    spread = [round(r["seconds"], 2) for r in runs]
    return {**middle, "runs": spread, "peak_mb": max(r["peak_mb"] for r in runs)}


def bench(kind: str, source: str, work: str, dumpdata: bool, fixture: str | None,
          baseline: str, repeat: int) -> dict:  # fmt: skip
    bulk = "export + LOAD DATA LOCAL INFILE" if kind == "mariadb" else "export + COPY FROM"
    methods = {
        "dbcopy": lambda target: whole_command(run_child("dbcopy", source, target, True)),
        "dbcopy --no-verify": lambda target: whole_command(
            run_child("dbcopy", source, target, False)
        ),
        bulk: lambda target: run_child("infile", source, target, work),
    }
    if baseline:
        methods[BASELINE] = lambda target: whole_command(
            run_child("dbcopy", source, target, True, baseline)
        )
    runs: dict[str, list[dict]] = {label: [] for label in methods}
    try:
        for round_ in range(repeat):
            # Each round in another order: no method is always the one that runs first
            # (after the dataset is built, or right after another method's load).
            labels = list(methods)
            labels = labels[round_ % len(labels) :] + labels[: round_ % len(labels)]
            for label in labels:
                target = fresh_target(kind, f"{PREFIX}_run", source)
                runs[label].append(methods[label](target))
        order = ["dbcopy", "dbcopy --no-verify", BASELINE, bulk]
        results = {label: median_run(runs[label]) for label in order if label in runs}
        if dumpdata and fixture:
            target = fresh_target(kind, f"{PREFIX}_loaddata", source)
            load = run_child("loaddata", source, target, fixture)
            results["dumpdata + loaddata"] = {
                "seconds": DUMP["seconds"] + load["seconds"],
                "peak_mb": max(DUMP["peak_mb"], load["peak_mb"]),
            }
    finally:
        for name in ("run", "loaddata"):
            admin(kind, f"DROP DATABASE IF EXISTS {PREFIX}_{name}")
    return results


DUMP: dict = {}
BASELINE = "dbcopy of --baseline"
PREFIX = f"deploykit_bench_{os.getpid()}"  # two runs at once do not share databases


def report(kind: str, rows: int, results: dict) -> None:
    default = results["dbcopy"]["seconds"]
    print(f"\n{kind}: {rows:,} rows; {load()}")
    print(f"{'method':<34}{'seconds':>9}{'rows/s':>10}{'peak MB':>9}{'dbcopy is':>11}  runs")
    for label, r in results.items():
        runs = ", ".join(f"{s:.2f}" for s in r.get("runs", [r["seconds"]]))
        print(f"{label:<34}{r['seconds']:>9.2f}{rows / r['seconds']:>10,.0f}{r['peak_mb']:>9.0f}"
              f"{r['seconds'] / default:>10.2f}x  {runs}")  # fmt: skip
        if "command_seconds" in r:
            print(f"{'  of which the command':<34}{r['command_seconds']:>9.2f}")
        if "copy_seconds" in r:
            print(f"{'  of which copying rows':<34}{r['copy_seconds']:>9.2f}")
        if "load_seconds" in r:
            print(f"{'  of which loading':<34}{r['load_seconds']:>9.2f}")
    bulk = next(k for k in results if k.startswith("export"))
    print(f"default dbcopy vs {bulk}: {results[bulk]['seconds'] / default:.2f}x (goal >= 1.0x)")
    if BASELINE in results:
        ratio = results[BASELINE]["seconds"] / default
        print(f"default dbcopy vs the baseline's: {ratio:.2f}x (above 1: this code is faster)")
    if "dumpdata + loaddata" in results:
        ratio = results["dumpdata + loaddata"]["seconds"] / default
        print(f"default dbcopy vs dumpdata + loaddata: {ratio:.1f}x (goal >= 50x)")
    else:
        print("dumpdata + loaddata: not run at this size (--no-dumpdata)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=1, help="dataset size, 1 = 205 200 rows")
    parser.add_argument("--target", choices=["mariadb", "postgres", "both"], default="both")
    parser.add_argument(
        "--no-dumpdata",
        action="store_true",
        help="skip dumpdata+loaddata (about 7 minutes per 205 200 rows)",
    )
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        default="",
        help="also run the default dbcopy with the deploykit of this checkout (e.g. main's)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each fast method, in rotating order; the median is reported (default 3)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="?", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        print(json.dumps(CHILDREN[opts.child](*json.loads(opts.args))))
        return

    kinds = ["mariadb", "postgres"] if opts.target == "both" else [opts.target]
    if "mariadb" in kinds:
        [(local_infile,)] = admin("mariadb", "SELECT @@local_infile")
        if not local_infile:
            admin("mariadb", "SET GLOBAL local_infile = 1")
            print("note: turned on local_infile on the server (SET GLOBAL local_infile = 1)")
    print(load())
    work = tempfile.mkdtemp(prefix="deploykit_bench_")
    source = f"{work}/source.sqlite3"
    t = time.perf_counter()
    rows = run_child("build", source, opts.scale)["rows"]
    size = os.path.getsize(source) / 1e6
    print(f"dataset: {rows:,} rows in SQLite ({size:.0f} MB), built in "
          f"{time.perf_counter() - t:.1f} s")  # fmt: skip
    fixture = None
    try:
        if not opts.no_dumpdata:
            fixture = f"{work}/dump.json"
            DUMP.update(run_child("dumpdata", source, fixture))
        for kind in kinds:
            results = bench(
                kind, source, work, not opts.no_dumpdata, fixture, opts.baseline, opts.repeat
            )
            report(kind, rows, results)
    finally:
        for path in Path(work).iterdir():
            path.unlink()
        os.rmdir(work)


if __name__ == "__main__":
    main()
