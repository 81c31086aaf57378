"""A thin wrapper over the ``meilisearch`` client that never fails silently.

The client's defaults are what makes other integrations lose data without a word:
no HTTP timeout, ``wait_for_task`` giving up after 5 s and returning *failed*
tasks without raising. Here every request has ``DEPLOYKIT_MEILISEARCH_TIMEOUT``,
waiting has no fixed limit (``DEPLOYKIT_SEARCH_TASK_TIMEOUT``) but a heartbeat,
and a failed task raises ``TaskFailed`` with Meilisearch's code and message.
Messages name the server URL, never the key. The client comes with the ``search``
extra: it is imported when a SearchClient is made, and its absence is a ConfigError
naming the extra.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django_deploykit.conf import conf
from django_deploykit.exceptions import ConfigError, DeployKitError, ServiceUnavailable
from django_deploykit.extras import require

if TYPE_CHECKING:
    import meilisearch.index

__all__ = [
    "PermissionDenied",
    "RebuildLocked",
    "SearchClient",
    "SearchError",
    "TaskFailed",
    "VerificationFailed",
]

T = TypeVar("T")
# A slow link (a Raspberry Pi on Wi-Fi, a far VM) still moves 1 MB/s: upload timeouts
# get this much time per byte on top of DEPLOYKIT_MEILISEARCH_TIMEOUT.
UPLOAD_BYTES_PER_SECOND = 1_000_000
_AUTH_CODES = {"invalid_api_key", "missing_authorization_header"}
_FINISHED = {"succeeded", "failed", "canceled"}


class SearchError(DeployKitError):
    """Meilisearch refused or failed an operation (exit code 1)."""


class TaskFailed(SearchError):
    def __init__(self, task: Any, context: str) -> None:
        error = task.error or {}
        self.code = error.get("code") or task.status
        self.detail = error.get("message") or f"the task was {task.status}"
        self.task_uid = task.uid
        self.context = context
        super().__init__(
            f"Meilisearch task {task.uid} ({task.type}) {task.status} for {context}: "
            f"[{self.code}] {self.detail}"
        )


class VerificationFailed(SearchError):
    """The rebuilt index does not hold what was sent: it is not swapped in."""


class PermissionDenied(SearchError):
    """The key was accepted before but lacks the permission for this request (exit 1)."""


class RebuildLocked(DeployKitError):
    """Another rebuild of the same index is running (exit code 3)."""


Heartbeat = Callable[[str], None]


class SearchClient:
    """The Meilisearch client with timeouts, error translation and task waiting."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | None = None,
        task_timeout: float | None = None,
        heartbeat_every: float = 5.0,
    ) -> None:
        url = (url or conf.MEILISEARCH_URL or "").rstrip("/")
        if not url:
            raise ConfigError(
                "Meilisearch is not configured: set DEPLOYKIT_MEILISEARCH_URL "
                "(MEILISEARCH_URL with the env helper)."
            )
        self.url = url
        self.timeout = timeout if timeout is not None else conf.MEILISEARCH_TIMEOUT
        self.task_timeout = task_timeout if task_timeout is not None else conf.SEARCH_TASK_TIMEOUT
        self.heartbeat_every = heartbeat_every
        key = api_key if api_key is not None else conf.MEILISEARCH_API_KEY
        self.authenticated = False  # set once preflight saw the key accepted
        self.meilisearch = require("meilisearch", "search")
        self.errors = require("meilisearch.errors", "search")
        # The client's own default is no timeout at all: a stalled server hangs forever.
        self.client = self.meilisearch.Client(url, key, timeout=self.timeout)

    # -- requests -----------------------------------------------------------------
    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one client call, turning its exceptions into deploykit's."""
        errors = self.errors
        try:
            return fn(*args, **kwargs)
        except errors.MeilisearchTimeoutError as exc:
            raise ServiceUnavailable(
                f"Meilisearch at {self.url} did not answer within {self.timeout:g} s "
                "(DEPLOYKIT_MEILISEARCH_TIMEOUT)."
            ) from exc
        except errors.MeilisearchCommunicationError as exc:
            raise ServiceUnavailable(
                f"Meilisearch at {self.url} is unreachable ({_reason(exc)}). Check "
                "DEPLOYKIT_MEILISEARCH_URL and that the server is running."
            ) from exc
        except errors.MeilisearchApiError as exc:
            if exc.code in _AUTH_CODES and self.authenticated:
                raise PermissionDenied(
                    f"Meilisearch at {self.url} refused this request ({exc.code}): the API "
                    "key lacks a permission (its actions or indexes). deploykit's app key "
                    "(MEILISEARCH_API_KEY, made by search-init) allows what deploykit's own "
                    "code calls; give other work a key of its own."
                ) from exc
            if exc.code in _AUTH_CODES:
                raise ConfigError(
                    f"Meilisearch at {self.url} rejected the API key ({exc.code}). Set "
                    "DEPLOYKIT_MEILISEARCH_API_KEY (MEILISEARCH_API_KEY) to the app's key, "
                    "which the generated stacks' search-init step creates from the master "
                    "key (see its log: `docker compose logs search-init`), or "
                    "DEPLOYKIT_MEILISEARCH_MASTER_KEY (MEILISEARCH_MASTER_KEY) to the "
                    "master key."
                ) from exc
            raise SearchError(
                f"Meilisearch at {self.url} refused the request: "
                f"[{exc.code or exc.status_code}] {exc.message}"
            ) from exc

    def preflight(self) -> str:
        """Check the server answers and accepts the key; return its version."""
        try:
            version = self.call(self.client.get_version)
        except ServiceUnavailable as exc:
            raise ConfigError(str(exc)) from exc  # nothing was changed: a setup problem
        # From here on a 403 means a missing permission, not a wrong key.
        self.authenticated = True
        return str(version.get("pkgVersion", "?"))

    def index_info(self, uid: str) -> dict[str, Any] | None:
        """The index's uid/primaryKey/updatedAt, or None when it does not exist."""
        try:
            return self.call(self.client.get_raw_index, uid)
        except SearchError as exc:
            if isinstance(exc.__cause__, self.errors.MeilisearchApiError) and (
                exc.__cause__.code == "index_not_found"
            ):
                return None
            raise

    def index(self, uid: str) -> meilisearch.index.Index:
        return self.client.index(uid)

    def upload_timeout(self, size: int) -> float:
        """Seconds to wait for the answer to a ``size``-byte upload: Meilisearch answers
        only once it has received and parsed the whole payload."""
        return self.timeout + size / UPLOAD_BYTES_PER_SECOND

    def add_documents(self, uid: str, payload: bytes, primary_key: str) -> Any:
        """Send one JSON array of documents; the timeout grows with the payload."""
        timeout = self.upload_timeout(len(payload))
        config = copy.copy(self.client.config)
        config.timeout = timeout
        index = self.meilisearch.index.Index(config, uid)
        try:
            return self.call(
                index.add_documents_raw,
                payload,
                primary_key=primary_key,
                content_type="application/json",
            )
        except ServiceUnavailable as exc:
            raise ServiceUnavailable(
                f"{exc} A {len(payload) / 1e6:.1f} MB batch got {timeout:.0f} s; lower "
                "DEPLOYKIT_SEARCH_BATCH_BYTES or --batch-size, or raise "
                "DEPLOYKIT_MEILISEARCH_TIMEOUT."
            ) from exc

    # -- tasks --------------------------------------------------------------------
    def get_task(self, uid: int) -> Any:
        return self.call(self.client.get_task, uid)

    def wait(self, uid: int, context: str, on_heartbeat: Heartbeat | None = None) -> Any:
        """Wait until task ``uid`` finishes; raise TaskFailed unless it succeeded."""
        started = last_beat = time.monotonic()
        delay = 0.01
        while True:
            task = self.get_task(uid)
            if task.status in _FINISHED:
                if task.status != "succeeded":
                    raise TaskFailed(task, context)
                return task
            now = time.monotonic()
            if self.task_timeout is not None and now - started > self.task_timeout:
                raise ServiceUnavailable(
                    f"Meilisearch task {uid} for {context} is still {task.status} after "
                    f"{self.task_timeout:g} s (DEPLOYKIT_SEARCH_TASK_TIMEOUT); it goes on "
                    "running on the server."
                )
            if on_heartbeat is not None and now - last_beat >= self.heartbeat_every:
                on_heartbeat(
                    f"waiting for Meilisearch: task {uid} ({context}) {task.status} "
                    f"for {now - started:.0f} s"
                )
                last_beat = now
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        context: str,
        on_heartbeat: Heartbeat | None = None,
        **kwargs: Any,
    ) -> Any:
        """Enqueue a task with ``fn(*args)`` and wait for it to succeed."""
        info = self.call(fn, *args, **kwargs)
        return self.wait(info.task_uid, context, on_heartbeat)

    def latest_tasks(self, uid: str, statuses: list[str] | None = None) -> list[Any]:
        params: dict[str, Any] = {"indexUids": [uid], "limit": 1}
        if statuses:
            params["statuses"] = statuses
        return list(self.call(self.client.get_tasks, params).results)


def _reason(exc: Exception) -> str:
    # requests' messages are long and repeat the URL; keep the OS reason only.
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
    return match.group(1).strip() if match else "connection failed"
