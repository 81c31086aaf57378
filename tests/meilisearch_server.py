"""A small Meilisearch-compatible HTTP server for the test suite (never shipped).

No Meilisearch binary can be installed on the machines this project runs on, so
the ``meilisearch`` test tier talks to this server unless
``DEPLOYKIT_TEST_MEILISEARCH_URL`` names a real one. It is strict where deploykit
depends on the real server's behaviour (``meilisearch/meilisearch`` v1.x is the
reference: routes, validation, error objects, settings as milli stores them, task
and batch semantics, swap), and answers 404 (unknown path) or 405 (known path,
other method) for what it does not implement, never a look-alike answer:

* auth: the master key, or API keys made with ``POST /keys`` whose ``actions`` and
  ``indexes`` are enforced (``missing_authorization_header`` 401,
  ``invalid_api_key`` 403, as the real server answers a key lacking an action); a
  key's value is HMAC-SHA256 of its uid (a UUID, written hyphenated in lower case) with
  the master key, a uid given twice is ``409 api_key_already_exists``, and a key whose
  ``indexes`` are not ``*`` sees only its indexes and the tasks of one of them (no
  ``indexSwap`` task); ``/health`` needs no key;
* payloads over ``--http-payload-size-limit`` (100 MB by default, as the real
  server) get ``413 payload_too_large``;
* asynchronous tasks run one at a time in enqueue order by a worker thread, each
  in a batch of its own (``/batches``): ``enqueued`` -> ``processing`` ->
  ``succeeded`` | ``failed`` (error object) | ``canceled``; ``DELETE /tasks`` and
  ``POST /tasks/cancel`` need filters;
* indexes (uids ``[A-Za-z0-9_-]``, at most 400 bytes; ``PATCH`` changes the primary
  key or renames; ``compact``), documents (JSON, NDJSON, CSV; add/replace, update,
  delete one, all or a batch; get, fetch), settings (all at once or per setting,
  stored normalised: sets sorted, stop words NFKD, typo-tolerance words lemmatised,
  nested objects merged field by field, ``null`` resets), stats, ``swap-indexes`` (atomic, with
  ``rename``), search (a case-insensitive match of the words over the searchable
  attributes, with the real ``matchingStrategy`` rules: ``last`` by default drops words
  from the end, quoted phrases are required; ``attributesToSearchOn``, ``page`` and
  ``hitsPerPage``, ``displayedAttributes`` honoured), keys, ``/version``,
  ``GET /webhooks`` (none); every task takes ``customMetadata``.

Not implemented (404/405, or 501 ``feature_not_implemented`` for a search or
settings option of an implemented route): filters, facets, sorting, highlighting,
ranking scores, multi-search, snapshots, dumps, embedders, experimental features,
document edition by function, chats, ``/fields``, webhooks other than listing.

Run it alone with ``python tests/meilisearch_server.py --port 7700 --key KEY``;
it prints ``LISTENING <port>`` once it accepts connections. ``POST /_test/config``
(``{"taskDelay": seconds, "httpPayloadSizeLimit": bytes}``) slows task processing
down or changes the payload limit; it is the only non-Meilisearch route and tests
use it only when they run against this server. ``benchmarks/meilisearch_fidelity.py``
measures this server with the official Python client's own test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import hashlib
import hmac
import io
import json
import re
import sys
import threading
import time
import unicodedata
import uuid
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

VERSION = "1.15.0"
DEFAULT_PAYLOAD_LIMIT = 100_000_000  # --http-payload-size-limit: 100 MB
INDEXING_LATENCY = 0.01  # seconds before a document task is processed
DEFAULT_RANKING_RULES = [
    "words",
    "typo",
    "proximity",
    "attributeRank",
    "sort",
    "wordPosition",
    "exactness",
]
DEFAULT_SETTINGS: dict[str, Any] = {
    "displayedAttributes": ["*"],
    "searchableAttributes": ["*"],
    "filterableAttributes": [],
    "sortableAttributes": [],
    "rankingRules": DEFAULT_RANKING_RULES,
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
        "disableOnNumbers": False,
    },
    "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
    "pagination": {"maxTotalHits": 1000},
    "embedders": {},
    "searchCutoffMs": None,
    "localizedAttributes": None,
    "facetSearch": True,
    "prefixSearch": "indexingTime",
}
# Settings updated with PATCH on their own route (merged); the others use PUT.
_PATCHED = {"typoTolerance", "faceting", "pagination", "embedders"}
_SORTED_SETS = {"sortableAttributes", "nonSeparatorTokens", "separatorTokens", "dictionary"}
_STRING_LISTS = {
    "displayedAttributes",
    "searchableAttributes",
    "rankingRules",
    "stopWords",
} | _SORTED_SETS
_BUILTIN_RULES = {"words", "typo", "proximity", "attribute", "attributeRank", "sort"}
_BUILTIN_RULES |= {"wordPosition", "exactness"}
_CUSTOM_RULE = re.compile(r"^[^:\s]+:(asc|desc)$")
_INDEX_UID = re.compile(r"^[A-Za-z0-9_-]+$")
_DOC_ID = re.compile(r"^[A-Za-z0-9_-]{1,511}$")
_LINK = "https://docs.meilisearch.com/errors#"
_TASK_FILTERS = (
    "`uids`, `indexUids`, `statuses`, `types`, `canceledBy`, `beforeEnqueuedAt`, "
    "`afterEnqueuedAt`, `beforeStartedAt`, `afterStartedAt`, `beforeFinishedAt`, "
    "`afterFinishedAt`"
)
# Which key action each route needs (the real server's `actions`).
ACTIONS = {
    "search",
    "documents.add",
    "documents.get",
    "documents.delete",
    "indexes.create",
    "indexes.get",
    "indexes.update",
    "indexes.delete",
    "indexes.swap",
    "indexes.compact",
    "tasks.cancel",
    "tasks.delete",
    "tasks.get",
    "settings.get",
    "settings.update",
    "stats.get",
    "dumps.create",
    "snapshots.create",
    "version",
    "keys.create",
    "keys.get",
    "keys.update",
    "keys.delete",
}
# The groups a key may name instead of each action (the real server's `.*` actions).
ACTION_GROUPS = {
    "documents.*",
    "indexes.*",
    "tasks.*",
    "settings.*",
    "stats.*",
    "metrics.*",
    "dumps.*",
    "snapshots.*",
}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def _kebab(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"-\1", camel).lower()


def error(code: str, message: str, kind: str = "invalid_request") -> dict[str, str]:
    return {"message": message, "code": code, "type": kind, "link": _LINK + code}


class TaskError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.body = error(code, message)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, kind: str = "invalid_request"):
        super().__init__(message)
        self.status = status
        self.body: Any = error(code, message, kind) if code else NO_BODY


NO_BODY = object()  # a 204, or a 404/405 from the router: no body at all


class NoRoute(ApiError):
    """404 (no such path) or 405 (no such method there), with an empty body as actix."""

    def __init__(self, status: int) -> None:
        super().__init__(status, "", "")


def _bad(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def _invalid_uid(uid: Any) -> str:
    return (
        f"`{uid}` is not a valid index uid. Index uid can be an integer or a string "
        "containing only alphanumeric characters, hyphens (-) and underscores (_), and "
        "can not be more than 512 bytes."
    )


def check_index_uid(uid: Any, code: str = "invalid_index_uid") -> str:
    if not isinstance(uid, str) or not _INDEX_UID.match(uid) or len(uid.encode()) > 400:
        raise _bad(code, f"Invalid value at `.uid`: {_invalid_uid(uid)}")
    return uid


# -- settings, stored as milli stores them ----------------------------------------------


def _nfkd(word: str) -> str:
    """charabia's non-lossy normalisation (stop words): compatibility decomposition,
    control characters removed; the case is kept."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Cc")


