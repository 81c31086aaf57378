"""Fixtures of the ``meilisearch`` tier: a real server if configured, else the bundled one.

``DEPLOYKIT_TEST_MEILISEARCH_URL`` (and ``DEPLOYKIT_TEST_MEILISEARCH_KEY``) point the
tier at a real Meilisearch; otherwise ``tests/meilisearch_server.py`` runs in a
subprocess on a free 127.0.0.1 port. Tests use unique index names (a per-test
prefix) and delete their indexes afterwards, so a shared real server stays clean.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import meilisearch
import pytest
import requests

SERVER_SCRIPT = Path(__file__).with_name("meilisearch_server.py")


class MeiliServer(NamedTuple):
    url: str
    key: str | None

    @property
    def bundled(self) -> bool:
        return not os.environ.get("DEPLOYKIT_TEST_MEILISEARCH_URL")

    def client(self) -> meilisearch.Client:
        return meilisearch.Client(self.url, self.key, timeout=10)

    def _configure(self, **config: Any) -> None:
        if self.bundled:  # a real server is left alone
            requests.post(
                f"{self.url}/_test/config",
                json=config,
                headers={"Authorization": f"Bearer {self.key}"},
                timeout=5,
            ).raise_for_status()

    def set_task_delay(self, seconds: float) -> None:
        """Slow the bundled server's task processing."""
        self._configure(taskDelay=seconds)

    def set_payload_limit(self, size: int | None) -> None:
        """The bundled server's ``--http-payload-size-limit`` in bytes (None: 100 MB)."""
        self._configure(httpPayloadSizeLimit=size)


@pytest.fixture(scope="session")
def meilisearch_server() -> Iterator[MeiliServer]:
    url = os.environ.get("DEPLOYKIT_TEST_MEILISEARCH_URL", "").rstrip("/")
    if url:
        yield MeiliServer(url, os.environ.get("DEPLOYKIT_TEST_MEILISEARCH_KEY") or None)
        return
    key = secrets.token_hex(16)
    proc = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), "--port", "0", "--key", key],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "LISTENING <port>", printed once it accepts
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"the bundled Meilisearch test server did not start: {line!r}")
        yield MeiliServer(f"http://127.0.0.1:{int(line.split()[1])}", key)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def delete_indexes(server: MeiliServer, prefix: str) -> None:
    client = server.client()
    uids = [i["uid"] for i in client.get_raw_indexes({"limit": 1000})["results"]]
    tasks = [client.delete_index(uid).task_uid for uid in uids if uid.startswith(prefix)]
    for uid in tasks:
        client.wait_for_task(uid, timeout_in_ms=60_000)


@pytest.fixture
def meili(meilisearch_server: MeiliServer, settings: Any) -> Iterator[MeiliServer]:
    """Point deploykit at the tier's server with a unique index prefix; clean up after."""
    prefix = f"dk{int(time.time())}_{secrets.token_hex(3)}_"
    settings.DEPLOYKIT_MEILISEARCH_URL = meilisearch_server.url
    settings.DEPLOYKIT_MEILISEARCH_MASTER_KEY = meilisearch_server.key
    settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX = prefix
    try:
        yield meilisearch_server
    finally:
        from django_deploykit.search.query import breaker

        breaker.reset()  # a test that made searches fail must not skip the next one's
        meilisearch_server.set_task_delay(0)
        meilisearch_server.set_payload_limit(None)
        delete_indexes(meilisearch_server, prefix)
