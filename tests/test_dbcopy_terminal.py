"""dbcopy as a person runs it: a real process, with and without a terminal, and Ctrl-C."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from django.db import connections

from django_deploykit.dbcopy.state import StateTable
from tests.dbcopy_data import fill
from tests.test_dbcopy_resume import BOOKS, add_books

pytest_plugins = ["tests.dbcopy_support"]
pytestmark = pytest.mark.usefixtures("db_access")
ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "COLUMNS": "100"}


def cli(*argv: str, stdin: int = subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "django", "dbcopy", *argv], cwd=ROOT, env=ENV,
                          stdin=stdin, capture_output=True, text=True, timeout=120)  # fmt: skip


def on_a_tty(argv: list[str], answer: str | None, timeout: float = 60) -> tuple[int, str]:
    """Run dbcopy on a pseudo-terminal; type ``answer`` at the first prompt."""
    master, slave = pty.openpty()
    # A terminal window has a size; tqdm draws its bar to fit it.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "django", "dbcopy", *argv], cwd=ROOT,
                            env=ENV, stdin=slave, stdout=slave, stderr=slave)  # fmt: skip
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
                if answer is not None and b"Type 'yes'" in seen:
                    os.write(master, answer.encode() + b"\n")
                    answer = None
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=30), seen.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


@pytest.mark.mariadb
def test_no_terminal_means_no_prompt_and_a_message_naming_noinput(make_sqlite, make_server_db,
                                                                   untouched):  # fmt: skip
    source, source_url = make_sqlite()
    fill(source)
    untouched(source)
    target, target_url = make_server_db("mariadb", migrate=False)
    untouched(target)
    for extra in ([], ["--truncate"]):
        done = cli("--from", source_url, "--to", target_url, *extra)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and "EOFError" not in done.stderr
        assert "--noinput" in done.stderr, done.stderr


@pytest.mark.mariadb
def test_prompt_names_what_the_user_typed(make_sqlite, make_server_db, untouched):
    source, source_url = make_sqlite()
    fill(source)
    untouched(source)
    target, target_url = make_server_db("mariadb")
    untouched(target)
    code, screen = on_a_tty(["--from", source_url, "--to", target_url, "--truncate"], "no")
    assert code == 2, screen
    prompt = [line for line in screen.splitlines() if "Type 'yes'" in line][0]
    assert target_url.rsplit("/", 1)[1] in prompt and "127.0.0.1" in prompt, prompt
    assert "dbcopy_to" not in screen
    assert "Traceback" not in screen


@pytest.mark.mariadb
def test_progress_on_a_terminal_counts_whole_rows(make_sqlite, make_server_db, untouched):
    source, source_url = make_sqlite()
    fill(source)
    untouched(source)
    _, target_url = make_server_db("mariadb")
    code, screen = on_a_tty(["--from", source_url, "--to", target_url, "--noinput"], None)
    assert code == 0, screen
    assert "12/12" in screen and "12.0" not in screen, screen  # the book table's bar
    piped = cli("--from", source_url, "--to", target_url, "--truncate", "--noinput")
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr and "rows/s]" not in piped.stderr, piped.stderr


@pytest.mark.mariadb
def test_ctrl_c_exits_130_with_the_resume_hint_then_resume_counts_this_run(
    make_sqlite, make_server_db, untouched
):
    source, source_url = make_sqlite()
    fill(source)
    add_books(source)
    untouched(source)
    target, target_url = make_server_db("mariadb")
    proc = subprocess.Popen([sys.executable, "-m", "django", "dbcopy", "--from", source_url,
                             "--to", target_url, "--batch-size", "200", "--noinput"], cwd=ROOT,
                            env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            connections[target].close()
            state = StateTable(connections[target])
            if state.exists() and "dbcopy_app_author" in state.done():
                break
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "--resume" in lines[0], err
    connections[target].close()
    done = StateTable(connections[target]).done()
    assert "dbcopy_app_book" not in done

    resumed = cli("--from", source_url, "--to", target_url, "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    skipped = {t["table"] for t in report["tables"] if t["skipped"]}
    assert skipped >= done - {"source", "status"}
    this_run = sum(t["rows"] for t in report["tables"] if not t["skipped"])
    assert report["rows"] == this_run and this_run >= BOOKS


def test_a_date_that_does_not_exist_is_named(make_sqlite, untouched):
    source, source_url = make_sqlite()
    fill(source)
    with connections[source].cursor() as cursor:
        cursor.execute("UPDATE dbcopy_app_everything SET datetime = '2024-02-30 10:00:00', "
                       "date = '2023-13-01' WHERE id = 1")  # fmt: skip
    untouched(source)
    _, target_url = make_sqlite()
    done = cli("--from", source_url, "--to", target_url, "--noinput", "--dry-run")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "'2024-02-30 10:00:00'" in done.stdout and "'2023-13-01'" in done.stdout, done.stdout
    assert "value None" not in done.stdout
