"""Nothing dbcopy does may write to the source: identity, --migrate, --dry-run, --truncate."""

from __future__ import annotations

import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from django_deploykit.dbcopy.migrate import as_default
from tests.dbcopy_app import models as m
from tests.dbcopy_data import fill
from tests.dbcopy_support import fingerprint

pytest_plugins = ["tests.dbcopy_support"]
pytestmark = pytest.mark.usefixtures("db_access")

KINDS = [pytest.param("mariadb", marks=pytest.mark.mariadb),
         pytest.param("postgres", marks=pytest.mark.postgres)]  # fmt: skip


def dbcopy(*argv: str) -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("dbcopy", *argv, stdout=out, stderr=StringIO())
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def test_same_sqlite_file_spelled_differently_is_refused(make_sqlite, untouched, tmp_path,
                                                         monkeypatch):  # fmt: skip
    source, _ = make_sqlite()
    fill(source)
    untouched(source)
    monkeypatch.chdir(tmp_path)
    os.symlink(tmp_path / "db0.sqlite3", tmp_path / "link.sqlite3")
    (tmp_path / "sub").mkdir()
    for spelling in ("sqlite:///db0.sqlite3", "sqlite:///sub/../link.sqlite3",
                     f"sqlite:///{tmp_path}/./db0.sqlite3"):  # fmt: skip
        _, exc = dbcopy("--from", source, "--to", spelling, "--truncate", "--noinput")
        assert exc is not None and exc.returncode == 2, spelling
        assert "same database" in str(exc), spelling


@pytest.mark.parametrize("kind", KINDS)
def test_same_server_database_spelled_differently_is_refused(kind, make_server_db, untouched):
    source, url = make_server_db(kind)
    fill(source)
    untouched(source)
    # localhost is the same server as 127.0.0.1 (a socket for MariaDB), a trailing
    # parameter does not change it either.
    other = url.replace("127.0.0.1", "localhost") + (
        "?connect_timeout=5" if kind == "postgres" else ""
    )
    assert other != url
    _, exc = dbcopy("--from", source, "--to", other, "--truncate", "--noinput")
    assert exc is not None and exc.returncode == 2
    assert "same database" in str(exc)


@pytest.mark.postgres
def test_same_database_name_on_two_servers_is_not_refused(make_sqlite, make_server_db,
                                                          second_postgres, untouched):  # fmt: skip
    source, _ = make_sqlite()
    fill(source)
    untouched(source)
    middle, url = make_server_db("postgres")
    assert dbcopy("--from", source, "--to", middle)[1] is None
    untouched(middle)
    name = url.rsplit("/", 1)[1]
    other = second_postgres(name)  # the same database name, on another server
    out, exc = dbcopy("--from", middle, "--to", other, "--migrate", "--noinput")
    assert exc is None, out
    assert "verified" in out


def test_migrate_never_writes_to_the_source(make_sqlite, untouched, tmp_path):
    """The test app's data migration writes through `default`, as real ones do."""
    source, _ = make_sqlite()
    fill(source)
    m.Flag.objects.using(source).all().delete()  # the user removed the "welcome" row
    untouched(source)
    target = f"sqlite:///{tmp_path}/new.sqlite3"  # the docs' rollback command
    with as_default(source):
        out, exc = dbcopy("--from", "default", "--to", target, "--migrate", "--noinput")
    assert exc is None, out
    assert "verified" in out
    # The target's own "welcome" row was replaced by the source's data (none).
    alias = [a for a in connections.settings if a.startswith("dbcopy_to")][0]
    assert not m.Flag.objects.using(alias).exists()


@pytest.mark.parametrize("kind", KINDS)
def test_migrate_on_a_server_target_leaves_the_source_alone(kind, make_sqlite, make_server_db,
                                                            untouched):  # fmt: skip
    source, _ = make_sqlite()
    fill(source)
    m.Flag.objects.using(source).all().delete()
    untouched(source)
    target, _ = make_server_db(kind, migrate=False)
    with as_default(source):
        out, exc = dbcopy("--from", "default", "--to", target, "--migrate", "--noinput")
    assert exc is None, out
    assert not m.Flag.objects.using(target).exists()


def test_dry_run_never_migrates(make_sqlite, untouched, tmp_path, monkeypatch):
    source, _ = make_sqlite()
    fill(source)
    untouched(source)
    target = tmp_path / "empty.sqlite3"
    target.touch()
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("--dry-run asked a question"))
    out, exc = dbcopy("--from", source, "--to", f"sqlite:///{target}", "--dry-run", "--migrate")
    assert exc is not None and exc.returncode == 2
    assert "the target is not migrated" in out
    assert target.stat().st_size == 0  # no table was created


def test_source_connection_is_read_only(make_sqlite, untouched, tmp_path):
    """Belt and braces: the source is opened read-only, so no stray write can land."""
    from django_deploykit.dbcopy.endpoints import open_source

    source, _ = make_sqlite()
    fill(source)
    untouched(source)
    alias = open_source(source)
    with (
        pytest.raises(Exception, match="readonly|read-only|read only"),
        connections[alias].cursor() as cursor,
    ):
        cursor.execute("DELETE FROM dbcopy_app_tag")
    connections[alias].close()


@pytest.mark.parametrize("kind", KINDS)
def test_server_source_connection_is_read_only(kind, make_server_db, untouched):
    from django_deploykit.dbcopy.endpoints import open_source

    source, _ = make_server_db(kind)
    fill(source)
    untouched(source)
    alias = open_source(source)
    with pytest.raises(Exception, match="(?i)read.only"), connections[alias].cursor() as cursor:
        cursor.execute("DELETE FROM dbcopy_app_tag")
    connections[alias].close()


