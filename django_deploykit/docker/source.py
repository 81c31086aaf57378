"""Where this machine's deploykit came from, so the image installs the same thing.

From an index: the image pins the installed version. From a local path (editable or
not), a VCS URL or a local wheel (PEP 610 ``direct_url.json``): a wheel of the same
source is put into ``.deploykit/`` in the build context, and the Dockerfile installs
that file; no index is asked for deploykit at all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from urllib.parse import unquote, urlparse

from django_deploykit.exceptions import ConfigError

__all__ = ["DISTRIBUTION", "WHEEL_DIR", "DeploykitSource", "carry_wheel", "installed_source"]

#: The distribution name (the import name stays django_deploykit).
DISTRIBUTION = "dj-deploykit"
#: Folder of the build context that holds a carried wheel.
WHEEL_DIR = ".deploykit"


@dataclass(frozen=True)
class DeploykitSource:
    #: index, path, vcs, wheel (or unknown when not installed as a distribution).
    kind: str
    version: str
    #: The direct URL of PEP 610 (path, VCS or wheel), None for an index.
    url: str | None = None
    #: The wheel's file name inside WHEEL_DIR (set once the wheel is carried).
    wheel: str | None = None

    @property
    def carried(self) -> bool:
        return self.kind in ("path", "vcs", "wheel")

    def requirement(self, extras: str = "") -> str:
        """What the Dockerfile installs; ``extras`` such as "[search]" (not for a wheel)."""
        if self.carried:
            return f"./{WHEEL_DIR}/{self.wheel or '*.whl'}"
        name = DISTRIBUTION + extras
        return f"{name}=={self.version}" if self.kind == "index" else name

    @property
    def described(self) -> str:
        if self.kind == "index":
            return f"{DISTRIBUTION}=={self.version} from the package index"
        if self.carried:
            return f"{DISTRIBUTION} {self.version}: wheel of {self.url} in {WHEEL_DIR}/"
        return f"{DISTRIBUTION} (not installed as a distribution: from the index)"


def installed_source() -> DeploykitSource:
    try:
        dist = distribution(DISTRIBUTION)
    except PackageNotFoundError:
        # Imported from a source checkout (PYTHONPATH) without being installed: that
        # checkout is the source.
        checkout = Path(__file__).resolve().parents[2]
        if (checkout / "pyproject.toml").is_file():
            return DeploykitSource("path", "0.0.0", checkout.as_uri())
        return DeploykitSource("unknown", "")
    text = dist.read_text("direct_url.json")
    if not text:
        return DeploykitSource("index", dist.version)
    data = json.loads(text)
    url = str(data.get("url", ""))
    if "vcs_info" in data:
        commit = data["vcs_info"].get("commit_id")
        vcs = data["vcs_info"].get("vcs", "git")
        pinned = f"{vcs}+{url}" + (f"@{commit}" if commit else "")
        return DeploykitSource("vcs", dist.version, pinned)
    if "dir_info" in data:
        return DeploykitSource("path", dist.version, url)
    if url.startswith("file:") and url.endswith(".whl"):
        return DeploykitSource("wheel", dist.version, url)
    # A remote archive: the same URL works from the image.
    return DeploykitSource("index", dist.version, url)


def carry_wheel(source: DeploykitSource, context: Path) -> DeploykitSource:
    """Put a wheel of ``source`` into ``context/.deploykit`` (replacing older ones)."""
    if not source.carried or source.url is None:
        return source
    folder = context / WHEEL_DIR
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.whl"):
        old.unlink()
    if source.kind == "wheel":
        wheel = Path(unquote(urlparse(source.url).path))
        if not wheel.is_file():
            raise ConfigError(
                f"{DISTRIBUTION} was installed from {wheel}, which no longer exists: "
                f"reinstall it (pip install {DISTRIBUTION} or the wheel), then re-run."
            )
        shutil.copy2(wheel, folder / wheel.name)
        return DeploykitSource(source.kind, source.version, source.url, wheel.name)
    if source.kind == "path":
        target = unquote(urlparse(source.url).path)
    else:
        target = f"{DISTRIBUTION} @ {source.url}"
    _build_wheel(target, folder)
    (built,) = sorted(folder.glob("*.whl"))[-1:]
    return DeploykitSource(source.kind, source.version, source.url, built.name)


def _build_wheel(target: str, folder: Path) -> None:
    """pip wheel (paths and VCS URLs); uv build when this venv has no pip (paths only)."""
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    has_pip = (
        subprocess.run(
            [sys.executable, "-m", "pip", "--version"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if has_pip:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), target]
    elif Path(uv).exists() and not target.startswith(DISTRIBUTION):
        cmd = [uv, "build", "--wheel", "-q", "--out-dir", str(folder), target]
    else:
        raise ConfigError(
            f"Building a wheel of {DISTRIBUTION} for the image needs pip (or uv for a "
            "local path) in this environment: install one, then re-run."
        )
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
        raise ConfigError(
            f"Building a wheel of {DISTRIBUTION} from {target} failed ({' '.join(tail)}). "
            f"Install {DISTRIBUTION} from a wheel or the index, then re-run."
        ) from None
