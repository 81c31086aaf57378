"""One-off containers on the stack's volumes: upload, download, and ``remote_ops``.

They run the app image (it has Python, and is on the engine already), as root
(a fresh backups volume is root-owned; files put into the data volume are given
to the data directory's owner), with no network.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from django_deploykit.deploy import remote_ops
from django_deploykit.deploy.target import Target, engine_name
from django_deploykit.exceptions import ConfigError, DeployKitError

# docker.errors is imported where it is caught: the SDK is the deploy extra, and
# Target.client has imported it (engine.client) before any SDK call.
__all__ = ["BACKUP_DIR", "Helper", "backups_volume"]

BACKUP_DIR = "/backups"
_SOURCE = Path(remote_ops.__file__).read_text(encoding="utf-8")


def backups_volume(target: Target) -> str:
    """Not declared in the compose file, so `docker compose down -v` keeps the backups."""
    return f"{target.project}_deploykit-backups"


class Helper:
    def __init__(self, target: Target) -> None:
        self.target = target
        stack = target.stack
        self.data_dir = stack.sqlite_path.rsplit("/", 1)[0] if stack.db_vendor == "sqlite" else ""
        self.volumes: dict[str, dict[str, str]] = {
            backups_volume(target): {"bind": BACKUP_DIR, "mode": "rw"}
        }
        if self.data_dir:
            volume = stack.volume_at("web", self.data_dir)
            if volume is None:
                raise ConfigError(
                    f"The web service mounts no named volume at {self.data_dir} (where "
                    f"{stack.sqlite_path} lives): the database would be lost with the "
                    "container. Re-run `manage.py dockerize` or add the volume."
                )
            self.volumes[volume] = {"bind": self.data_dir, "mode": "rw"}

    def _ensure_backups_volume(self) -> None:
        client = self.target.client
        name = backups_volume(self.target)
        try:
            client.volumes.get(name)
        except Exception:  # noqa: BLE001 - NotFound; create it with our label
            client.volumes.create(name, labels={"io.deploykit.project": self.target.project})

    def _image(self) -> str:
        from docker.errors import ImageNotFound

        name = self.target.stack.app_image
        try:
            self.target.client.images.get(name)
        except ImageNotFound:
            raise ConfigError(
                f"The app image {name} is not on {engine_name()}: deploy the code first "
                "(`manage.py deploy code`)."
            ) from None
        return name

    def _create(self, argv: list[str]) -> Any:
        self._ensure_backups_volume()
        return self.target.client.containers.create(
            self._image(),
            entrypoint=["python", "-c", _SOURCE],
            command=argv,
            user="0",
            volumes=self.volumes,
            network_disabled=True,
            working_dir="/",
            labels={"io.deploykit.helper": self.target.project},
        )

    def run(
        self, *argv: str, upload: tuple[Path, str] | None = None, timeout: int = 3600
    ) -> dict[str, Any]:
        """Run a ``remote_ops`` operation; ``upload`` = (local file, path in the container)."""
        container = self._create(list(argv))
        try:
            if upload is not None:
                _put(container, *upload)
            container.start()
            result = container.wait(timeout=timeout)
            out = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            if result.get("StatusCode") != 0:
                err = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
                raise DeployKitError(
                    f"{argv[0]} failed in a helper container: {err.strip()[-500:]}"
                )
            return json.loads(out.strip().splitlines()[-1])
        finally:
            container.remove(force=True)

    def download(self, path: str, directory: Path, *, private: bool = False) -> Path:
        """Copy ``path`` out of the volumes into the local ``directory``; ``private``: a new
        0600 file (an existing one is an error, never replaced).
        """
        from docker.errors import APIError

        container = self._create(["list", BACKUP_DIR])
        try:
            stream, _ = container.get_archive(path)
            with tempfile.TemporaryFile() as buffer:
                for chunk in stream:
                    buffer.write(chunk)
                buffer.seek(0)
                with tarfile.open(fileobj=buffer) as tar:
                    member = tar.next()
                    if member is None or not member.isfile():
                        raise DeployKitError(f"{path} is not a file")
                    directory.mkdir(parents=True, exist_ok=True)
                    dest = directory / Path(member.name).name
                    source = tar.extractfile(member)
                    assert source is not None
                    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if private else os.O_TRUNC)
                    try:
                        fd = os.open(dest, flags, 0o600)
                    except FileExistsError:
                        raise ConfigError(
                            f"{dest} exists already: it is kept; copy to another directory."
                        ) from None
                    with os.fdopen(fd, "wb") as f:
                        while chunk := source.read(1 << 20):
                            f.write(chunk)
            return dest
        except APIError as exc:
            raise DeployKitError(f"Cannot read {path}: {exc.explanation}") from None
        finally:
            container.remove(force=True)

    def upload(self, local: Path, path: str) -> None:
        """Copy a local file into the volumes (e.g. a dump into the backups volume)."""
        container = self._create(["list", BACKUP_DIR])
        try:
            _put(container, local, path)
        finally:
            container.remove(force=True)


def _put(container: Any, local: Path, path: str) -> None:
    directory, _, name = path.rpartition("/")
    with tempfile.TemporaryFile() as buffer:
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tar.gettarinfo(str(local), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with open(local, "rb") as f:
                tar.addfile(info, f)
        buffer.seek(0)
        if not container.put_archive(directory or "/", buffer):
            raise DeployKitError(f"Uploading {local.name} to {path} failed on {engine_name()}.")