@pytest.mark.mariadb
def test_same_database_name_on_two_mariadb_servers_is_not_refused(
    make_sqlite, make_server_db, second_mariadb, untouched
):
    source, _ = make_sqlite()
    fill(source)
    untouched(source)
    middle, url = make_server_db("mariadb")
    assert dbcopy("--from", source, "--to", middle)[1] is None
    untouched(middle)
    other = second_mariadb(url.rsplit("/", 1)[1])  # the same name, on another server
    out, exc = dbcopy("--from", middle, "--to", other, "--migrate", "--noinput")
    assert exc is None, out
    assert "verified" in out


@pytest.fixture
def second_mariadb(db_access):
    """A second MariaDB server (a fresh data directory, loopback only) for one test."""
    import shutil
    import socket
    import subprocess
    import tempfile
    import time

    from tests.dbcopy_support import forget, register

    install = shutil.which("mariadb-install-db")
    server = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    if not install or not Path(server).exists():
        pytest.skip("no mariadb-install-db/mariadbd on this machine")
    data = Path(tempfile.mkdtemp(prefix="deploykit-maria2-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([install, "--no-defaults", f"--datadir={data}/db", "--user=root",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    proc = subprocess.Popen([server, "--no-defaults", f"--datadir={data}/db", "--user=root",
                             f"--port={port}", "--bind-address=127.0.0.1",
                             f"--socket={data}/sock", "--skip-log-bin"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"mysql://root@127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            admin = register(f"{base}/mysql", "admin")
            try:
                connections[admin].ensure_connection()
                break
            except Exception:
                assert time.monotonic() < deadline, "the second MariaDB did not start"
                time.sleep(0.2)
            finally:
                forget(admin)

        def make(name: str) -> str:
            admin = register(f"{base}/mysql", "admin")
            with connections[admin].cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
            forget(admin)
            return f"{base}/{name}"

        yield make
    finally:
        for alias in [a for a in connections.settings if a.startswith("dbcopy_")]:
            connections[alias].close()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def second_postgres(db_access):
    """A second PostgreSQL server (initdb in a temp dir, loopback only) for one test."""
    import glob
    import shutil
    import socket
    import subprocess

    from tests.dbcopy_support import forget, register

    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"))  # Debian keeps them off PATH
    initdb = shutil.which("initdb") or (debian and f"{debian[-1]}/initdb")
    pg_ctl = shutil.which("pg_ctl") or (debian and f"{debian[-1]}/pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("no initdb/pg_ctl on this machine")
    import tempfile

    # pytest's temp dirs are private to root; the server runs as the postgres user.
    data = Path(tempfile.mkdtemp(prefix="deploykit-pg2-"))
    os.chmod(data, 0o777)
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*as_postgres, initdb, "-D", str(data / "db"), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    subprocess.run([*as_postgres, pg_ctl, "-D", str(data / "db"), "-w", "-t", "60", "-l",
                    str(data / "log"), "-o", f"-p {port} -k {data} -h 127.0.0.1", "start"],
                   check=True, capture_output=True, timeout=90)  # fmt: skip
    made: list[str] = []

    def make(name: str) -> str:
        admin = register(f"postgres://postgres@127.0.0.1:{port}/postgres", "admin")
        connections[admin].ensure_connection()
        connections[admin].connection.autocommit = True
        with connections[admin].cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        forget(admin)
        made.append(name)
        return f"postgres://postgres@127.0.0.1:{port}/{name}"

    try:
        yield make
    finally:
        for alias in [a for a in connections.settings if a.startswith("dbcopy_")]:
            connections[alias].close()
        subprocess.run([*as_postgres, pg_ctl, "-D", str(data / "db"), "-m", "immediate", "-w",
                        "stop"], capture_output=True, timeout=60, check=False)  # fmt: skip
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.parametrize("kind", ["sqlite", *KINDS])
def test_fingerprint_sees_every_kind_of_write(kind, make_sqlite, make_server_db):
    """The helper behind every "source untouched" check can fail: rows, a value, a
    sequence moved by a rolled-back insert."""
    alias = make_sqlite()[0] if kind == "sqlite" else make_server_db(kind)[0]
    fill(alias)
    before = fingerprint(alias)
    m.Tag.objects.using(alias).create(name="new")
    assert fingerprint(alias) != before
    before = fingerprint(alias)
    m.Tag.objects.using(alias).filter(name="new").update(name="neu")
    assert fingerprint(alias) != before
    if kind != "sqlite":
        before = fingerprint(alias)
        from django.db import transaction

        with pytest.raises(RuntimeError), transaction.atomic(using=alias):
            m.Author.objects.using(alias).create(name="rolled back")
            raise RuntimeError
        assert fingerprint(alias) != before  # the sequence moved on


@pytest.mark.django_db
def test_migrating_a_target_leaves_the_projects_default_connection_as_it_was(make_sqlite):
    """The default connection (here the test database, in memory, inside the test's
    transaction) is set aside while the target is migrated, not closed."""
    from django_deploykit.dbcopy.migrate import migrate_target

    m.Tag.objects.create(name="only in the test database")
    flags = list(m.Flag.objects.values_list("name", "on"))
    target, _ = make_sqlite()
    connections[target].close()
    with connections[target].cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'dbcopy_app' AND name IN "
                       "('0003_welcome_flag', '0004_postgres_only_index')")  # fmt: skip
    m.Flag.objects.using(target).all().delete()
    migrate_target(target)  # runs 0003 (and 0004, a no-op on SQLite) again
    assert m.Tag.objects.filter(name="only in the test database").exists()
    assert m.Flag.objects.using(target).filter(name="welcome").exists()
    assert list(m.Flag.objects.values_list("name", "on")) == flags  # nothing landed here
