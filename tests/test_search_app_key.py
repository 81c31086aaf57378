"""The app's own Meilisearch key (issue 15): derived from the master key, created by
search-init, limited to what deploykit calls, and enough for everything deploykit does.

Against the tier's server: the bundled one (whose key handling follows the real
server's source, checked here too) or a real one via DEPLOYKIT_TEST_MEILISEARCH_URL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from django_deploykit.conf import conf
from django_deploykit.search.app_key import (
    APP_KEY_ACTIONS,
    APP_KEY_NAME,
    AppKeyError,
    derive_key,
    ensure_app_key,
    main,
)
from tests.search_helpers import make_posts, reindex
from tests.search_test_indexes import HERE

pytestmark = pytest.mark.meilisearch
ROOT = Path(__file__).resolve().parent.parent


def test_derivation_matches_the_real_servers_own_test_vector():
    # meilisearch/meilisearch v1.11.3, crates/meilisearch/tests/auth/api_keys.rs: master
    # key "MASTER_KEY" and this uid give this key; any UUID spelling derives the same.
    expected = "d9e776b8412f1db6974c9a5556b961c3559440b6588216f4ea5d9ed49f7c8f3c"
    assert derive_key("MASTER_KEY", "4bc0887a-0e41-4f3b-935d-0c451dcee9c8") == expected
    assert derive_key("MASTER_KEY", "4BC0887A0E414F3B935D0C451DCEE9C8") == expected
    with pytest.raises(AppKeyError) as caught:
        derive_key("MASTER_KEY", "not-a-uuid")
    assert caught.value.exit_code == 2 and "MEILISEARCH_API_KEY_UID" in str(caught.value)


def test_the_app_key_has_no_management_action():
    assert "*" not in APP_KEY_ACTIONS
    assert not [a for a in APP_KEY_ACTIONS if a.split(".")[0] in ("keys", "dumps", "snapshots")]
    assert not {"tasks.cancel", "tasks.delete", "tasks.*"} & set(APP_KEY_ACTIONS)


class Keys:
    """The tier's server with its master key; deletes the keys a test made."""

    def __init__(self, server) -> None:
        self.url, self.master = server.url, server.key
        self.made: list[str] = []

    def uid(self) -> str:
        uid = str(uuid.uuid4())
        self.made.append(uid)
        return uid

    def __call__(self, method: str, path: str, key: str | None = None, **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {key or self.master}"}
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kw)


@pytest.fixture
def keys(meilisearch_server):
    if not meilisearch_server.key:
        pytest.skip("the tier's Meilisearch runs without a master key")
    keys = Keys(meilisearch_server)
    yield keys
    for uid in keys.made:
        keys("DELETE", f"/keys/{uid}")


def test_search_init_creates_the_derived_key_once(keys):
    uid = keys.uid()
    assert ensure_app_key(keys.url, keys.master, uid) == [f"created the app's key {uid}"]
    stored = keys("GET", f"/keys/{uid}").json()
    assert stored["key"] == derive_key(keys.master, uid)
    assert sorted(stored["actions"]) == sorted(APP_KEY_ACTIONS)
    assert stored["indexes"] == ["*"] and stored["expiresAt"] is None
    assert stored["name"] == APP_KEY_NAME
    # Idempotent: the next `up` leaves it alone.
    assert ensure_app_key(keys.url, keys.master, uid) == [f"the app's key {uid} is in place"]
    assert keys("GET", f"/keys/{uid}").json()["updatedAt"] == stored["updatedAt"]


def test_a_key_with_other_actions_is_made_again_with_the_same_value(keys):
    uid = keys.uid()
    made = keys(
        "POST",
        "/keys",
        json={
            "uid": uid,
            "name": APP_KEY_NAME,
            "actions": ["*"],
            "indexes": ["*"],
            "expiresAt": None,
        },
    )
    assert made.status_code == 201, made.text
    lines = ensure_app_key(keys.url, keys.master, uid)
    assert lines == [f"the app's key {uid} had other permissions: replaced"]
    stored = keys("GET", f"/keys/{uid}").json()
    assert sorted(stored["actions"]) == sorted(APP_KEY_ACTIONS)
    assert stored["key"] == made.json()["key"]  # running containers keep working


def test_a_new_uid_replaces_the_old_key(keys):
    old, new = keys.uid(), keys.uid()
    ensure_app_key(keys.url, keys.master, old)
    lines = ensure_app_key(keys.url, keys.master, new)
    assert f"deleted the app's previous key {old}" in lines
    assert keys("GET", f"/keys/{old}").status_code == 404
    assert keys("GET", f"/keys/{new}").status_code == 200


