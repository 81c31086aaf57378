"""The bundled Meilisearch test server answers like the real one (issue 16).

Each expectation is the real server's (meilisearch/meilisearch, crates/meilisearch
and milli): status codes, error objects, settings as stored, task semantics. They
run against the bundled server, or a real one via DEPLOYKIT_TEST_MEILISEARCH_URL.
"""

from __future__ import annotations

import secrets
import time

import pytest
import requests

pytestmark = pytest.mark.meilisearch
LINK = "https://docs.meilisearch.com/errors#"


class Api:
    def __init__(self, server, prefix: str) -> None:
        self.url, self.key, self.prefix = server.url, server.key, prefix

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.key:
            headers.setdefault("Authorization", f"Bearer {self.key}")
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def wait(self, response: requests.Response) -> dict:
        assert response.status_code == 202, response.text
        uid = response.json()["taskUid"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # bounded
            task = self("GET", f"/tasks/{uid}").json()
            if task["status"] in ("succeeded", "failed", "canceled"):
                return task
            time.sleep(0.02)
        raise AssertionError(f"task {uid} did not finish")

    def index(self, name: str, **options) -> str:
        uid = self.prefix + name
        task = self.wait(self("POST", "/indexes", json={"uid": uid, **options}))
        assert task["status"] == "succeeded", task
        return uid


@pytest.fixture
def api(meilisearch_server):
    from tests.meilisearch_fixtures import delete_indexes

    prefix = f"srv{secrets.token_hex(3)}_"
    yield Api(meilisearch_server, prefix)
    meilisearch_server.set_payload_limit(None)
    delete_indexes(meilisearch_server, prefix)


def _error(response: requests.Response, status: int, code: str, kind: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["code"] == code and body["type"] == kind, body
    assert body["link"] == LINK + code and body["message"], body
    return body


def test_unimplemented_routes_are_not_answered_as_other_calls(api):
    assert api("GET", "/no-such-route").status_code == 404
    assert api("PUT", "/indexes").status_code in (404, 405)
    assert api("POST", "/version").status_code in (404, 405)
    uid = api.index("a")
    assert api("PUT", f"/indexes/{uid}/stats").status_code in (404, 405)
    assert api("DELETE", f"/indexes/{uid}/search").status_code in (404, 405)


def test_delete_tasks_deletes_tasks_instead_of_listing_them(api):
    uid = api.index("a")
    created = api("GET", "/tasks", params={"indexUids": uid}).json()["results"]
    assert created
    _error(api("DELETE", "/tasks"), 400, "missing_task_filters", "invalid_request")
    task = api.wait(api("DELETE", "/tasks", params={"indexUids": uid}))
    assert task["type"] == "taskDeletion" and task["status"] == "succeeded"
    assert task["details"]["deletedTasks"] == len(created)
    assert api("GET", "/tasks", params={"indexUids": uid}).json()["results"] == []


def test_patch_index_updates_the_primary_key(api):
    uid = api.index("a")
    task = api.wait(api("PATCH", f"/indexes/{uid}", json={"primaryKey": "code"}))
    assert task["type"] == "indexUpdate" and task["status"] == "succeeded"
    assert api("GET", f"/indexes/{uid}").json()["primaryKey"] == "code"


@pytest.mark.parametrize("uid", ["bad.name", "spaced out", "x" * 401, ""])
def test_invalid_index_uids_are_refused(api, uid):
    body = _error(
        api("POST", "/indexes", json={"uid": uid}), 400, "invalid_index_uid", "invalid_request"
    )
    assert "is not a valid index uid" in body["message"]


def test_a_400_byte_uid_is_accepted(api):
    uid = api.prefix + "x" * (400 - len(api.prefix))
    task = api.wait(api("POST", "/indexes", json={"uid": uid}))
    assert task["status"] == "succeeded"


def test_payload_limit(api, meilisearch_server):
    if not meilisearch_server.bundled:
        pytest.skip("the limit of a real server is its --http-payload-size-limit")
    uid = api.index("a", primaryKey="id")
    meilisearch_server.set_payload_limit(1000)
    big = [{"id": 1, "text": "x" * 2000}]
    body = _error(
        api("POST", f"/indexes/{uid}/documents", json=big),
        413,
        "payload_too_large",
        "invalid_request",
    )
    assert "The provided payload reached the size limit" in body["message"]


def test_unknown_and_badly_typed_settings_are_refused(api):
    uid = api.index("a")
    body = _error(
        api("PATCH", f"/indexes/{uid}/settings", json={"stopwords": []}),
        400,
        "bad_request",
        "invalid_request",
    )
    assert body["message"].startswith("Unknown field `stopwords`")
    body = _error(
        api("PATCH", f"/indexes/{uid}/settings", json={"stopWords": "the"}),
        400,
        "invalid_settings_stop_words",
        "invalid_request",
    )
    assert "Invalid value type at `.stopWords`" in body["message"]
    _error(
        api(
            "PATCH",
            f"/indexes/{uid}/settings",
            json={"typoTolerance": {"minWordSizeForTypos": {"oneTypo": 9, "twoTypos": 5}}},
        ),
        400,
        "invalid_settings_typo_tolerance",
        "invalid_request",
    )
    _error(
        api("PATCH", f"/indexes/{uid}/settings", json={"rankingRules": ["nope"]}),
        400,
        "invalid_settings_ranking_rules",
        "invalid_request",
    )


def test_settings_are_stored_the_way_the_real_server_stores_them(api):
    uid = api.index("a")
    task = api.wait(
        api(
            "PATCH",
            f"/indexes/{uid}/settings",
            json={
                "sortableAttributes": ["title", "genre", "title"],
                "stopWords": ["The", "ﬁn", "a"],
                "displayedAttributes": ["title", "*"],
                "typoTolerance": {
                    "disableOnWords": ["iPhone", "Android"],
                    "disableOnAttributes": ["title", "body"],
                    "minWordSizeForTypos": {"oneTypo": 4},
                },
                "faceting": {"sortFacetValuesBy": {"genre": "count"}},
            },
        )
    )
    assert task["status"] == "succeeded", task
    live = api("GET", f"/indexes/{uid}/settings").json()
    assert live["sortableAttributes"] == ["genre", "title"]
    assert live["stopWords"] == ["The", "a", "fin"]  # NFKD, case kept, byte order
    assert live["displayedAttributes"] == ["*"]
    assert live["typoTolerance"] == {
        "enabled": True,
        "minWordSizeForTypos": {"oneTypo": 4, "twoTypos": 9},
        "disableOnWords": ["android", "iphone"],
        "disableOnAttributes": ["body", "title"],
        "disableOnNumbers": False,
    }
    assert live["faceting"]["sortFacetValuesBy"] == {"*": "alpha", "genre": "count"}
    # A second PATCH merges field by field; null resets one setting.
    task = api.wait(
        api(
            "PATCH",
            f"/indexes/{uid}/settings",
            json={"typoTolerance": {"enabled": False}, "stopWords": None},
        )
    )
    live = api("GET", f"/indexes/{uid}/settings").json()
    assert live["typoTolerance"]["enabled"] is False
    assert live["typoTolerance"]["disableOnWords"] == ["android", "iphone"]
    assert live["stopWords"] == []


def test_search_hides_what_displayed_attributes_leave_out(api):
    uid = api.index("a", primaryKey="id")
    api.wait(
        api("POST", f"/indexes/{uid}/documents", json=[{"id": 1, "title": "a b", "body": "c"}])
    )
    api.wait(api("PATCH", f"/indexes/{uid}/settings", json={"displayedAttributes": ["title"]}))
    hits = api(
        "POST", f"/indexes/{uid}/search", json={"q": "a", "attributesToRetrieve": ["id"]}
    ).json()["hits"]
    assert hits == [{}]
    hits = api("POST", f"/indexes/{uid}/search", json={"q": "a"}).json()["hits"]
    assert hits == [{"title": "a b"}]


def test_swap_of_a_missing_index_fails_the_task(api):
    a = api.index("a")
    task = api.wait(api("POST", "/swap-indexes", json=[{"indexes": [a, api.prefix + "missing"]}]))
    assert task["status"] == "failed" and task["error"]["code"] == "index_not_found"
    _error(
        api("POST", "/swap-indexes", json=[{"indexes": [a]}]),
        400,
        "invalid_swap_indexes",
        "invalid_request",
    )


def test_tasks_belong_to_batches(api):
    api.index("a")
    task = api("GET", "/tasks", params={"limit": 1}).json()["results"][0]
    assert isinstance(task["batchUid"], int)
    batch = api("GET", f"/batches/{task['batchUid']}").json()
    assert batch["uid"] == task["batchUid"] and batch["stats"]["totalNbTasks"] >= 1


def test_keys_restrict_actions(api, meilisearch_server):
    if not meilisearch_server.key:
        pytest.skip("no master key")
    key = api(
        "POST",
        "/keys",
        json={"actions": ["search"], "indexes": ["*"], "expiresAt": None},
    ).json()
    uid = api.index("a")
    limited = {"Authorization": f"Bearer {key['key']}"}
    assert api("POST", f"/indexes/{uid}/search", json={}, headers=limited).status_code == 200
    _error(api("DELETE", f"/indexes/{uid}", headers=limited), 403, "invalid_api_key", "auth")
    assert api("DELETE", f"/keys/{key['uid']}").status_code == 204


def test_matching_strategy_last_drops_words_from_the_end_and_keeps_phrases(api):
    uid = api.index("a", primaryKey="id")
    docs = [{"id": 1, "t": "coco"}, {"id": 2, "t": "dumbo"}, {"id": 3, "t": "coco dumbo"}]
    api.wait(api("POST", f"/indexes/{uid}/documents", json=docs))

    def ids(body):
        hits = api("POST", f"/indexes/{uid}/search", json=body).json()["hits"]
        return [h["id"] for h in hits]

    assert ids({"q": "coco nothing"}) == [1, 3]  # "nothing" dropped, as the real default
    assert ids({"q": "coco nothing", "matchingStrategy": "all"}) == []
    assert ids({"q": 'coco "dumbo"'})[0] == 3 and 1 not in ids({"q": 'coco "dumbo"'})


def test_rename_and_custom_metadata(api):
    uid = api.index("a")
    new = api.prefix + "b"
    response = api("PATCH", f"/indexes/{uid}", json={"uid": new}, params={"customMetadata": "x"})
    task = api.wait(response)
    assert task["status"] == "succeeded" and task["customMetadata"] == "x"
    assert api("GET", f"/indexes/{new}").status_code == 200
    assert api("GET", f"/indexes/{uid}").status_code == 404