def _lemma(word: str) -> str:
    """charabia's lossy normalisation of a typo-tolerance word: lower-cased, no accents."""
    decomposed = _nfkd(word).lower()
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def _type_error(key: str, expected: str, value: Any) -> ApiError:
    kind = {
        str: "a string",
        bool: "a boolean",
        int: "a positive integer",
        list: "an array",
        dict: "an object",
    }.get(type(value), "null" if value is None else "a value")
    return _bad(
        "invalid_settings_" + _snake(key.split(".")[0]),
        f"Invalid value type at `.{key}`: expected {expected}, but found {kind}: "
        f"`{json.dumps(value)}`",
    )


def _string_list(key: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise _type_error(key, "an array", value)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _type_error(f"{key}[{i}]", "a string", item)
    return value


def _uint(key: str, value: Any, *, positive: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
        raise _type_error(key, "a positive integer", value)
    return value


def _object(key: str, value: Any, fields: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _type_error(key, "an object", value)
    for name in value:
        if name not in fields:
            raise _bad(
                "invalid_settings_" + _snake(key.split(".")[0]),
                f"Unknown field `{name}` inside `.{key}`: expected one of "
                + ", ".join(f"`{f}`" for f in fields),
            )
    return value


def validate_setting(key: str, value: Any) -> Any:
    """The value as the real server accepts it (ApiError 400 otherwise); None resets."""
    if value is None:
        return None
    if key in _STRING_LISTS:
        value = _string_list(key, value)
        if key == "rankingRules":
            for rule in value:
                if rule not in _BUILTIN_RULES and not _CUSTOM_RULE.match(rule):
                    raise _bad(
                        "invalid_settings_ranking_rules",
                        f"Invalid value at `.rankingRules[{value.index(rule)}]`: `{rule}` "
                        "ranking rule is invalid. Valid ranking rules are words, typo, sort, "
                        "proximity, attribute, exactness and custom ranking rules.",
                    )
        return value
    if key == "filterableAttributes":
        if not isinstance(value, list) or not all(isinstance(v, (str, dict)) for v in value):
            raise _type_error(key, "an array", value)
        return value
    if key == "synonyms":
        if not isinstance(value, dict):
            raise _type_error(key, "an object", value)
        for word, synonyms in value.items():
            _string_list(f"synonyms.{word}", synonyms)
        return value
    if key == "distinctAttribute":
        if not isinstance(value, str):
            raise _type_error(key, "a string", value)
        return value
    if key == "proximityPrecision":
        if value not in ("byWord", "byAttribute"):
            raise _bad(
                "invalid_settings_proximity_precision",
                f"Unknown value `{value}` at `.proximityPrecision`: expected one of "
                "`byWord`, `byAttribute`",
            )
        return value
    if key == "typoTolerance":
        fields = DEFAULT_SETTINGS["typoTolerance"]
        _object(key, value, fields)
        for name in ("enabled", "disableOnNumbers"):
            if name in value and not isinstance(value[name], (bool, type(None))):
                raise _type_error(f"{key}.{name}", "a boolean", value[name])
        for name in ("disableOnWords", "disableOnAttributes"):
            if value.get(name) is not None:
                _string_list(f"{key}.{name}", value[name])
        sizes = value.get("minWordSizeForTypos")
        if sizes is not None:
            _object(f"{key}.minWordSizeForTypos", sizes, fields["minWordSizeForTypos"])
            for name in ("oneTypo", "twoTypos"):
                if sizes.get(name) is not None:
                    _uint(f"{key}.minWordSizeForTypos.{name}", sizes[name])
            one, two = sizes.get("oneTypo"), sizes.get("twoTypos")
            if one is not None and two is not None and one > two:
                raise _bad(
                    "invalid_settings_typo_tolerance",
                    "`minWordSizeForTypos` setting is invalid. `oneTypo` and `twoTypos` "
                    "fields should be between `0` and `255`, and `twoTypos` should be "
                    "greater or equals to `oneTypo` but found `oneTypo: "
                    f"{one}` and twoTypos: {two}`.",
                )
        return value
    if key == "faceting":
        _object(key, value, DEFAULT_SETTINGS["faceting"])
        if value.get("maxValuesPerFacet") is not None:
            _uint(f"{key}.maxValuesPerFacet", value["maxValuesPerFacet"])
        order = value.get("sortFacetValuesBy")
        valid = isinstance(order, dict) and all(v in ("alpha", "count") for v in order.values())
        if order is not None and not valid:
            raise _type_error(f"{key}.sortFacetValuesBy", "an object", order)
        return value
    if key == "pagination":
        _object(key, value, DEFAULT_SETTINGS["pagination"])
        if value.get("maxTotalHits") is not None:
            _uint(f"{key}.maxTotalHits", value["maxTotalHits"], positive=True)
        return value
    if key == "searchCutoffMs":
        return _uint(key, value)
    if key in ("facetSearch",):
        if not isinstance(value, bool):
            raise _type_error(key, "a boolean", value)
        return value
    if key == "prefixSearch":
        if value not in ("indexingTime", "disabled"):
            raise _bad(
                "invalid_settings_prefix_search",
                f"Unknown value `{value}` at `.prefixSearch`: expected one of "
                "`indexingTime`, `disabled`",
            )
        return value
    if key == "localizedAttributes":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise _type_error(key, "an array", value)
        return value
    if key == "embedders":
        if value:
            raise ApiError(
                501, "feature_not_implemented", "This test server implements no embedders."
            )
        return value
    raise AssertionError(key)


def _merge(current: dict[str, Any], update: dict[str, Any], default: dict[str, Any]) -> None:
    for name, value in update.items():
        if value is None:
            current[name] = copy.deepcopy(default[name])
        elif isinstance(default[name], dict) and name != "sortFacetValuesBy":
            _merge(current[name], value, default[name])
        else:
            current[name] = copy.deepcopy(value)


def store_setting(settings: dict[str, Any], key: str, value: Any) -> None:
    """Apply one validated setting the way milli stores it."""
    default = DEFAULT_SETTINGS[key]
    if value is None:
        settings[key] = copy.deepcopy(default)
    elif key in ("displayedAttributes", "searchableAttributes"):
        settings[key] = ["*"] if "*" in value else list(dict.fromkeys(value))
    elif key == "stopWords":
        settings[key] = sorted({_nfkd(w) for w in value})
    elif key in _SORTED_SETS:
        settings[key] = sorted(set(value))
    elif key == "filterableAttributes":
        settings[key] = list(value)
    elif key in ("typoTolerance", "pagination"):
        merged = copy.deepcopy(settings[key])
        _merge(merged, value, default)
        if key == "typoTolerance":
            sizes = merged["minWordSizeForTypos"]
            if sizes["oneTypo"] > sizes["twoTypos"]:
                raise TaskError(
                    "invalid_settings_typo_tolerance",
                    "`minWordSizeForTypos` setting is invalid. `oneTypo` and `twoTypos` "
                    "fields should be between `0` and `255`, and `twoTypos` should be "
                    "greater or equals to `oneTypo`.",
                )
            merged["disableOnWords"] = sorted({_lemma(w) for w in merged["disableOnWords"]})
            merged["disableOnAttributes"] = sorted(set(merged["disableOnAttributes"]))
        settings[key] = merged
    elif key == "faceting":
        merged = copy.deepcopy(settings[key])
        if value.get("maxValuesPerFacet") is not None:
            merged["maxValuesPerFacet"] = value["maxValuesPerFacet"]
        elif "maxValuesPerFacet" in value:
            merged["maxValuesPerFacet"] = default["maxValuesPerFacet"]
        if "sortFacetValuesBy" in value:
            order = value["sortFacetValuesBy"] or {}
            merged["sortFacetValuesBy"] = dict(sorted({"*": "alpha", **order}.items()))
        settings[key] = merged
    else:
        settings[key] = copy.deepcopy(value)


# -- state --------------------------------------------------------------------------------


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
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "primaryKey": self.primary_key,
        }


class State:
    """Indexes, tasks, batches and keys, guarded by one lock; a worker runs the tasks."""

    def __init__(self, master_key: str | None, payload_limit: int) -> None:
        self.master_key = master_key
        self.payload_limit = payload_limit
        self.lock = threading.Lock()
        self.indexes: dict[str, Index] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.batches: dict[int, dict[str, Any]] = {}
        self.keys: dict[str, dict[str, Any]] = {}
        self.payloads: dict[int, Any] = {}
        self.queue: deque[int] = deque()
        self.wakeup = threading.Condition(self.lock)
        self.next_uid = 0
        self.next_batch = 0
        self.task_delay = 0.0
        self.processing_index: str | None = None

    # -- tasks ------------------------------------------------------------------
    def enqueue(
        self,
        kind: str,
        index_uid: str | None,
        payload: Any,
        details: dict[str, Any] | None = None,
        metadata: str | None = None,
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
                "customMetadata": metadata,
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
                first = self.tasks.get(self.queue[0]) or {}
                indexing = first.get("type") == "documentAdditionOrUpdate"
            if indexing:
                # Real indexing is never instant: a client asking at once sees the
                # task enqueued or processing, not finished.
                time.sleep(INDEXING_LATENCY)
            with self.lock:
                uid = self.queue.popleft()
                task = self.tasks.get(uid)
                if task is None or task["status"] != "enqueued":
                    continue  # canceled, or deleted meanwhile
                batch_uid = self.next_batch
                self.next_batch += 1
                started_at = _now()
                task.update(status="processing", startedAt=started_at, batchUid=batch_uid)
                self.batches[batch_uid] = {
                    "uid": batch_uid,
                    "progress": None,
                    "details": {},
                    "stats": {
                        "totalNbTasks": 1,
                        "status": {"processing": 1},
                        "types": {task["type"]: 1},
                        "indexUids": {task["indexUid"]: 1} if task["indexUid"] else {},
                    },
                    "duration": None,
                    "startedAt": started_at,
                    "finishedAt": None,
                }
                self.processing_index = task["indexUid"]
                delay = self.task_delay
            started = time.monotonic()
            if delay:
                time.sleep(delay)
            with self.lock:
                try:
                    getattr(self, "_run_" + task["type"])(task, self.payloads.pop(uid, None))
                    task["status"] = "succeeded"
                except TaskError as exc:
                    task["status"] = "failed"
                    task["error"] = exc.body
                    if task["type"] == "documentAdditionOrUpdate":
                        task["details"]["indexedDocuments"] = 0
                    if task["type"] == "documentDeletion":
                        task["details"]["deletedDocuments"] = 0
                task["finishedAt"] = _now()
                task["duration"] = f"PT{time.monotonic() - started:.6f}S"
                batch = self.batches[batch_uid]
                batch["stats"]["status"] = {task["status"]: 1}
                batch["details"] = copy.deepcopy(task["details"])
                batch["duration"], batch["finishedAt"] = task["duration"], task["finishedAt"]
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

    def _run_indexUpdate(self, task: dict[str, Any], payload: Any) -> None:
        index = self._index(task["indexUid"])
        primary_key, new_uid = payload
        if new_uid and new_uid != index.uid and new_uid in self.indexes:
            raise TaskError("index_already_exists", f"Index `{new_uid}` already exists.")
        if primary_key is not None:
            if index.documents and index.primary_key and primary_key != index.primary_key:
                raise TaskError(
                    "index_primary_key_already_exists",
                    f"Index `{index.uid}`: Index already has a primary key: `{index.primary_key}`.",
                )
            index.primary_key = primary_key
        if new_uid:
            del self.indexes[index.uid]
            index.uid = new_uid
            self.indexes[new_uid] = index
        index.updated_at = _now()

    def _run_indexCompaction(self, task: dict[str, Any], payload: Any) -> None:
        self._index(task["indexUid"])  # nothing to compact in memory

    def _run_indexDeletion(self, task: dict[str, Any], payload: Any) -> None:
        index = self._index(task["indexUid"])
        task["details"]["deletedDocuments"] = len(index.documents)
        del self.indexes[task["indexUid"]]

    def _run_indexSwap(self, task: dict[str, Any], payload: Any) -> None:
        missing = [
            uid
            for pair in payload
            for uid in (pair["indexes"][:1] if pair.get("rename") else pair["indexes"])
            if uid not in self.indexes
        ]
        if missing:
            raise TaskError(
                "index_not_found",
                f"Indexes {', '.join(f'`{u}`' for u in missing)} not found.",
            )
        taken = [
            p["indexes"][1] for p in payload if p.get("rename") and p["indexes"][1] in self.indexes
        ]
        if taken:
            raise TaskError(
                "index_already_exists",
                f"Cannot rename {', '.join(f'`{u}`' for u in taken)}: the index already exists.",
            )
        for pair in payload:  # all checked first: a swap task is atomic
            if pair.get("rename"):  # "rename": true renames the first index to the second
                old, new = pair["indexes"]
                index = self.indexes.pop(old)
                index.uid, index.updated_at = new, _now()
                self.indexes[new] = index
                continue
            a, b = (self.indexes[uid] for uid in pair["indexes"])
            a.uid, b.uid = b.uid, a.uid
            self.indexes[a.uid], self.indexes[b.uid] = a, b
            a.updated_at = b.updated_at = _now()

    def _run_settingsUpdate(self, task: dict[str, Any], payload: Any) -> None:
        index = self.indexes.get(task["indexUid"]) or Index(task["indexUid"], None)
        settings = copy.deepcopy(index.settings)
        for key, value in payload.items():
            store_setting(settings, key, value)
        self.indexes[index.uid] = index
        index.settings = settings
        index.updated_at = _now()

    def _run_documentAdditionOrUpdate(self, task: dict[str, Any], payload: Any) -> None:
        documents, primary_key, replace, skip_creation = payload
        index = self.indexes.get(task["indexUid"])
        if (
            index is not None
            and primary_key
            and index.primary_key
            and (primary_key != index.primary_key)
        ):
            raise TaskError(
                "index_primary_key_already_exists",
                f"Index `{index.uid}`: Index already has a primary key: `{index.primary_key}`.",
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
        if skip_creation:  # only documents that already exist are replaced or updated
            keyed = [(doc_id, doc) for doc_id, doc in keyed if doc_id in index.documents]
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

    def _run_taskDeletion(self, task: dict[str, Any], payload: Any) -> None:
        uids = [
            u
            for u in payload
            if u in self.tasks
            and self.tasks[u]["status"]
            not in (
                "enqueued",
                "processing",
            )
        ]
        for uid in uids:
            del self.tasks[uid]
        # A batch goes with the last of its tasks (the deletion's own batch stays).
        alive = {t["batchUid"] for t in self.tasks.values()} | {task["batchUid"]}
        for batch_uid in [b for b in self.batches if b not in alive]:
            del self.batches[batch_uid]
        task["details"]["deletedTasks"] = len(uids)

    def _run_taskCancelation(self, task: dict[str, Any], payload: Any) -> None:
        canceled = 0
        for uid in payload:
            target = self.tasks.get(uid)
            if target is not None and target["status"] == "enqueued":
                target.update(status="canceled", canceledBy=task["uid"], finishedAt=_now())
                canceled += 1
        task["details"]["canceledTasks"] = canceled


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


def _text(doc: dict[str, Any], fields: list[str]) -> str:
    values = doc.values() if fields == ["*"] else (doc.get(f) for f in fields)
    return " ".join(
        " ".join(map(str, v)) if isinstance(v, list) else str(v) for v in values if v is not None
    ).lower()


def _terms(query: str) -> tuple[list[str], list[str]]:
    """(words, "quoted phrases") of a query; a phrase is matched as a whole."""
    parts = query.lower().split('"')
    words = [w for part in parts[::2] for w in part.split()]
    return words, [p.strip() for p in parts[1::2] if p.strip()]


def _ranked(docs: list[dict[str, Any]], query: str, fields: list[str], strategy: str):
    """Documents matching the query. Phrases are required; with "last" (the default),
    when fewer documents match every word, those matching the first n-1, n-2... words
    follow, as Meilisearch drops words from the end."""
    words, phrases = _terms(query)
    if not words and not phrases:
        return list(docs)
    texts = [(doc, _text(doc, fields)) for doc in docs]
    texts = [(d, t) for d, t in texts if all(p in t for p in phrases)]
    least = len(words) if strategy == "all" or not words else (0 if phrases else 1)
    seen: set[int] = set()
    hits = []
    for n in range(len(words), least - 1, -1):
        for doc, text in texts:
            if id(doc) not in seen and all(w in text for w in words[:n]):
                seen.add(id(doc))
                hits.append(doc)
    return hits


def _index_allowed(patterns: list[str], uid: str) -> bool:
    return any(
        p == "*" or p == uid or (p.endswith("*") and uid.startswith(p[:-1])) for p in patterns
    )


def _key_allows(key: dict[str, Any], action: str, index_uids: list[str]) -> bool:
    if key["expiresAt"] and key["expiresAt"] < _now():
        return False
    actions = set(key["actions"])
    group = action.split(".")[0] + ".*"
    if not ({"*", action, group} & actions):
        return False
    return all(_index_allowed(key["indexes"], uid) for uid in index_uids)


def _task_visible(key: dict[str, Any] | None, task: dict[str, Any]) -> bool:
    """What the real server shows a key (index-scheduler
    ``get_task_ids_from_authorized_indexes``): with a finite index list, only the tasks
    of one authorized index; tasks of no single index (``indexSwap``, cancelations,
    deletions, dumps, snapshots) are hidden, even when the key could start them."""
    if key is None or "*" in key["indexes"]:
        return True
    return task["indexUid"] is not None and _index_allowed(key["indexes"], task["indexUid"])


def _int_param(params: dict[str, Any], name: str, default: int, code: str) -> int:
    value = params.get(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or isinstance(value, bool):
        raise _bad(
            code,
            f"Invalid value in parameter `{name}`: could not parse `{value}` as a positive integer",
        )
    return number


class Handler(BaseHTTPRequestHandler):
    #: The API key of the request being served; None for the master key.
    api_key: dict[str, Any] | None = None
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

    def _send(self, status: int, body: Any, close: bool = False) -> None:
        data = b"" if body is NO_BODY else json.dumps(body).encode()
        self.send_response(status)
        if body is not NO_BODY:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        self.query = {k: v[-1] for k, v in query.items()}
        self.raw_query = parts.query
        length = int(self.headers.get("Content-Length") or 0)
        state = self.server.state
        path = [unquote(p) for p in parts.path.split("/") if p]
        if length > state.payload_limit:
            remaining = length  # read it all, as the real server does, then refuse
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            limit = state.payload_limit
            size = f"{limit / 1_000_000:g} MB" if limit >= 1_000_000 else f"{limit} B"
            self._send(
                413,
                error(
                    "payload_too_large",
                    "The provided payload reached the size limit. The maximum accepted "
                    f"payload size is {size}.",
                ),
                close=True,
            )
            return
        self.raw = self.rfile.read(length) if length else b""
        try:
            status, body = self._route(method, path)
        except ApiError as exc:
            status, body = exc.status, exc.body
        self._send(status, body)

    def _enqueue(self, *args: Any) -> dict[str, Any]:
        """Enqueue a task, with the request's ``customMetadata`` query parameter."""
        return self.server.state.enqueue(*args, metadata=self.query.get("customMetadata"))

    # -- auth ---------------------------------------------------------------------
    def _authorize(self, action: str | None, index_uids: list[str] | None = None) -> None:
        state = self.server.state
        self.api_key = None  # the master key (or no auth); a connection serves many requests
        if not state.master_key:
            return
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header == "Bearer None":
            raise ApiError(
                401,
                "missing_authorization_header",
                "The Authorization header is missing. It must use the bearer authorization method.",
                "auth",
            )
        token = header[len("Bearer ") :]
        if token == state.master_key:
            return
        with state.lock:
            key = next((k for k in state.keys.values() if k["key"] == token), None)
        if key is None or (action and not _key_allows(key, action, index_uids or [])):
            raise ApiError(403, "invalid_api_key", "The provided API key is invalid.", "auth")
        self.api_key = key

    def _json(self, required: bool = True) -> Any:
        if not self.raw:
            if required:
                raise _bad("missing_payload", "A json payload is missing.")
            return None
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type != "application/json":
            raise ApiError(
                415,
                "invalid_content_type",
                f"The Content-Type `{content_type}` is invalid. Accepted values for the "
                "Content-Type header are: `application/json`",
            )
        try:
            return json.loads(self.raw)
        except ValueError as exc:
            raise _bad(
                "malformed_payload", f"The json payload provided is malformed. `{exc}`."
            ) from None

    # -- routing ------------------------------------------------------------------
    def _route(self, method: str, path: list[str]) -> tuple[int, Any]:
        routes: dict[str, Any]
        head, rest = (path[0], path[1:]) if path else ("", [])
        if head == "health" and not rest:
            routes = {"GET": lambda: (200, {"status": "available"})}
        elif head == "version" and not rest:
            routes = {"GET": self._version}
        elif head == "_test" and rest == ["config"]:
            routes = {"POST": self._test_config}
        elif head == "tasks":
            routes = self._task_routes(rest)
        elif head == "batches" and len(rest) <= 1:
            routes = {"GET": lambda: self._batches(rest)}
        elif head == "swap-indexes" and not rest:
            routes = {"POST": self._swap}
        elif head == "keys" and len(rest) <= 1:
            routes = self._key_routes(rest)
        elif head == "webhooks" and not rest:
            routes = {"GET": self._webhooks}
        elif head == "indexes":
            routes = self._index_routes(rest)
        else:
            routes = {}
        if not routes:
            raise NoRoute(404)
        if method not in routes:
            raise NoRoute(405)
        if head != "health":
            self._authorize(None)  # who is asking first; each handler checks its action
        return routes[method]()

    def _version(self) -> tuple[int, Any]:
        self._authorize("version")
        return 200, {
            "commitSha": "test",
            "commitDate": "2025-01-01T00:00:00Z",
            "pkgVersion": VERSION,
        }

    def _test_config(self) -> tuple[int, Any]:
        self._authorize("*")
        state = self.server.state
        body = self._json()
        if "taskDelay" in body:
            state.task_delay = float(body["taskDelay"] or 0)
        if "httpPayloadSizeLimit" in body:
            state.payload_limit = int(body["httpPayloadSizeLimit"] or DEFAULT_PAYLOAD_LIMIT)
        return 200, {"taskDelay": state.task_delay, "httpPayloadSizeLimit": state.payload_limit}

    def _webhooks(self) -> tuple[int, Any]:
        self._authorize("*")
        return 200, {"results": []}

    # -- tasks and batches --------------------------------------------------------
    def _task_routes(self, rest: list[str]) -> dict[str, Any]:
        if not rest:
            return {"GET": self._list_tasks, "DELETE": lambda: self._filtered_task("taskDeletion")}
        if rest == ["cancel"]:
            return {"POST": lambda: self._filtered_task("taskCancelation")}
        if len(rest) == 1:
            return {"GET": lambda: self._get_task(rest[0])}
        return {}

    def _get_task(self, raw_uid: str) -> tuple[int, Any]:
        self._authorize("tasks.get")
        state = self.server.state
        if not raw_uid.isdigit():
            raise _bad(
                "invalid_task_uids",
                f"Invalid value in parameter `taskUid`: could not parse `{raw_uid}` as a "
                "positive integer",
            )
        with state.lock:
            task = state.tasks.get(int(raw_uid))
            if task is None or not _task_visible(self.api_key, task):
                raise ApiError(404, "task_not_found", f"Task `{raw_uid}` not found.")
            return 200, copy.deepcopy(task)

    def _matching_tasks(self) -> list[dict[str, Any]]:
        tasks = sorted(self.server.state.tasks.values(), key=lambda t: -t["uid"])
        tasks = [t for t in tasks if _task_visible(self.api_key, t)]
        for param, field in (
            ("uids", "uid"),
            ("statuses", "status"),
            ("indexUids", "indexUid"),
            ("types", "type"),
            ("canceledBy", "canceledBy"),
            ("batchUids", "batchUid"),
        ):
            if param in self.query and self.query[param] != "*":
                wanted = set(self.query[param].split(","))
                tasks = [t for t in tasks if str(t[field]) in wanted]
        for param, field, before in (
            ("beforeEnqueuedAt", "enqueuedAt", True),
            ("afterEnqueuedAt", "enqueuedAt", False),
            ("beforeStartedAt", "startedAt", True),
            ("afterStartedAt", "startedAt", False),
            ("beforeFinishedAt", "finishedAt", True),
            ("afterFinishedAt", "finishedAt", False),
        ):
            if param in self.query:
                bound = self.query[param]
                tasks = [
                    t
                    for t in tasks
                    if t[field] is not None
                    and ((t[field] < bound) if before else (t[field] > bound))
                ]
        return tasks

    def _list_tasks(self) -> tuple[int, Any]:
        self._authorize("tasks.get")
        state = self.server.state
        with state.lock:
            tasks = self._matching_tasks()
            reverse = self.query.get("reverse") == "true"
            if reverse:
                tasks.reverse()
            if "from" in self.query:
                start = _int_param(self.query, "from", 0, "invalid_task_from")
                tasks = [t for t in tasks if (t["uid"] >= start if reverse else t["uid"] <= start)]
            limit = _int_param(self.query, "limit", 20, "invalid_task_limit")
            total = len(self._matching_tasks())
            page = tasks[:limit]
            return 200, {
                "results": copy.deepcopy(page),
                "total": total,
                "limit": limit,
                "from": page[0]["uid"] if page else None,
                "next": tasks[limit]["uid"] if len(tasks) > limit else None,
            }

    def _filtered_task(self, kind: str) -> tuple[int, Any]:
        self._authorize("tasks.delete" if kind == "taskDeletion" else "tasks.cancel")
        state = self.server.state
        if not self.query:
            what = "delete" if kind == "taskDeletion" else "cancel"
            raise _bad(
                "missing_task_filters",
                f"Query parameters to filter the tasks to {what} are missing. Available "
                f"query parameters are: {_TASK_FILTERS}.",
            )
        with state.lock:
            uids = [t["uid"] for t in self._matching_tasks()]
        query = self.raw_query  # as sent, still URL-encoded, as the real server keeps it
        counts = "deletedTasks" if kind == "taskDeletion" else "canceledTasks"
        return 202, self._enqueue(
            kind,
            None,
            uids,
            {"matchedTasks": len(uids), counts: None, "originalFilter": "?" + query},
        )

    def _batches(self, rest: list[str]) -> tuple[int, Any]:
        self._authorize("tasks.get")
        state = self.server.state
        with state.lock:
            if rest:
                batch = state.batches.get(int(rest[0])) if rest[0].isdigit() else None
                if batch is None:
                    raise ApiError(404, "batch_not_found", f"Batch `{rest[0]}` not found.")
                return 200, copy.deepcopy(batch)
            reverse = self.query.get("reverse") == "true"
            batches = sorted(state.batches.values(), key=lambda b: b["uid"], reverse=not reverse)
            if "from" in self.query:
                start = _int_param(self.query, "from", 0, "invalid_batch_from")
                batches = [
                    b for b in batches if (b["uid"] >= start if reverse else b["uid"] <= start)
                ]
            limit = _int_param(self.query, "limit", 20, "invalid_task_limit")
            page = batches[:limit]
            return 200, {
                "results": copy.deepcopy(page),
                "total": len(batches),
                "limit": limit,
                "from": page[0]["uid"] if page else None,
                "next": batches[limit]["uid"] if len(batches) > limit else None,
            }

    # -- swap -----------------------------------------------------------------------
    def _swap(self) -> tuple[int, Any]:
        body = self._json()
        if not isinstance(body, list):
            raise _bad("bad_request", "Invalid value type: expected an array, but found an object")
        for i, pair in enumerate(body):
            if not isinstance(pair, dict) or not isinstance(pair.get("indexes"), list):
                raise _bad("invalid_swap_indexes", f"Missing field `indexes` inside `[{i}]`")
            for uid in pair["indexes"]:
                check_index_uid(uid, "invalid_swap_indexes")
            if len(pair["indexes"]) != 2:
                listed = ", ".join(f'"{u}"' for u in pair["indexes"])
                raise _bad(
                    "invalid_swap_indexes",
                    f"Two indexes must be given for each swap. The list `[{listed}]` contains "
                    f"{len(pair['indexes'])} indexes.",
                )
        uids = [uid for pair in body for uid in pair["indexes"]]
        self._authorize("indexes.swap", uids)
        duplicates = sorted({u for u in uids if uids.count(u) > 1})
        if duplicates:
            raise _bad(
                "invalid_swap_duplicate_index_found",
                f"Indexes must be declared only once during a swap. "
                f"{', '.join(f'`{u}`' for u in duplicates)} was specified several times.",
            )
        for i, pair in enumerate(body):
            if not isinstance(pair.get("rename", False), bool):
                raise _bad(
                    "invalid_swap_rename",
                    f"Invalid value type at `[{i}].rename`: expected a boolean",
                )
        swaps = [{"indexes": pair["indexes"], "rename": pair.get("rename", False)} for pair in body]
        return 202, self._enqueue("indexSwap", None, body, {"swaps": swaps})

    # -- keys -----------------------------------------------------------------------
    def _key_routes(self, rest: list[str]) -> dict[str, Any]:
        if not rest:
            return {"GET": self._list_keys, "POST": self._create_key}
        return {
            "GET": lambda: (200, self._find_key(rest[0], "keys.get")),
            "PATCH": lambda: self._update_key(rest[0]),
            "DELETE": lambda: self._delete_key(rest[0]),
        }

    def _create_key(self) -> tuple[int, Any]:
        self._authorize("keys.create")
        state = self.server.state
        body = self._json()
        if not isinstance(body, dict):
            raise _bad("bad_request", "Invalid value type: expected an object")
        for name in ("actions", "indexes", "expiresAt"):
            if name not in body:
                raise _bad(f"missing_api_key_{_snake(name)}", f"Missing field `{name}`")
        actions = body["actions"]
        if not isinstance(actions, list) or any(
            a != "*" and a not in ACTIONS and a not in ACTION_GROUPS for a in actions
        ):
            raise _bad("invalid_api_key_actions", f"Unknown value in `.actions`: `{actions}`")
        indexes = body["indexes"]
        if not isinstance(indexes, list) or not all(isinstance(i, str) for i in indexes):
            raise _bad("invalid_api_key_indexes", f"Invalid value at `.indexes`: `{indexes}`")
        # The real server parses the uid as a UUID (any of its spellings) and derives the
        # key from it written hyphenated in lower case (meilisearch-auth
        # generate_key_as_hexa): HMAC-SHA256 keyed with the master key, in hex.
        raw_uid = body.get("uid", None)
        try:
            key_uid = str(uuid.UUID(raw_uid)) if raw_uid is not None else str(uuid.uuid4())
        except (ValueError, TypeError, AttributeError):
            raise _bad(
                "invalid_api_key_uid", f"Invalid value at `.uid`: `{raw_uid}` is not a UUID"
            ) from None
        with state.lock:
            if key_uid in state.keys:
                raise ApiError(
                    409,
                    "api_key_already_exists",
                    f"`uid` field value `{key_uid}` is already an existing API key.",
                )
        secret = hmac.new(
            (state.master_key or "").encode(), key_uid.encode(), hashlib.sha256
        ).hexdigest()
        now = _now()
        key = {
            "name": body.get("name"),
            "description": body.get("description"),
            "key": secret,
            "uid": key_uid,
            "actions": actions,
            "indexes": indexes,
            "expiresAt": body["expiresAt"],
            "createdAt": now,
            "updatedAt": now,
        }
        with state.lock:
            state.keys[key_uid] = key
        return 201, copy.deepcopy(key)

    def _find_key(self, ref: str, action: str) -> dict[str, Any]:
        self._authorize(action)
        with contextlib.suppress(ValueError):
            ref = str(uuid.UUID(ref))  # a uid in any spelling, as the real server parses it
        with self.server.state.lock:
            for key in self.server.state.keys.values():
                if ref in (key["uid"], key["key"]):
                    return copy.deepcopy(key)
        raise ApiError(404, "api_key_not_found", f"API key `{ref}` not found.")

    def _list_keys(self) -> tuple[int, Any]:
        self._authorize("keys.get")
        with self.server.state.lock:
            keys = [copy.deepcopy(k) for k in self.server.state.keys.values()]
        offset = _int_param(self.query, "offset", 0, "invalid_api_key_offset")
        limit = _int_param(self.query, "limit", 20, "invalid_api_key_limit")
        return 200, {
            "results": keys[offset : offset + limit],
            "offset": offset,
            "limit": limit,
            "total": len(keys),
        }

    def _update_key(self, ref: str) -> tuple[int, Any]:
        key = self._find_key(ref, "keys.update")
        body = self._json()
        for name, value in body.items():
            if name not in ("name", "description"):
                raise _bad(
                    f"immutable_api_key_{_snake(name)}",
                    f"Immutable field `{name}`: expected one of `description`, `name`",
                )
            key[name] = value
        key["updatedAt"] = _now()
        with self.server.state.lock:
            self.server.state.keys[key["uid"]] = key
        return 200, copy.deepcopy(key)

    def _delete_key(self, ref: str) -> tuple[int, Any]:
        key = self._find_key(ref, "keys.delete")
        with self.server.state.lock:
            del self.server.state.keys[key["uid"]]
        return 204, NO_BODY

    # -- indexes --------------------------------------------------------------------
    def _index_routes(self, rest: list[str]) -> dict[str, Any]:
        if not rest:
            return {"GET": self._list_indexes, "POST": self._create_index}
        uid, sub = rest[0], rest[1:]
        if not sub:
            return {
                "GET": lambda: self._show_index(uid),
                "PATCH": lambda: self._update_index(uid),
                "DELETE": lambda: self._delete_index(uid),
            }
        if sub[0] == "documents":
            return self._document_routes(uid, sub[1:])
        if sub[0] == "settings" and len(sub) <= 2:
            return self._settings_routes(uid, sub[1:])
        if sub == ["compact"]:
            return {"POST": lambda: self._compact(uid)}
        if sub == ["stats"]:
            return {"GET": lambda: self._stats(uid)}
        if sub == ["search"]:
            return {
                "GET": lambda: self._search(uid, dict(self.query)),
                "POST": lambda: self._search(uid, self._json() or {}),
            }
        return {}

    def _get_index(self, uid: str) -> Index:
        check_index_uid(uid)
        index = self.server.state.indexes.get(uid)
        if index is None:
            raise ApiError(404, "index_not_found", f"Index `{uid}` not found.")
        return index

    def _list_indexes(self) -> tuple[int, Any]:
        self._authorize("indexes.get")
        state = self.server.state
        offset = _int_param(self.query, "offset", 0, "invalid_index_offset")
        limit = _int_param(self.query, "limit", 20, "invalid_index_limit")
        with state.lock:
            items = [
                i.info()
                for uid, i in sorted(state.indexes.items())
                if self.api_key is None or _index_allowed(self.api_key["indexes"], uid)
            ]
        return 200, {
            "results": items[offset : offset + limit],
            "offset": offset,
            "limit": limit,
            "total": len(items),
        }

    def _create_index(self) -> tuple[int, Any]:
        body = self._json()
        if not isinstance(body, dict):
            raise _bad("bad_request", "Invalid value type: expected an object")
        for name in body:
            if name not in ("uid", "primaryKey"):
                raise _bad(
                    "bad_request", f"Unknown field `{name}`: expected one of `uid`, `primaryKey`"
                )
        if "uid" not in body:
            raise _bad("missing_index_uid", "Missing field `uid`")
        uid = check_index_uid(body["uid"])
        self._authorize("indexes.create", [uid])
        primary_key = body.get("primaryKey")
        if primary_key is not None and not isinstance(primary_key, str):
            raise _bad(
                "invalid_index_primary_key",
                "Invalid value type at `.primaryKey`: expected a string",
            )
        return 202, self._enqueue("indexCreation", uid, primary_key, {"primaryKey": primary_key})

    def _show_index(self, uid: str) -> tuple[int, Any]:
        check_index_uid(uid)
        self._authorize("indexes.get", [uid])
        with self.server.state.lock:
            return 200, self._get_index(uid).info()

    def _update_index(self, uid: str) -> tuple[int, Any]:
        check_index_uid(uid)
        self._authorize("indexes.update", [uid])
        body = self._json()
        if not isinstance(body, dict):
            raise _bad("bad_request", "Invalid value type: expected an object")
        for name in body:
            if name not in ("primaryKey", "uid"):
                raise _bad(
                    "bad_request", f"Unknown field `{name}`: expected one of `primaryKey`, `uid`"
                )
        new_uid = check_index_uid(body["uid"]) if "uid" in body else None
        details: dict[str, Any] = {"primaryKey": body.get("primaryKey")}
        if new_uid:
            details.update(oldIndexUid=uid, newIndexUid=new_uid)
        return 202, self._enqueue("indexUpdate", uid, (body.get("primaryKey"), new_uid), details)

    def _compact(self, uid: str) -> tuple[int, Any]:
        check_index_uid(uid)
        self._authorize("indexes.compact", [uid])
        return 202, self._enqueue("indexCompaction", uid, None, {})

    def _delete_index(self, uid: str) -> tuple[int, Any]:
        check_index_uid(uid)
        self._authorize("indexes.delete", [uid])
        return 202, self._enqueue("indexDeletion", uid, None, {"deletedDocuments": 0})

    def _stats(self, uid: str) -> tuple[int, Any]:
        check_index_uid(uid)
        self._authorize("stats.get", [uid])
        state = self.server.state
        with state.lock:
            index = self._get_index(uid)
            distribution: dict[str, int] = {}
            for doc in index.documents.values():
                for key in doc:
                    distribution[key] = distribution.get(key, 0) + 1
            size = sum(len(json.dumps(d)) for d in index.documents.values())
            stats: dict[str, Any] = {
                "numberOfDocuments": len(index.documents),
                "rawDocumentDbSize": size,
                "avgDocumentSize": size // len(index.documents) if index.documents else 0,
                "isIndexing": state.processing_index == uid,
                "numberOfEmbeddings": 0,
                "numberOfEmbeddedDocuments": 0,
                "fieldDistribution": distribution,
            }
        if self.query.get("showInternalDatabaseSizes") == "true":
            # The real server lists its LMDB databases; this one has a single store.
            sizes = {"documents": size, "settings": len(json.dumps(index.settings))}
            if self.query.get("sizeFormat") == "human":
                stats["internalDatabaseSizes"] = {
                    k: f"{v / 1024:.2f} KiB" for k, v in sizes.items()
                }
            else:
                stats["internalDatabaseSizes"] = sizes
        return 200, stats

    # -- settings -------------------------------------------------------------------
    def _settings_routes(self, uid: str, rest: list[str]) -> dict[str, Any]:
        if not rest:
            return {
                "GET": lambda: self._get_settings(uid, None),
                "PATCH": lambda: self._update_settings(uid, self._json()),
                "DELETE": lambda: self._update_settings(uid, dict.fromkeys(DEFAULT_SETTINGS)),
            }
        key = next((k for k in DEFAULT_SETTINGS if _kebab(k) == rest[0]), None)
        if key is None:
            return {}
        verb = "PATCH" if key in _PATCHED else "PUT"
        return {
            "GET": lambda: self._get_settings(uid, key),
            verb: lambda: self._update_settings(uid, {key: self._json()}),
            "DELETE": lambda: self._update_settings(uid, {key: None}),
        }

    def _get_settings(self, uid: str, key: str | None) -> tuple[int, Any]:
        check_index_uid(uid)
        self._authorize("settings.get", [uid])
        with self.server.state.lock:
            settings = copy.deepcopy(self._get_index(uid).settings)
        return 200, settings if key is None else settings[key]

    def _update_settings(self, uid: str, body: Any) -> tuple[int, Any]:
        check_index_uid(uid)
        self._authorize("settings.update", [uid])
        if not isinstance(body, dict):
            raise _bad("bad_request", "Invalid value type: expected an object")
        checked = {}
        for key, value in body.items():
            if key not in DEFAULT_SETTINGS:
                raise _bad(
                    "bad_request",
                    f"Unknown field `{key}`: expected one of "
                    + ", ".join(f"`{k}`" for k in DEFAULT_SETTINGS),
                )
            checked[key] = validate_setting(key, value)
        return 202, self._enqueue("settingsUpdate", uid, checked, checked)

    # -- documents ------------------------------------------------------------------
    def _document_routes(self, uid: str, rest: list[str]) -> dict[str, Any]:
        if not rest:
            return {
                "GET": lambda: self._get_documents(uid, dict(self.query)),
                "POST": lambda: self._add_documents(uid, replace=True),
                "PUT": lambda: self._add_documents(uid, replace=False),
                "DELETE": lambda: self._delete_documents(uid, None),
            }
        if rest == ["fetch"]:
            return {"POST": lambda: self._get_documents(uid, self._json(required=False) or {})}
        if rest == ["delete-batch"]:
            return {"POST": lambda: self._delete_documents(uid, self._json())}
        if len(rest) == 1 and rest[0] not in ("delete", "edit"):
            return {
                "GET": lambda: self._get_document(uid, rest[0]),
                "DELETE": lambda: self._delete_documents(uid, [rest[0]], one=True),
            }
        return {}

    def _parse_documents(self) -> list[dict[str, Any]]:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if not self.raw:
            raise _bad("missing_payload", "A json payload is missing.")
        if content_type == "application/x-ndjson":
            try:
                docs = [json.loads(line) for line in self.raw.splitlines() if line.strip()]
            except ValueError as exc:
                raise _bad(
                    "malformed_payload", f"The ndjson payload provided is malformed. `{exc}`."
                ) from None
        elif content_type == "text/csv":
            delimiter = self.query.get("csvDelimiter", ",")
            reader = csv.DictReader(io.StringIO(self.raw.decode()), delimiter=delimiter)
            docs = []
            for row in reader:
                doc: dict[str, Any] = {}
                for header, value in row.items():
                    name, _, kind = header.partition(":")
                    if kind == "number" and value != "":
                        doc[name] = float(value) if "." in value else int(value)
                    elif kind == "boolean" and value != "":
                        doc[name] = value == "true"
                    else:
                        doc[name] = value if value != "" or not kind else None
                docs.append(doc)
        elif content_type == "application/json":
            try:
                docs = json.loads(self.raw)
            except ValueError as exc:
                raise _bad(
                    "malformed_payload", f"The json payload provided is malformed. `{exc}`."
                ) from None
            docs = [docs] if isinstance(docs, dict) else docs
        else:
            raise ApiError(
                415,
                "invalid_content_type",
                f"The Content-Type `{content_type}` is invalid. Accepted values for the "
                "Content-Type header are: `application/json`, `application/x-ndjson`, `text/csv`",
            )
        if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
            raise _bad(
                "malformed_payload",
                "The `json` payload provided is malformed. `Couldn't serialize document value`.",
            )
        return docs

    def _add_documents(self, uid: str, *, replace: bool) -> tuple[int, Any]:
        check_index_uid(uid)
        self._authorize("documents.add", [uid])
        docs = self._parse_documents()
        payload = (
            docs,
            self.query.get("primaryKey"),
            replace,
            self.query.get("skipCreation") == "true",
        )
        return 202, self._enqueue(
            "documentAdditionOrUpdate",
            uid,
            payload,
            {"receivedDocuments": len(docs), "indexedDocuments": None},
        )

    def _delete_documents(self, uid: str, ids: Any, one: bool = False) -> tuple[int, Any]:
        check_index_uid(uid)
        self._authorize("documents.delete", [uid])
        if ids is not None and not isinstance(ids, list):
            raise _bad("invalid_document_ids", "Invalid value type: expected an array")
        details = {"deletedDocuments": None}
        if ids is not None:
            details = {"providedIds": len(ids), **details}
        else:
            details = {"providedIds": 0, **details}
        return 202, self._enqueue("documentDeletion", uid, ids, details)

    def _get_document(self, uid: str, doc_id: str) -> tuple[int, Any]:
        check_index_uid(uid)
        self._authorize("documents.get", [uid])
        fields = self.query.get("fields")
        with self.server.state.lock:
            index = self._get_index(uid)
            if doc_id not in index.documents:
                raise ApiError(404, "document_not_found", f"Document `{doc_id}` not found.")
            doc = copy.deepcopy(index.documents[doc_id])
        if fields and fields != "*":
            doc = {k: v for k, v in doc.items() if k in fields.split(",")}
        return 200, doc

    def _get_documents(self, uid: str, params: dict[str, Any]) -> tuple[int, Any]:
        check_index_uid(uid)
        self._authorize("documents.get", [uid])
        if params.get("filter") is not None:
            raise ApiError(
                501, "feature_not_implemented", "This test server implements no filters."
            )
        offset = _int_param(params, "offset", 0, "invalid_document_offset")
        limit = _int_param(params, "limit", 20, "invalid_document_limit")
        fields = params.get("fields")
        if isinstance(fields, str):
            fields = fields.split(",")
        with self.server.state.lock:
            index = self._get_index(uid)
            docs = list(index.documents.values())
            page = copy.deepcopy(docs[offset : offset + limit])
        if fields and fields != ["*"]:
            page = [{k: v for k, v in d.items() if k in fields} for d in page]
        return 200, {"results": page, "offset": offset, "limit": limit, "total": len(docs)}

    # -- search ---------------------------------------------------------------------
    def _search(self, uid: str, body: dict[str, Any]) -> tuple[int, Any]:
        check_index_uid(uid)
        self._authorize("search", [uid])
        if not isinstance(body, dict):
            raise _bad("bad_request", "Invalid value type: expected an object")
        unsupported = sorted(
            k for k in ("filter", "facets", "sort", "vector", "hybrid") if body.get(k)
        )
        if unsupported:
            raise ApiError(
                501,
                "feature_not_implemented",
                f"This test server implements no {', '.join(unsupported)} in searches.",
            )
        state = self.server.state
        started = time.monotonic()
        query = body.get("q")
        if query is not None and not isinstance(query, str):
            raise _bad("invalid_search_q", "Invalid value type at `.q`: expected a string")
        offset = _int_param(body, "offset", 0, "invalid_search_offset")
        limit = _int_param(body, "limit", 20, "invalid_search_limit")
        retrieve = body.get("attributesToRetrieve") or ["*"]
        if isinstance(retrieve, str):
            retrieve = retrieve.split(",")
        paged = "page" in body or "hitsPerPage" in body
        strategy = body.get("matchingStrategy", "last")
        if strategy not in ("last", "all", "frequency"):
            raise _bad(
                "invalid_search_matching_strategy",
                f"Unknown value `{strategy}` at `.matchingStrategy`: expected one of `last`, "
                "`all`, `frequency`",
            )
        with state.lock:
            index = self._get_index(uid)
            fields = index.settings["searchableAttributes"]
            on = body.get("attributesToSearchOn")
            if on is not None:
                fields = [f for f in on if fields == ["*"] or f in fields]
            displayed = index.settings["displayedAttributes"]
            hits = _ranked(list(index.documents.values()), query or "", fields, strategy)
            total = len(hits)
            # As Meilisearch: hits stop at maxTotalHits, the count does not.
            reachable = hits[: index.settings["pagination"]["maxTotalHits"]]
            if paged:
                page_no = _int_param(body, "page", 1, "invalid_search_page")
                per_page = _int_param(body, "hitsPerPage", 20, "invalid_search_hits_per_page")
                page = reachable[(page_no - 1) * per_page : page_no * per_page] if page_no else []
            else:
                page = reachable[offset : offset + limit]
            shown = []
            for doc in page:
                visible = doc if displayed == ["*"] else {k: doc[k] for k in displayed if k in doc}
                if retrieve != ["*"]:
                    visible = {k: v for k, v in visible.items() if k in retrieve}
                shown.append(copy.deepcopy(visible))
        result: dict[str, Any] = {"hits": shown, "query": query or ""}
        result["processingTimeMs"] = int((time.monotonic() - started) * 1000)
        if paged:
            result.update(
                hitsPerPage=per_page,
                page=page_no,
                totalPages=-(-min(total, len(reachable)) // per_page) if per_page else 0,
                totalHits=min(total, len(reachable)),
            )
        else:
            result.update(limit=limit, offset=offset, estimatedTotalHits=total)
        return 200, result


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        host: str,
        port: int,
        master_key: str | None,
        payload_limit: int = DEFAULT_PAYLOAD_LIMIT,
    ) -> None:
        super().__init__((host, port), Handler)
        self.state = State(master_key, payload_limit)
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
    parser.add_argument(
        "--http-payload-size-limit",
        type=int,
        default=DEFAULT_PAYLOAD_LIMIT,
        help="largest accepted request body in bytes (default: 100 MB, as Meilisearch)",
    )
    args = parser.parse_args(argv)
    server = Server(args.host, args.port, args.key, args.http_payload_size_limit)
    print(f"LISTENING {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    sys.exit(main())
