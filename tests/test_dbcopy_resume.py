"""A copy killed with SIGKILL mid-table: a rerun refuses, --resume finishes it exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from django_deploykit.dbcopy.state import StateTable
from tests.dbcopy_data import fill

pytest_plugins = ["tests.dbcopy_support"]
pytestmark = [pytest.mark.usefixtures("db_access"), pytest.mark.mariadb]
ROOT = Path(__file__).resolve().parent.parent
BOOKS = 40_000


def add_books(alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
            "INSERT INTO dbcopy_app_book (author_id, title, body, price, published) "
            "SELECT 1 + i % 3, 'bulk ' || i, printf('%%.1000c', 'b'), i * 1.25, "
            "'2024-01-01 00:00:00.123456' FROM n",
            [BOOKS],
        )


def done_tables(alias: str) -> set[str]:
    connections[alias].close()  # a fresh snapshot each time
    state = StateTable(connections[alias])
    return state.done() if state.exists() else set()


def test_kill_then_resume(make_sqlite, make_server_db, untouched):
    source, source_url = make_sqlite()
    fill(source)
    add_books(source)
    untouched(source)
    target, target_url = make_server_db("mariadb")
    code = (
        "import django, sys; from django.core.management import call_command; django.setup(); "
        "call_command('dbcopy', '--from', sys.argv[1], '--to', sys.argv[2], "
        "'--batch-size', '200', '--verbosity', '0')"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    proc = subprocess.Popen([sys.executable, "-c", code, source_url, target_url], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while "dbcopy_app_author" not in done_tables(target):
            assert proc.poll() is None, "the copy ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)  # into the book table (40 000 rows in pages of 200)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = done_tables(target)
    assert "dbcopy_app_author" in done and "dbcopy_app_book" not in done

    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("dbcopy", "--from", source, "--to", target, stdout=out)
    assert exc.value.returncode == 2
    assert "[interrupted]" in out.getvalue() and "--resume" in out.getvalue()

    out = StringIO()
    call_command("dbcopy", "--from", source, "--to", target, "--resume", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["ok"] and report["verified"]
    by_table = {t["table"]: t for t in report["tables"]}
    assert by_table["dbcopy_app_author"]["skipped"] is True
    assert by_table["dbcopy_app_book"] == {**by_table["dbcopy_app_book"], "skipped": False,
                                           "rows": BOOKS + 12, "verified": True}  # fmt: skip
    assert not StateTable(connections[target]).exists()
