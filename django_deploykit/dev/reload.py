"""Run a command and restart it whenever a Python file under the project changes.

Celery has no reloader of its own (``--autoreload`` went away in Celery 4); the
development override runs the worker and beat through this instead::

    python -m django_deploykit.dev.reload [--root DIR] [--interval S] -- celery -A proj worker

It polls file modification times (no inotify: bind mounts from macOS and Windows
do not deliver events), sends SIGTERM to the command on a change, waits for it
(SIGKILL after ``--grace`` seconds) and starts it again. SIGTERM/SIGINT to this
process are passed on, and it exits with the command's status.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["main", "python_files", "snapshot"]

# Directories that never hold the project's code (or are too big to poll).
SKIP_DIRS = frozenset(
    {"node_modules", "staticfiles", "media", "__pycache__", "venv", "env", "site-packages"}
)


def python_files(root: Path) -> Iterator[Path]:
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS]
        for name in files:
            if name.endswith(".py"):
                yield Path(directory, name)


def snapshot(root: Path) -> dict[Path, float]:
    """Modification time of every Python file under ``root``."""
    times = {}
    for path in python_files(root):
        try:
            times[path] = path.stat().st_mtime
        except OSError:  # removed while walking
            continue
    return times


def _changed(old: dict[Path, float], new: dict[Path, float]) -> list[Path]:
    return sorted({p for p in old.keys() | new.keys() if old.get(p) != new.get(p)})


def _stop(proc: subprocess.Popen[bytes], grace: float) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m django_deploykit.dev.reload",
        description="Run COMMAND; restart it when a .py file under --root changes.",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="directory to watch")
    parser.add_argument("--interval", type=float, default=1.0, help="poll seconds (default 1)")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds before SIGKILL")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    files = snapshot(args.root)
    while True:
        proc = subprocess.Popen(command)
        while not stopping:
            time.sleep(args.interval)
            if proc.poll() is not None:  # the command ended on its own
                return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
            current = snapshot(args.root)
            changed = _changed(files, current)
            files = current
            if changed:
                shown = ", ".join(str(p.relative_to(args.root)) for p in changed[:3])
                print(f"reload: {shown} changed; restarting {command[0]}", flush=True)
                _stop(proc, args.grace)
                break
        if stopping:
            code = _stop(proc, args.grace)
            return code if code >= 0 else 128 - code  # killed by signal N: 128+N, as sh


if __name__ == "__main__":
    sys.exit(main())
