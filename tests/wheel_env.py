"""A clean virtualenv with the built wheel installed, shared by the packaging tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_wheel(dest: Path) -> Path:
    """Build a wheel of this checkout into ``dest`` (build and hatchling from the test extra)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dest),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dest.glob("dj_deploykit-*.whl")
    return wheel


def make_venv(dest: Path, wheel: Path, extras: str = "") -> Path:
    """A fresh venv at ``dest`` with ``wheel`` and its dependencies; returns its python.

    ``extras``: deploykit's optional parts to install too ("search,deploy"); none by
    default, which is the core install.
    """
    target = f"{wheel}[{extras}]" if extras else str(wheel)
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    python = dest / "bin" / "python"
    if Path(uv).exists():
        subprocess.run(
            [uv, "venv", "-q", "--python", sys.executable, str(dest)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(python), target],
            check=True,
            capture_output=True,
            timeout=600,
        )
    else:
        subprocess.run([sys.executable, "-m", "venv", str(dest)], check=True, timeout=120)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", target],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return python
