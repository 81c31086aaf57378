"""The app's own Meilisearch key: only the actions deploykit's code calls, no key management.

The app containers never get the master key. Meilisearch derives every API key from
the master key: the key of uid ``U`` is ``HMAC-SHA256(master key, U)`` in hex, ``U``
written hyphenated in lower case (``meilisearch-auth`` ``generate_key_as_hexa``), and
``POST /keys`` takes the uid from the client. So ``dockerize`` derives the app's key
(``MEILISEARCH_API_KEY``) from the master key and ``MEILISEARCH_API_KEY_UID`` into the
stack's secrets, and a one-shot step, the only one with the master key, makes the
server hold that key with ``APP_KEY_ACTIONS`` (compose and Swarm: the search-init
service; Kubernetes: the search-key Job)::

    python -m django_deploykit.search.app_key

It is idempotent: an existing key with the same actions is left alone, one with other
actions is deleted and made again (Meilisearch cannot change a key's actions; the
same uid gives the same value, so running containers keep working), and keys of the
same name under another uid (a rotated ``MEILISEARCH_API_KEY_UID``) are deleted.
It talks to Meilisearch through the official client (the ``search`` extra, in every
image whose stack has search) and needs no project settings: it runs before them.
Exit codes: 0 done, 1 Meilisearch unreachable or refusing, 2 configuration error.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django_deploykit.extras import MissingExtra, require

__all__ = [
    "APP_KEY_ACTIONS",
    "APP_KEY_INDEXES",
    "APP_KEY_NAME",
    "DEFAULT_UID",
    "AppKeyError",
    "derive_key",
    "ensure_app_key",
    "main",
]

#: What deploykit's app-side code calls, one action per endpoint family:
#: searches (``search``), signal updates (``documents.add``/``documents.delete``),
#: ``reindex_search`` (``indexes.create``/``indexes.get``/``indexes.delete``/
#: ``indexes.swap``, ``settings.update``, ``documents.add``/``documents.delete`` for the
#: in-place emptying, ``stats.get`` for the verification, ``tasks.get`` to wait),
#: the settings drift check (``settings.get``) and the version preflight (``version``).
#: Never ``*``, ``keys.*``, ``dumps.*``, ``snapshots.*``, ``tasks.cancel``/``delete``.
APP_KEY_ACTIONS = (
    "search",
    "documents.add",
    "documents.delete",
    "indexes.create",
    "indexes.get",
    "indexes.delete",
    "indexes.swap",
    "settings.get",
    "settings.update",
    "stats.get",
    "tasks.get",
    "version",
)
#: Every index of the server, not ``<prefix>*``: Meilisearch hides the tasks that are
#: not tied to one index (``indexSwap``) from a key with a finite index list
#: (index-scheduler ``get_task_ids_from_authorized_indexes``), so such a key could not
#: wait for the swap of a zero-downtime ``reindex_search``. The generated stacks run a
#: Meilisearch of their own, so every index there is the project's.
APP_KEY_INDEXES = ("*",)
APP_KEY_NAME = "django-deploykit app"
#: The uid when MEILISEARCH_API_KEY_UID is unset. Not a secret (Meilisearch lists uids
#: to anyone with keys.get); the key is secret because the master key is.
DEFAULT_UID = "5d1f3c8e-6a0b-4e7d-9c2a-0d3e1b7f4a61"
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


class AppKeyError(Exception):
    """A failure to report in one line; ``exit_code`` 1 (server) or 2 (configuration)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def key_uid(value: str | None) -> str:
    """The uid as Meilisearch writes it (hyphenated, lower case); a clear error if invalid."""
    try:
        return str(uuid.UUID((value or DEFAULT_UID).strip()))
    except ValueError:
        raise AppKeyError(
            "MEILISEARCH_API_KEY_UID is not a UUID: set it to one (python -c "
            '"import uuid; print(uuid.uuid4())") or unset it.',
            EXIT_CONFIG,
        ) from None


def derive_key(master_key: str, uid: str | None = None) -> str:
    """The key Meilisearch gives the uid ``uid`` under ``master_key``."""
    return hmac.new(master_key.encode(), key_uid(uid).encode(), hashlib.sha256).hexdigest()