def test_the_limited_key_cannot_manage_keys(keys):
    uid = keys.uid()
    ensure_app_key(keys.url, keys.master, uid)
    limited = derive_key(keys.master, uid)
    assert keys("GET", "/version", limited).status_code == 200
    for method, path, body in (
        ("GET", "/keys", None),
        ("GET", f"/keys/{uid}", None),
        ("POST", "/keys", {"actions": ["*"], "indexes": ["*"], "expiresAt": None}),
        ("PATCH", f"/keys/{uid}", {"name": "mine"}),
        ("DELETE", f"/keys/{uid}", None),
        ("POST", "/tasks/cancel?statuses=enqueued", None),
        ("DELETE", "/tasks?statuses=succeeded", None),
    ):
        answer = keys(method, path, limited, json=body)
        assert answer.status_code == 403, (method, path, answer.status_code)
        assert answer.json()["code"] == "invalid_api_key"


def test_a_key_file_for_another_master_key_changes_nothing_and_says_what_to_do(keys):
    uid = keys.uid()
    with pytest.raises(AppKeyError) as caught:
        ensure_app_key(keys.url, keys.master, uid, expected_key=derive_key("older", uid))
    assert caught.value.exit_code == 2
    assert "run `manage.py dockerize` again" in str(caught.value)
    assert keys.master not in str(caught.value)
    assert keys("GET", f"/keys/{uid}").status_code == 404


