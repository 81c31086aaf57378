"""Fast tests of deploy (no Docker): SQLite validation, schema checks, the step runner, errors."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import threading
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.migrations.loader import MigrationLoader

from django_deploykit.deploy import remote_ops
from django_deploykit.deploy.compose import _stack
from django_deploykit.deploy.sqlite import ahead, check_not_ahead, snapshot, validate
from django_deploykit.deploy.steps import Interrupted, RecoveryFailed, Step, StepFailed, execute
from django_deploykit.exceptions import ConfigError


def django_db(path: Path, extra: list[tuple[str, str]] = ()) -> Path:
    """A small file shaped like a migrated Django database."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, "
            "name TEXT, applied TEXT)"
        )
        rows = [("blog", "0001_initial"), ("contenttypes", "0001_initial"), *extra]
        conn.executemany(
            "INSERT INTO django_migrations (app, name, applied) VALUES (?, ?, '')", rows
        )
    conn.close()
    return path


def known() -> set[tuple[str, str]]:
    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def test_a_valid_database_gives_its_applied_migrations(tmp_path: Path) -> None:
    assert validate(django_db(tmp_path / "ok.sqlite3")) == {
        ("blog", "0001_initial"),
        ("contenttypes", "0001_initial"),
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b'[{"model": "blog.post"}]', "is not an SQLite database"),
        (b"", "is not an SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 5000, "cannot be read as an SQLite database"),
    ],
    ids=["missing", "json-fixture", "empty", "garbage-after-header"],
)
def test_bad_files_are_refused_with_what_to_do(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "db.sqlite3"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        validate(path)


def test_a_damaged_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x TEXT)")
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
    conn.close()
    data = bytearray(path.read_bytes())
    data[4096 + 200 : 4096 + 900] = b"\x00" * 700  # zero part of a table page
    path.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="damaged|cannot be read"):
        validate(path)


def test_a_non_django_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(ConfigError, match="no django_migrations table.*migrate"):
        validate(path)


def test_migrations_ahead_of_the_code_are_named(tmp_path: Path) -> None:
    path = django_db(
        tmp_path / "db.sqlite3", [("blog", "9999_from_the_future"), ("gone_app", "0001_initial")]
    )
    applied = validate(path)
    # A file to ship: an app the code does not have is refused too (issue #14).
    assert ahead(applied, known()) == ["blog.9999_from_the_future", "gone_app.0001_initial"]
    with pytest.raises(ConfigError, match=r"gone_app\.0001_initial.*apps that the deployed code"):
        check_not_ahead("db.sqlite3", applied, known(), "the deployed code")
    # A backup may predate an app's removal: only the known apps' migrations count.
    assert ahead(applied, known(), other_apps=False) == ["blog.9999_from_the_future"]
    with pytest.raises(ConfigError, match=r"blog\.9999_from_the_future.*deploy code"):
        check_not_ahead("backup", applied, known(), "the deployed code", other_apps=False)
    check_not_ahead("ok", validate(django_db(tmp_path / "ok.sqlite3")), known(), "code")


def test_the_snapshot_includes_writes_still_in_the_wal(tmp_path: Path) -> None:
    path = django_db(tmp_path / "db.sqlite3")
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute(
        "INSERT INTO django_migrations (app, name, applied) VALUES ('blog', '0002_more', '')"
    )
    writer.commit()
    assert os.path.getsize(str(path) + "-wal") > 0  # the row is only in the WAL
    copy = snapshot(path, tmp_path / "copy.sqlite3")
    writer.close()
    assert ("blog", "0002_more") in validate(copy)


def test_remote_swap_replaces_atomically_and_drops_a_stale_wal(tmp_path: Path) -> None:
    db = django_db(tmp_path / "db.sqlite3")
    (tmp_path / "db.sqlite3-wal").write_bytes(b"stale")
    incoming = django_db(tmp_path / "incoming.sqlite3", [("blog", "0002_more")])
    remote_ops.swap(str(incoming), str(db))
    assert not incoming.exists() and not (tmp_path / "db.sqlite3-wal").exists()
    assert ("blog", "0002_more") in validate(db)
    backup = remote_ops.backup(str(db), str(tmp_path / "b"), "p-1.sqlite3")
    assert backup["size"] > 0
    for name in ("p-2.sqlite3", "p-3.sqlite3"):
        (tmp_path / "b" / name).write_bytes(b"x")
    assert remote_ops.prune(str(tmp_path / "b"), "p-", "2") == {"removed": ["p-1.sqlite3"]}
    remote_ops.remove(str(tmp_path / "b" / "p-2.sqlite3"))
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["p-3.sqlite3"]


