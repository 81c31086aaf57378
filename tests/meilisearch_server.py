"""A small Meilisearch-compatible HTTP server for the test suite (never shipped).

No Meilisearch binary can be installed on the machines this project runs on, so
the ``meilisearch`` test tier talks to this server unless
``DEPLOYKIT_TEST_MEILISEARCH_URL`` names a real one. It implements the documented
behaviour of the endpoints deploykit uses, closely enough that the unmodified
``meilisearch`` Python client talks to it:

* bearer-key auth (``missing_authorization_header`` 401, ``invalid_api_key`` 403);
  ``/health`` needs no key;
* asynchronous tasks, processed one at a time in enqueue order by a worker
  thread: ``enqueued`` -> ``processing`` -> ``succeeded`` | ``failed`` with an
  error object (``index_already_exists``, ``index_not_found``,
  ``invalid_document_id``, ``missing_document_id``,
  ``index_primary_key_no_candidate_found``,
  ``index_primary_key_multiple_candidates_found``, ...); a failed document batch
  adds nothing;
* indexes (list, get, create, delete), documents (add/replace as JSON or NDJSON,
  which creates a missing index; update; delete one, all or a batch; get),
  settings (get, patch, reset), stats, ``swap-indexes`` (atomic), tasks (get one,
  list with ``uids``/``statuses``/``indexUids``/``types`` filters), search (a
  case-insensitive substring match over the searchable attributes), ``/version``.

Run it alone with ``python tests/meilisearch_server.py --port 7700 --key KEY``;
it prints ``LISTENING <port>`` once it accepts connections. ``POST /_test/config``
(``{"taskDelay": seconds}``) slows task processing down; it is the only
non-Meilisearch route and tests use it only when they run against this server.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import re
import sys
import threading
import time
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

VERSION = "1.15.0"
DEFAULT_SETTINGS: dict[str, Any] = {
    "displayedAttributes": ["*"],
    "searchableAttributes": ["*"],
    "filterableAttributes": [],
    "sortableAttributes": [],
    "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness"],
    "stopWords": [],
    "nonSeparatorTokens": [],
    "separatorTokens": [],
    "dictionary": [],
    "synonyms": {},
    "distinctAttribute": None,
    "proximityPrecision": "byWord",
    "typoTolerance": {
        "enabled": True,
        "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
        "disableOnWords": [],
        "disableOnAttributes": [],
    },
    "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
    "pagination": {"maxTotalHits": 1000},
    "searchCutoffMs": None,
    "localizedAttributes": None,
    "facetSearch": True,
    "prefixSearch": "indexingTime",
    "embedders": {},
}
# Meilisearch stores these as sets and returns them sorted.
_SET_SETTINGS = {
    "filterableAttributes",
    "sortableAttributes",
    "stopWords",
    "dictionary",
    "separatorTokens",
    "nonSeparatorTokens",
}
_LIST_SETTINGS = {"displayedAttributes", "searchableAttributes", "rankingRules"} | _SET_SETTINGS
_DOC_ID = re.compile(r"^[A-Za-z0-9_-]{1,511}$")
_DOCS = "https://www.meilisearch.com/docs/reference/errors/error_codes#"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error(code: str, message: str, kind: str = "invalid_request") -> dict[str, str]:
    return {"message": message, "code": code, "type": kind, "link": _DOCS + code}


class TaskError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.body = error(code, message)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, kind: str = "invalid_request"):
        super().__init__(message)
        self.status = status
        self.body = error(code, message, kind)


class Index:
    def __init__(self, uid: str, primary_key: str | None) -> None:
        self.uid = uid
        self.primary_key = primary_key
        self.created_at = self.updated_at = _now()
        self.documents: dict[str, dict[str, Any]] = {}
        self.settings = copy.deepcopy(DEFAULT_SETTINGS)

    def info(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "primaryKey": self.primary_key,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


class State:
    """Indexes and tasks, guarded by one lock; a worker thread runs the tasks."""

    def __init__(self, master_key: str | None) -> None:
        self.master_key = master_key
        self.lock = threading.Lock()
        self.indexes: dict[str, Index] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.payloads: dict[int, Any] = {}
        self.queue: deque[int] = deque()
        self.wakeup = threading.Condition(self.lock)
        self.next_uid = 0
        self.task_delay = 0.0
        self.processing_index: str | None = None

    # -- tasks ------------------------------------------------------------------
    def enqueue(
        self, kind: str, index_uid: str | None, payload: Any, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        with self.lock:
            uid = self.next_uid
            self.next_uid += 1
            task = {
                "uid": uid,
                "batchUid": None,
                "indexUid": index_uid,
                "status": "enqueued",
                "type": kind,
                "canceledBy": None,
                "details": details or {},
                "error": None,
                "duration": None,
                "enqueuedAt": _now(),
                "startedAt": None,
                "finishedAt": None,
            }
            self.tasks[uid] = task
            self.payloads[uid] = payload
            self.queue.append(uid)
            self.wakeup.notify()
            return {
                "taskUid": uid,
                "indexUid": index_uid,
                "status": "enqueued",
                "type": kind,
                "enqueuedAt": task["enqueuedAt"],
            }

    def worker(self) -> None:
        while True:
            with self.lock:
                while not self.queue:
                    self.wakeup.wait()
                uid = self.queue.popleft()
                task = self.tasks[uid]
                task.update(status="processing", startedAt=_now(), batchUid=uid)
                self.processing_index = task["indexUid"]
                delay = self.task_delay
            started = time.monotonic()
            if delay:
                time.sleep(delay)
            with self.lock:
                try:
                    getattr(self, "_run_" + task["type"])(task, self.payloads.pop(uid))
                    task["status"] = "succeeded"
                except TaskError as exc:
                    task["status"] = "failed"
                    task["error"] = exc.body
                    if task["type"] == "documentAdditionOrUpdate":
                        task["details"]["indexedDocuments"] = 0
                task["finishedAt"] = _now()
                task["duration"] = f"PT{time.monotonic() - started:.6f}S"
                self.processing_index = None

    def _index(self, uid: str) -> Index:
        if uid not in self.indexes:
            raise TaskError("index_not_found", f"Index `{uid}` not found.")
        return self.indexes[uid]

    def _run_indexCreation(self, task: dict[str, Any], payload: Any) -> None:
        uid = task["indexUid"]
        if uid in self.indexes:
            raise TaskError("index_already_exists", f"Index `{uid}` already exists.")
        self.indexes[uid] = Index(uid, payload)

    def _run_indexDeletion(self, task: dict[str, Any], payload: Any) -> None:
        index = self._index(task["indexUid"])
        task["details"]["deletedDocuments"] = len(index.documents)
        del self.indexes[task["indexUid"]]

    def _run_indexSwap(self, task: dict[str, Any], payload: Any) -> None:
        for pair in payload:
            for uid in pair["indexes"]:
                self._index(uid)
        for pair in payload:  # all checked first: a swap task is atomic
            a, b = (self.indexes[uid] for uid in pair["indexes"])
            a.uid, b.uid = b.uid, a.uid
            self.indexes[a.uid], self.indexes[b.uid] = a, b
            a.updated_at = b.updated_at = _now()

    def _run_settingsUpdate(self, task: dict[str, Any], payload: Any) -> None:
        index = self.indexes.get(task["indexUid"]) or Index(task["indexUid"], None)
        self.indexes[index.uid] = index
        for key, value in payload.items():
            if value is None:
                value = copy.deepcopy(DEFAULT_SETTINGS[key])
            elif key in _SET_SETTINGS:
                value = sorted(set(value))
            index.settings[key] = value
        index.updated_at = _now()

    def _run_documentAdditionOrUpdate(self, task: dict[str, Any], payload: Any) -> None:
        documents, primary_key, replace = payload
        index = self.indexes.get(task["indexUid"])
        if (
            index is not None
            and primary_key
            and index.primary_key
            and (primary_key != index.primary_key)
        ):
            raise TaskError(
                "index_primary_key_already_exists",
                f"Index `{index.uid}`: primary key already exists.",
            )
        key = (index.primary_key if index else None) or primary_key or _infer_key(documents)
        keyed = []
        for doc in documents:
            if key not in doc:
                raise TaskError(
                    "missing_document_id",
                    f"Document doesn't have a `{key}` attribute: `{json.dumps(doc)}`.",
                )
            value = doc[key]
            if isinstance(value, bool) or not (
                (isinstance(value, int)) or (isinstance(value, str) and _DOC_ID.match(value))
            ):
                raise TaskError(
                    "invalid_document_id",
                    f"Document identifier `{json.dumps(value)}` is invalid. A document identifier "
                    "can be of type integer or string, only composed of alphanumeric characters "
                    "(a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than "
                    "511 bytes.",
                )
            keyed.append((str(value), doc))
        if index is None:
            index = self.indexes[task["indexUid"]] = Index(task["indexUid"], key)
        index.primary_key = key
        for doc_id, doc in keyed:
            if replace or doc_id not in index.documents:
                index.documents[doc_id] = doc
            else:
                index.documents[doc_id] = {**index.documents[doc_id], **doc}
        task["details"]["indexedDocuments"] = len(keyed)
        index.updated_at = _now()

    def _run_documentDeletion(self, task: dict[str, Any], payload: Any) -> None:
        index = self._index(task["indexUid"])
        ids = list(index.documents) if payload is None else [str(i) for i in payload]
        deleted = sum(index.documents.pop(i, None) is not None for i in ids)
        task["details"]["deletedDocuments"] = deleted
        index.updated_at = _now()


def _infer_key(documents: list[dict[str, Any]]) -> str:
    candidates = sorted({k for doc in documents[:1] for k in doc if k.lower().endswith("id")})
    if not candidates:
        raise TaskError(
            "index_primary_key_no_candidate_found",
            "The primary key inference failed as the engine did not find any "
            "field ending with `id` in its name. Please specify the primary key "
            "manually using the `primaryKey` query parameter.",
        )
    if len(candidates) > 1:
        raise TaskError(
            "index_primary_key_multiple_candidates_found",
            "The primary key inference failed as the engine found "
            f"{len(candidates)} fields ending with `id` in their names: "
            f"{', '.join(repr(c) for c in candidates)}. Please specify the "
            "primary key manually using the `primaryKey` query parameter.",
        )
    return candidates[0]


def _matches(doc: dict[str, Any], words: list[str], fields: list[str]) -> bool:
    values = doc.values() if fields == ["*"] else (doc.get(f) for f in fields)
    text = " ".join(
        " ".join(map(str, v)) if isinstance(v, list) else str(v) for v in values if v is not None
    ).lower()
    return all(w in text for w in words)


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (quiet)
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        self.raw = self.rfile.read(length) if length else b""
        path = [p for p in parts.path.split("/") if p]
        try:
            if path != ["health"]:
                self._authorize()
            status, body = self._route(method, path)
        except ApiError as exc:
            status, body = exc.status, exc.body
        self._send(status, body)

    def _authorize(self) -> None:
        key = self.server.state.master_key
        if not key:
            return
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header == "Bearer None":
            raise ApiError(
                401,
                "missing_authorization_header",
                "The Authorization header is missing. It must use the bearer authorization method.",
                "auth",
            )
        if header[len("Bearer ") :] != key:
            raise ApiError(403, "invalid_api_key", "The provided API key is invalid.", "auth")

    def _json(self) -> Any:
        try:
            return json.loads(self.raw or b"null")
        except ValueError as exc:
            raise ApiError(
                400, "malformed_payload", f"The json payload provided is malformed. `{exc}`."
            ) from None

    def _route(self, method: str, path: list[str]) -> tuple[int, Any]:
        state = self.server.state
        head = path[0] if path else ""
        if head == "health":
            return 200, {"status": "available"}
        if head == "version":
            return 200, {
                "commitSha": "test",
                "commitDate": "2025-01-01T00:00:00Z",
                "pkgVersion": VERSION,
            }
        if head == "_test" and method == "POST":
            state.task_delay = float(self._json().get("taskDelay", 0))
            return 200, {"taskDelay": state.task_delay}
        if head == "tasks":
            return self._tasks(path[1:])
        if head == "swap-indexes" and method == "POST":
            body = self._json()
            if not isinstance(body, list) or any(
                not isinstance(p, dict) or len(p.get("indexes", [])) != 2 for p in body
            ):
                raise ApiError(
                    400, "invalid_swap_indexes", "Each swap must name exactly two indexes."
                )
            return 202, state.enqueue("indexSwap", None, body, {"swaps": body})
        if head == "indexes":
            return self._indexes(method, path[1:])
        raise ApiError(404, "not_found", "Not found.")

    def _tasks(self, rest: list[str]) -> tuple[int, Any]:
        state = self.server.state
        with state.lock:
            if rest:
                task = state.tasks.get(int(rest[0])) if rest[0].isdigit() else None
                if task is None:
                    raise ApiError(404, "task_not_found", f"Task `{rest[0]}` not found.")
                return 200, copy.deepcopy(task)
            tasks = sorted(state.tasks.values(), key=lambda t: -t["uid"])
            for param, field in (
                ("uids", "uid"),
                ("statuses", "status"),
                ("indexUids", "indexUid"),
                ("types", "type"),
            ):
                if param in self.query:
                    wanted = set(self.query[param].split(","))
                    tasks = [t for t in tasks if str(t[field]) in wanted]
            if "from" in self.query:
                tasks = [t for t in tasks if t["uid"] <= int(self.query["from"])]
            limit = int(self.query.get("limit", 20))
            page = tasks[:limit]
            return 200, {
                "results": copy.deepcopy(page),
                "total": len(tasks),
                "limit": limit,
                "from": page[0]["uid"] if page else None,
                "next": tasks[limit]["uid"] if len(tasks) > limit else None,
            }

    def _indexes(self, method: str, rest: list[str]) -> tuple[int, Any]:
        state = self.server.state
        if not rest:
            if method == "POST":
                body = self._json() or {}
                if not body.get("uid"):
                    raise ApiError(400, "missing_index_uid", "Missing index uid.")
                return 202, state.enqueue(
                    "indexCreation",
                    body["uid"],
                    body.get("primaryKey"),
                    {"primaryKey": body.get("primaryKey")},
                )
            with state.lock:
                items = [i.info() for _, i in sorted(state.indexes.items())]
            offset, limit = int(self.query.get("offset", 0)), int(self.query.get("limit", 20))
            return 200, {
                "results": items[offset : offset + limit],
                "offset": offset,
                "limit": limit,
                "total": len(items),
            }
        uid, sub = rest[0], rest[1:]
        if not sub:
            if method == "DELETE":
                return 202, state.enqueue("indexDeletion", uid, None, {"deletedDocuments": 0})
            return 200, self._get_index(uid).info()
        if sub[0] == "documents":
            return self._documents(method, uid, sub[1:])
        if sub[0] == "settings":
            if method == "GET":
                return 200, copy.deepcopy(self._get_index(uid).settings)
            body = self._json() if method == "PATCH" else dict.fromkeys(DEFAULT_SETTINGS)
            self._validate_settings(body)
            return 202, state.enqueue("settingsUpdate", uid, body, body)
        if sub[0] == "stats":
            with state.lock:
                index = self._get_index(uid)
                distribution: dict[str, int] = {}
                for doc in index.documents.values():
                    for key in doc:
                        distribution[key] = distribution.get(key, 0) + 1
                return 200, {
                    "numberOfDocuments": len(index.documents),
                    "isIndexing": state.processing_index == uid,
                    "fieldDistribution": distribution,
                }
        if sub[0] == "search":
            body = self._json() or {} if method == "POST" else dict(self.query)
            return 200, self._search(uid, body)
        raise ApiError(404, "not_found", "Not found.")

    def _get_index(self, uid: str) -> Index:
        index = self.server.state.indexes.get(uid)
        if index is None:
            raise ApiError(404, "index_not_found", f"Index `{uid}` not found.")
        return index

    def _validate_settings(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "Settings must be a JSON object.")
        for key, value in body.items():
            if key not in DEFAULT_SETTINGS:
                raise ApiError(
                    400,
                    "bad_request",
                    f"Unknown field `{key}`: expected one of "
                    + ", ".join(f"`{k}`" for k in DEFAULT_SETTINGS),
                )
            if (
                key in _LIST_SETTINGS
                and value is not None
                and not (isinstance(value, list) and all(isinstance(v, str) for v in value))
            ):
                code = "invalid_settings_" + re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()
                raise ApiError(
                    400, code, f"Invalid value type at `.{key}`: expected an array of strings."
                )

    def _documents(self, method: str, uid: str, rest: list[str]) -> tuple[int, Any]:
        state = self.server.state
        if method in ("POST", "PUT") and not rest:
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type == "application/x-ndjson":
                try:
                    docs = [json.loads(line) for line in self.raw.splitlines() if line.strip()]
                except ValueError as exc:
                    raise ApiError(
                        400,
                        "malformed_payload",
                        f"The ndjson payload provided is malformed. `{exc}`.",
                    ) from None
            elif content_type == "application/json":
                docs = self._json()
                docs = [docs] if isinstance(docs, dict) else docs
            else:
                raise ApiError(
                    415,
                    "invalid_content_type",
                    f"The Content-Type `{content_type}` is invalid. Accepted values "
                    "for the Content-Type header are: `application/json`, "
                    "`application/x-ndjson`, `text/csv`",
                )
            if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
                raise ApiError(400, "malformed_payload", "The payload must be documents.")
            payload = (docs, self.query.get("primaryKey"), method == "POST")
            return 202, state.enqueue(
                "documentAdditionOrUpdate",
                uid,
                payload,
                {"receivedDocuments": len(docs), "indexedDocuments": None},
            )
        if method == "DELETE":
            ids = [rest[0]] if rest else None
            return 202, state.enqueue(
                "documentDeletion",
                uid,
                ids,
                {"providedIds": len(ids or []), "deletedDocuments": None},
            )
        if method == "POST" and rest == ["delete-batch"]:
            ids = self._json()
            return 202, state.enqueue(
                "documentDeletion", uid, ids, {"providedIds": len(ids), "deletedDocuments": None}
            )
        params = self._json() or {} if method == "POST" and rest == ["fetch"] else self.query
        with state.lock:
            index = self._get_index(uid)
            if rest and rest != ["fetch"]:
                if rest[0] not in index.documents:
                    raise ApiError(404, "document_not_found", f"Document `{rest[0]}` not found.")
                return 200, copy.deepcopy(index.documents[rest[0]])
            offset, limit = int(params.get("offset", 0)), int(params.get("limit", 20))
            docs = list(index.documents.values())
            return 200, {
                "results": copy.deepcopy(docs[offset : offset + limit]),
                "offset": offset,
                "limit": limit,
                "total": len(docs),
            }

    def _search(self, uid: str, body: dict[str, Any]) -> dict[str, Any]:
        state = self.server.state
        started = time.monotonic()
        query = str(body.get("q") or "")
        offset, limit = int(body.get("offset", 0)), int(body.get("limit", 20))
        retrieve = body.get("attributesToRetrieve") or ["*"]
        words = query.lower().split()
        with state.lock:
            index = self._get_index(uid)
            fields = index.settings["searchableAttributes"]
            hits = [d for d in index.documents.values() if not words or _matches(d, words, fields)]
            total = len(hits)
            # As Meilisearch: hits stop at maxTotalHits, the count does not.
            reachable = hits[: index.settings["pagination"]["maxTotalHits"]]
            page = reachable[offset : offset + limit]
            if retrieve != ["*"]:
                page = [{k: d[k] for k in retrieve if k in d} for d in page]
            page = copy.deepcopy(page)
        return {
            "hits": page,
            "query": query,
            "offset": offset,
            "limit": limit,
            "processingTimeMs": int((time.monotonic() - started) * 1000),
            "estimatedTotalHits": total,
        }


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, master_key: str | None) -> None:
        super().__init__((host, port), Handler)
        self.state = State(master_key)
        threading.Thread(target=self.state.worker, daemon=True, name="meili-tasks").start()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7700, help="0 picks a free port")
    parser.add_argument("--key", default=None, help="master key (default: no auth)")
    args = parser.parse_args(argv)
    server = Server(args.host, args.port, args.key)
    print(f"LISTENING {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    sys.exit(main())