def test_a_wrong_master_key_is_a_configuration_error(keys):
    with pytest.raises(AppKeyError) as caught:
        ensure_app_key(keys.url, "not-the-master-key", keys.uid())
    assert caught.value.exit_code == 2
    assert "rejected MEILISEARCH_MASTER_KEY" in str(caught.value)
    assert "not-the-master-key" not in str(caught.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_command_reads_secret_files_and_fails_without_a_traceback(keys, tmp_path, capsys):
    master = tmp_path / "meilisearch_master_key"
    master.write_text(keys.master + "\n")
    uid = keys.uid()
    app = tmp_path / "meilisearch_api_key"
    app.write_text(derive_key(keys.master, uid) + "\n")
    env = {
        "MEILISEARCH_URL": keys.url,
        "MEILISEARCH_MASTER_KEY_FILE": str(master),
        "MEILISEARCH_API_KEY_FILE": str(app),
        "MEILISEARCH_API_KEY_UID": uid,
    }
    assert main(["--wait", "5"], env) == 0
    assert f"search-init: created the app's key {uid}" in capsys.readouterr().out

    down = dict(env, MEILISEARCH_URL=f"http://127.0.0.1:{_closed_port()}")
    assert main(["--wait", "0"], down) == 1
    err = capsys.readouterr().err
    assert "unreachable" in err and "Traceback" not in err
    assert main([], {"MEILISEARCH_URL": keys.url}) == 2
    assert "MEILISEARCH_MASTER_KEY is not set" in capsys.readouterr().err
    assert main([], dict(env, MEILISEARCH_MASTER_KEY_FILE=str(tmp_path / "missing"))) == 2
    assert "MEILISEARCH_MASTER_KEY_FILE cannot be read" in capsys.readouterr().err


def test_python_dash_m_runs_without_the_projects_settings(keys):
    uid = keys.uid()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "MEILISEARCH_URL": keys.url,
        "MEILISEARCH_MASTER_KEY": keys.master,
        "MEILISEARCH_API_KEY_UID": uid,
    }
    done = subprocess.run(
        [sys.executable, "-m", "django_deploykit.search.app_key", "--wait", "5"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert keys("GET", f"/keys/{uid}").status_code == 200


@pytest.mark.django_db
def test_everything_deploykit_does_works_with_the_limited_key(meili, settings, keys):
    uid = keys.uid()
    ensure_app_key(keys.url, keys.master, uid)
    settings.DEPLOYKIT_MEILISEARCH_API_KEY = derive_key(keys.master, uid)
    assert conf.MEILISEARCH_API_KEY == settings.DEPLOYKIT_MEILISEARCH_API_KEY
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    make_posts(30)
    run = reindex("--batch-size", "10", "--json")  # create, settings, documents, swap, delete
    assert run.code == 0, run.stderr
    assert run.json["indexes"][0]["swapped"] is True
    assert reindex("--batch-size", "10").code == 0  # a second rebuild swaps into a live index
    assert reindex("--in-place").code == 0
    assert reindex("--check").code == 0  # settings.get

    from django_deploykit.search.query import missing_indexes, search_pks

    assert len(search_pks("flat", "Post")) == 30
    assert missing_indexes() == []


@pytest.mark.django_db
def test_a_key_that_cannot_see_the_swap_never_deletes_the_swapped_index(meili, settings, keys):
    """A key limited to ``<prefix>*`` may swap but not see the swap task: the outcome is
    unknown, so the run fails saying so and leaves the live index (now the new one)."""
    prefix = settings.DEPLOYKIT_MEILISEARCH_INDEX_PREFIX
    made = keys(
        "POST",
        "/keys",
        json={
            "uid": keys.uid(),
            "actions": list(APP_KEY_ACTIONS),
            "indexes": [prefix + "*"],
            "expiresAt": None,
        },
    )
    settings.DEPLOYKIT_MEILISEARCH_API_KEY = made.json()["key"]
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    make_posts(7)
    run = reindex()
    assert run.code == 1, (run.code, run.stderr)
    assert "outcome is unknown" in run.stderr and 'indexes are ["*"]' in run.stderr
    assert "was not changed" not in run.stderr
    live = keys("GET", f"/indexes/{prefix}flat/stats")
    assert live.status_code == 200 and live.json()["numberOfDocuments"] == 7


@pytest.mark.django_db
def test_a_rejected_app_key_names_the_setting_and_search_init(meili, settings):
    settings.DEPLOYKIT_MEILISEARCH_API_KEY = "0" * 64
    settings.DEPLOYKIT_SEARCH_INDEXES = [HERE + "FlatPostIndex"]
    run = reindex()
    assert run.code == 2, (run.code, run.stderr)
    assert "MEILISEARCH_API_KEY" in run.stderr and "search-init" in run.stderr
    assert "0" * 64 not in run.stderr and "Traceback" not in run.stderr


def test_without_an_app_key_the_master_key_is_used(settings):
    # Projects that set only DEPLOYKIT_MEILISEARCH_MASTER_KEY keep working.
    settings.DEPLOYKIT_MEILISEARCH_MASTER_KEY = "master"
    settings.DEPLOYKIT_MEILISEARCH_API_KEY = None
    assert conf.MEILISEARCH_API_KEY == "master"
    settings.DEPLOYKIT_MEILISEARCH_API_KEY = "app"
    assert conf.MEILISEARCH_API_KEY == "app"


# -- the bundled server handles keys as the real one does ---------------------------


def test_key_uids_are_uuids_and_unique(keys):
    bad = keys(
        "POST",
        "/keys",
        json={"uid": "app", "actions": ["search"], "indexes": ["*"], "expiresAt": None},
    )
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_api_key_uid"
    uid = keys.uid()
    body = {"uid": uid.upper(), "actions": ["search"], "indexes": ["*"], "expiresAt": None}
    made = keys("POST", "/keys", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["uid"] == uid  # stored, and derived, in lower case
    assert made.json()["key"] == derive_key(keys.master, uid)
    again = keys("POST", "/keys", json=body)
    assert again.status_code == 409 and again.json()["code"] == "api_key_already_exists"
    unknown = keys(
        "POST", "/keys", json={"actions": ["keys.*"], "indexes": ["*"], "expiresAt": None}
    )
    assert unknown.status_code == 400 and unknown.json()["code"] == "invalid_api_key_actions"


def test_a_key_limited_to_a_prefix_cannot_see_the_swap_task(keys):
    """Why the app's key covers every index: Meilisearch hides tasks of no single index
    (indexSwap) from a key with a finite index list, so reindex_search could not wait
    for its swap."""
    prefix = f"pk{uuid.uuid4().hex[:6]}_"
    uid = keys.uid()
    made = keys(
        "POST",
        "/keys",
        json={
            "uid": uid,
            "actions": list(APP_KEY_ACTIONS),
            "indexes": [prefix + "*"],
            "expiresAt": None,
        },
    )
    assert made.status_code == 201, made.text
    limited = made.json()["key"]
    try:
        created = []
        for name in ("a", "b"):
            answer = keys("POST", "/indexes", limited, json={"uid": prefix + name})
            assert answer.status_code == 202, answer.text
            created.append(answer.json()["taskUid"])
        assert keys("POST", "/indexes", limited, json={"uid": "other_x"}).status_code == 403
        swap = keys(
            "POST", "/swap-indexes", limited, json=[{"indexes": [prefix + "a", prefix + "b"]}]
        )
        assert swap.status_code == 202, swap.text
        task = swap.json()["taskUid"]
        assert keys("GET", f"/tasks/{created[0]}", limited).status_code == 200
        hidden = keys("GET", f"/tasks/{task}", limited)
        assert hidden.status_code == 404 and hidden.json()["code"] == "task_not_found"
        assert keys("GET", f"/tasks/{task}").status_code == 200
        listed = keys("GET", "/tasks?limit=1000", limited).json()["results"]
        assert task not in [t["uid"] for t in listed]
        assert {t["indexUid"] for t in listed} <= {prefix + "a", prefix + "b"}
    finally:
        for name in ("a", "b"):
            keys("DELETE", f"/indexes/{prefix}{name}")