def test_the_stack_model_from_compose_config() -> None:
    config = {
        "name": "shop",
        "services": {
            "web": {
                "image": "shop:latest",
                "ports": [{"published": "8000", "target": 8000}],
                "depends_on": {"migrate": {"condition": "service_completed_successfully"}},
                "environment": {"DATABASE_URL": "sqlite:////app/data/db.sqlite3"},
                "volumes": [{"type": "volume", "source": "data", "target": "/app/data"}],
            },
            "migrate": {"image": "shop:latest"},
            "beat": {"image": "shop:latest"},
            "worker": {"image": "shop:latest"},
            "db": {"image": "postgres:17"},
            "nginx": {"image": "nginx:1.27-alpine", "depends_on": {"web": {}}},
        },
        "volumes": {"data": {"name": "shop_data"}},
    }
    stack = _stack(config)
    assert stack.app_services == ["web", "worker", "beat"]
    assert stack.oneshots == ["migrate"] and stack.proxies == ["nginx"]
    assert stack.backing == ["db"] and stack.image_repo == "shop"
    assert stack.db_vendor == "sqlite" and stack.sqlite_path == "/app/data/db.sqlite3"
    assert stack.volume_at("web", "/app/data") == "shop_data"
    assert stack.fixed_host_port("web") and not stack.fixed_host_port("worker")
    with pytest.raises(ConfigError, match="no 'web' service.*dockerize"):
        _stack({"name": "x", "services": {"app": {}}})


def test_dry_run_prints_the_plan_and_runs_nothing() -> None:
    ran: list[str] = []
    out: list[str] = []
    execute([Step("build", "build it", lambda: ran.append("build"))], out.append, dry_run=True)
    assert ran == [] and out == ["Dry run: nothing is changed. The plan:", "  1/1 build: build it"]


def test_a_failed_step_is_undone_and_named() -> None:
    undone: list[str] = []

    def fail() -> None:
        raise ConfigError("no good")

    steps = [
        Step("one", "first", lambda: None),
        Step("two", "second", fail, undo=lambda: undone.append("two")),
    ]
    out: list[str] = []
    with pytest.raises(StepFailed, match="step 'two': no good") as info:
        execute(steps, out.append)
    assert info.value.returncode == 1 and undone == ["two"]
    assert "[2/2] two: second" in out


def test_a_lost_engine_connection_fails_the_step_without_a_traceback() -> None:
    requests = pytest.importorskip("requests")
    undone: list[str] = []

    def poll() -> None:
        raise requests.exceptions.ConnectionError(
            "('Connection aborted.', RemoteDisconnected('Remote end closed connection'))"
        )

    steps = [Step("wait", "wait for the rollout", poll, undo=lambda: undone.append("wait"))]
    with pytest.raises(StepFailed) as info:
        execute(steps, lambda line: None)
    assert undone == ["wait"] and info.value.step == "wait" and info.value.returncode == 1
    assert "Connection aborted" in str(info.value) and "docker info" in str(info.value)