class _Server:
    """Meilisearch through the official client with the master key; every request has a
    timeout, and every failure becomes one AppKeyError line."""

    def __init__(self, url: str, master_key: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AppKeyError("MEILISEARCH_URL must be an http(s) URL.", EXIT_CONFIG)
        try:
            meilisearch = require("meilisearch", "search")
        except MissingExtra as exc:
            raise AppKeyError(str(exc), EXIT_CONFIG) from None
        self.errors = require("meilisearch.errors", "search")
        self.url = url.rstrip("/")
        self.client = meilisearch.Client(self.url, master_key, timeout=timeout)

    def call(self, what: str, fn: Any, *args: Any, missing_ok: bool = False) -> Any:
        """``fn(*args)``; None for a 404 when ``missing_ok``; AppKeyError for the rest."""
        try:
            return fn(*args)
        except self.errors.MeilisearchApiError as exc:
            if missing_ok and exc.status_code == 404:
                return None
            if exc.status_code in (401, 403):
                raise AppKeyError(
                    f"Meilisearch at {self.url} rejected MEILISEARCH_MASTER_KEY "
                    f"({exc.code}): give this step the master key the server was "
                    "started with (MEILI_MASTER_KEY).",
                    EXIT_CONFIG,
                ) from None
            raise AppKeyError(
                f"Meilisearch at {self.url} refused to {what}: HTTP {exc.status_code} "
                f"[{exc.code}] {exc.message}".rstrip()
            ) from None
        except (self.errors.MeilisearchError, OSError) as exc:
            raise AppKeyError(f"Meilisearch at {self.url} is unreachable ({exc}).") from None

    def wait_available(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        delay = 0.1  # a starting server answers within a second: ask often, then less
        while True:
            try:
                self.call("answer /health", self.client.health)
                return
            except AppKeyError as exc:
                if exc.exit_code == EXIT_CONFIG:
                    raise
                problem = str(exc)
            if time.monotonic() >= deadline:
                raise AppKeyError(f"{problem} Gave up after {seconds:g} s.")
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)


def _same(key: Any) -> bool:
    return (
        set(key.actions or ()) == set(APP_KEY_ACTIONS)
        and set(key.indexes or ()) == set(APP_KEY_INDEXES)
        and key.expires_at is None
    )


def ensure_app_key(
    url: str,
    master_key: str,
    uid: str | None = None,
    *,
    expected_key: str | None = None,
    timeout: float = 10.0,
    wait: float = 0.0,
) -> list[str]:
    """Make Meilisearch hold the app's key; return what was done, one line per step.

    ``expected_key`` is the key the app was given (its secret file): when it is not
    the one the master key derives for ``uid``, nothing is changed and the error says
    how to derive it again.
    """
    if not master_key:
        raise AppKeyError(
            "MEILISEARCH_MASTER_KEY is not set (nor MEILISEARCH_MASTER_KEY_FILE): this "
            "step needs the master key to create the app's key.",
            EXIT_CONFIG,
        )
    uid = key_uid(uid)
    derived = derive_key(master_key, uid)
    if expected_key is not None and not hmac.compare_digest(expected_key.strip(), derived):
        raise AppKeyError(
            "MEILISEARCH_API_KEY (the app's key, secrets/meilisearch_api_key) is not the "
            "key that MEILISEARCH_MASTER_KEY derives for MEILISEARCH_API_KEY_UID: it was made "
            "for another master key or uid. Delete secrets/meilisearch_api_key (Kubernetes: "
            "the MEILISEARCH_API_KEY line of secrets.env; Swarm: swarm/secrets/"
            "MEILISEARCH_API_KEY) and run `manage.py dockerize` again to derive it.",
            EXIT_CONFIG,
        )
    server = _Server(url, master_key, timeout)
    if wait:
        server.wait_available(wait)
    done = []
    key = server.call(f"read the app's key {uid}", server.client.get_key, uid, missing_ok=True)
    if key is not None and _same(key):
        done.append(f"the app's key {uid} is in place")
    else:
        if key is not None:
            server.call(f"delete the app's key {uid}", server.client.delete_key, uid)
            done.append(f"the app's key {uid} had other permissions: replaced")
        key = server.call(
            f"create the app's key {uid}",
            server.client.create_key,
            {
                "uid": uid,
                "name": APP_KEY_NAME,
                "description": "The app containers' key (django-deploykit): no key "
                "management, dumps or snapshots.",
                "actions": list(APP_KEY_ACTIONS),
                "indexes": list(APP_KEY_INDEXES),
                "expiresAt": None,
            },
        )
        if not done:
            done.append(f"created the app's key {uid}")
    if key is None or not hmac.compare_digest(str(key.key), derived):
        raise AppKeyError(
            f"Meilisearch at {server.url} holds the key {uid} under another value than "
            "the master key derives: it is not a Meilisearch server that derives keys."
        )
    done += _remove_rotated(server, uid)
    return done


def _remove_rotated(server: _Server, uid: str) -> list[str]:
    """Delete the app keys of earlier uids (MEILISEARCH_API_KEY_UID was changed)."""
    keys = server.call("list the keys", server.client.get_keys, {"limit": 1000})
    done = []
    for key in keys.results if keys is not None else ():
        if key.name == APP_KEY_NAME and key.uid != uid:
            server.call(f"delete the old app key {key.uid}", server.client.delete_key, key.uid)
            done.append(f"deleted the app's previous key {key.uid}")
    return done


def _secret(environ: Mapping[str, str], name: str) -> str | None:
    """``NAME``, else the content of the file ``NAME_FILE`` names, else None."""
    if environ.get(name):
        return environ[name].strip()
    path = environ.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise AppKeyError(
            f"{name}_FILE cannot be read ({exc.strerror}): mount the secret file there.",
            EXIT_CONFIG,
        ) from None


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m django_deploykit.search.app_key",
        description="Create or update the app's limited Meilisearch key (needs the master key).",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=60.0,
        help="seconds to wait for Meilisearch to answer /health (default 60)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout (default 10)")
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    try:
        url = (environ.get("MEILISEARCH_URL") or "").strip()
        if not url:
            raise AppKeyError(
                "MEILISEARCH_URL is not set: name the Meilisearch server.", EXIT_CONFIG
            )
        for line in ensure_app_key(
            url,
            _secret(environ, "MEILISEARCH_MASTER_KEY") or "",
            environ.get("MEILISEARCH_API_KEY_UID"),
            expected_key=_secret(environ, "MEILISEARCH_API_KEY"),
            timeout=args.timeout,
            wait=args.wait,
        ):
            print(f"search-init: {line}", flush=True)
    except AppKeyError as exc:
        print(f"search-init: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