def test_engine_client_retries_a_read_whose_kept_alive_connection_was_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine that closes a kept-alive connection as the SDK reuses it (seen under
    load: "Remote end closed connection without response") costs a retry, not a deploy."""
    pytest.importorskip("docker")
    from django_deploykit.docker import engine

    sock_path = tmp_path / "engine.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    server.listen()
    server.settimeout(10)
    requests_seen: list[str] = []

    def answer(conn: socket.socket) -> None:
        bodies = {"/version": b'{"ApiVersion": "1.41", "Version": "20.10"}', "/_ping": b"OK"}
        with conn:
            conn.settimeout(10)
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                head, data = data.split(b"\r\n\r\n", 1)
                path = head.split()[1].decode().split("?")[0].rsplit("/v1.41", 1)[-1]
                requests_seen.append(path)
                if len(requests_seen) == 2:
                    return  # the second request: the connection closes without an answer
                body = bodies.get(path, b"{}")
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )

    def serve() -> None:
        for _ in range(3):  # bounded: at most three connections, each in its own thread
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock_path}")
    try:
        api = engine.client(timeout=10)  # GET /version, then GET /_ping on the same connection
        api.close()
    finally:
        server.close()
        thread.join(10)
    assert requests_seen[:3] == ["/version", "/_ping", "/_ping"], requests_seen


def test_a_failed_undo_says_the_stack_needs_attention() -> None:
    def boom() -> None:
        raise StepFailed("new container unhealthy", container="shop-web-2")

    def bad_undo() -> None:
        raise ConfigError("engine gone")

    with pytest.raises(RecoveryFailed, match="undoing the step failed too") as info:
        execute([Step("switch", "swap", boom, undo=bad_undo)], lambda line: None)
    assert info.value.returncode == 3


def test_ctrl_c_in_a_critical_step_finishes_it_then_stops() -> None:
    ran: list[str] = []
    before = signal.getsignal(signal.SIGINT)

    def critical() -> None:
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, in the middle of the step
        ran.append("critical finished")

    steps = [
        Step("switch", "swap", critical, critical=True),
        Step("after", "later", lambda: ran.append("after")),
    ]
    out: list[str] = []
    with pytest.raises(Interrupted, match="after step 1/2") as info:
        execute(steps, out.append)
    assert ran == ["critical finished"] and info.value.returncode == 130
    assert any("finishing the current step first" in line for line in out)
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is back


def test_ctrl_c_in_an_ordinary_step_undoes_it() -> None:
    undone: list[str] = []

    def slow() -> None:
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match="undone"):
        execute([Step("build", "b", slow, undo=lambda: undone.append("build"))], lambda line: None)
    assert undone == ["build"]


def test_command_refuses_a_bad_file_before_touching_anything(tmp_path: Path) -> None:
    bad = tmp_path / "dump.json"
    bad.write_text("[]")
    with pytest.raises(CommandError, match="is not an SQLite database") as info:
        call_command(
            "deploy", "db", str(bad), "--noinput", "--project-dir", str(tmp_path), stdout=StringIO()
        )
    assert info.value.returncode == 2


def test_command_without_a_compose_file_says_to_dockerize(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No compose file.*dockerize") as info:
        call_command("deploy", "status", "--project-dir", str(tmp_path), stdout=StringIO())
    assert info.value.returncode == 2


def test_command_keep_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--keep must be at least 1") as info:
        call_command(
            "deploy", "backup", "--keep", "0", "--project-dir", str(tmp_path), stdout=StringIO()
        )
    assert info.value.returncode == 2


@pytest.mark.parametrize("action", ["db", "full", "restore"])
def test_without_a_terminal_replacing_the_database_needs_noinput(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    # A pipe that says "y" is no terminal: the answer is not taken (cron, CI, `echo y |`).
    monkeypatch.setattr("sys.stdin", StringIO("y\n"))
    args = ["backup-name"] if action == "restore" else [str(django_db(tmp_path / "x.sqlite3"))]
    with pytest.raises(CommandError, match="no terminal.*--noinput") as info:
        call_command("deploy", action, *args, "--project-dir", str(tmp_path), stdout=StringIO())
    assert info.value.returncode == 2


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf"])
def test_health_timeout_must_be_a_positive_number(tmp_path: Path, value: str) -> None:
    with pytest.raises(CommandError, match="health-timeout.*above 0") as info:
        call_command(
            "deploy",
            "code",
            "--health-timeout",
            value,
            "--project-dir",
            str(tmp_path),
            stdout=StringIO(),
        )
    assert info.value.returncode == 2


def test_swarm_target_refuses_what_it_does_not_do_and_a_missing_stack_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: x:latest\n")
    for argv, message in (
        (["restore", "x", "--noinput"], "not supported"),
        (["reindex"], "not supported"),
        (["status"], "No swarm/stack.yml.*dockerize --target swarm"),
    ):
        with pytest.raises(CommandError, match=message) as info:
            call_command(
                "deploy",
                *argv,
                "--target",
                "swarm",
                "--project-dir",
                str(tmp_path),
                stdout=StringIO(),
            )
        assert info.value.returncode == 2
