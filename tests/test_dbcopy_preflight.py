"""Each pre-flight finding: reported with table/pk/column, exit 2, nothing written."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from django_deploykit.dbcopy import Options, dbcopy
from django_deploykit.dbcopy.plan import build_plan
from django_deploykit.dbcopy.preflight import AUTO_FILLED
from django_deploykit.dbcopy.state import StateTable
from tests.dbcopy_data import fill, present
from tests.dbcopy_support import fingerprint

pytest_plugins = ["tests.dbcopy_support"]
pytestmark = [pytest.mark.usefixtures("db_access"), pytest.mark.mariadb]


@pytest.fixture
def pair(make_sqlite, make_server_db):
    source, _ = make_sqlite()
    fill(source)
    target, _ = make_server_db("mariadb")
    return source, target


def sql(alias: str, *statements: str) -> None:
    with connections[alias].cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def run(source: str, target: str) -> dict:
    """Run the command; assert exit 2, an untouched source and target; return the report."""
    out = StringIO()
    before = fingerprint(source), fingerprint(target)
    with pytest.raises(CommandError) as exc:
        call_command("dbcopy", "--from", source, "--to", target, "--json", stdout=out)
    assert (fingerprint(source), fingerprint(target)) == before
    assert exc.value.returncode == 2
    assert "nothing was written" in str(exc.value)
    assert_untouched(target)
    report = json.loads(out.getvalue())
    assert report["copied"] is False
    return report


def assert_untouched(target: str) -> None:
    assert not StateTable(connections[target]).exists()
    with connections[target].cursor() as cursor:
        for table in present(target, build_plan().tables):
            if table.name not in AUTO_FILLED and table.name != "dbcopy_app_flag":
                cursor.execute(f"SELECT COUNT(*) FROM {table.name}")
                assert cursor.fetchone()[0] == 0, table.name


def errors(report: dict, code: str) -> list[dict]:
    return [p for p in report["problems"] if p["code"] == code and p["severity"] == "error"]


def test_target_charset_not_utf8mb4(pair):
    source, target = pair
    sql(target, "ALTER TABLE dbcopy_app_author CONVERT TO CHARACTER SET utf8mb3")
    found = errors(run(source, target), "charset")
    assert {(p["table"], p["column"]) for p in found} == {("dbcopy_app_author", "name")}
    assert "utf8mb4" in found[0]["fix"]


def test_text_longer_than_max_length(pair):
    source, target = pair
    sql(source, "UPDATE dbcopy_app_book SET title = printf('%.250c', 'x') WHERE id = 3")
    [found] = errors(run(source, target), "max_length")
    assert (found["table"], found["pk"], found["column"]) == ("dbcopy_app_book", "3", "title")
    assert "250 characters" in found["message"] and "200" in found["message"]


def test_wrong_type_stored_by_sqlite_affinity(pair):
    source, target = pair
    sql(source, "UPDATE dbcopy_app_book SET price = 'N/A' WHERE id = 2",
        "UPDATE dbcopy_app_everything SET datetime = 'yesterday' WHERE id = 1")  # fmt: skip
    found = {(p["table"], p["pk"], p["column"]) for p in errors(run(source, target), "type")}
    assert found == {("dbcopy_app_book", "2", "price"), ("dbcopy_app_everything", "1", "datetime")}


def test_primary_key_zero(pair):
    source, target = pair
    sql(source, "INSERT INTO dbcopy_app_tag (id, name) VALUES (0, 'zero')")
    [found] = errors(run(source, target), "pk_zero")
    assert (found["table"], found["pk"], found["column"]) == ("dbcopy_app_tag", "0", "id")


def test_values_colliding_under_target_collation(pair):
    source, target = pair
    # "Bob" and "café" exist already: case, accents and trailing spaces all collide.
    sql(source, "INSERT INTO dbcopy_app_tag (name) VALUES ('bob'), ('cafe'), ('x ')")
    found = errors(run(source, target), "collation")
    assert {p["table"] for p in found} == {"dbcopy_app_tag"}
    assert len(found) == 3
    assert all(p["column"] == "name" and "2 rows" in p["message"] for p in found)


def test_unique_index_over_innodb_key_limit(pair, untouched):
    source, target = pair
    untouched(source)
    report = dbcopy(source, target, Options(dry_run=True))
    [found] = [p for p in report.problems if p.code == "key_length"]
    assert (found.table, found.column) == ("dbcopy_app_longkey", "code")
    assert "3200 bytes" in found.message
    # MariaDB >= 10.4 built a HASH index instead, so it warns; MySQL could not build it.
    assert found.severity == ("warning" if connections[target].mysql_is_mariadb else "error")


def test_orphaned_foreign_key_in_source(pair):
    source, target = pair
    sql(source, "PRAGMA foreign_keys = OFF",
        "UPDATE dbcopy_app_book SET author_id = 4242 WHERE id = 5")  # fmt: skip
    [found] = errors(run(source, target), "orphan_fk")
    assert (found["table"], found["pk"], found["column"]) == ("dbcopy_app_book", "5", "author_id")
    assert "4242" in found["message"]


def test_row_larger_than_max_allowed_packet(pair):
    source, target = pair
    with connections[target].cursor() as cursor:
        cursor.execute("SELECT @@max_allowed_packet")
        packet = cursor.fetchone()[0]
    sql(source, f"UPDATE dbcopy_app_everything SET text = printf('%.{packet}c', 'y') WHERE id = 2")
    [found] = errors(run(source, target), "packet")
    assert (found["table"], found["pk"]) == ("dbcopy_app_everything", "2")


def test_every_problem_in_one_report(pair):
    source, target = pair
    sql(source, "PRAGMA foreign_keys = OFF",
        "UPDATE dbcopy_app_book SET title = printf('%.250c', 'x') WHERE id = 3",
        "UPDATE dbcopy_app_book SET price = 'N/A' WHERE id = 2",
        "INSERT INTO dbcopy_app_tag (id, name) VALUES (0, 'bob')",
        "UPDATE dbcopy_app_book SET author_id = 4242 WHERE id = 5")  # fmt: skip
    sql(target, "ALTER TABLE dbcopy_app_person CONVERT TO CHARACTER SET latin1")
    report = run(source, target)
    codes = {p["code"] for p in report["problems"] if p["severity"] == "error"}
    assert codes == {"max_length", "type", "pk_zero", "collation", "orphan_fk", "charset"}


def test_non_empty_target_is_refused(pair, untouched):
    source, target = pair
    untouched(source)
    sql(target, "INSERT INTO dbcopy_app_person (name) VALUES ('mine')")
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("dbcopy", "--from", source, "--to", target, stdout=out)
    assert exc.value.returncode == 2
    assert "[not_empty] dbcopy_app_person" in out.getvalue()
    assert "--truncate" in out.getvalue()
    with connections[target].cursor() as cursor:
        cursor.execute("SELECT name FROM dbcopy_app_person")
        assert cursor.fetchall() == (("mine",),)


def test_unmigrated_target_can_be_migrated_by_the_command(make_sqlite, make_server_db,
                                                          untouched):  # fmt: skip
    source, _ = make_sqlite()
    fill(source)
    untouched(source)
    target, _ = make_server_db("mariadb", migrate=False)
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("dbcopy", "--from", source, "--to", target, "--no-input", stdout=out)
    assert exc.value.returncode == 2 and "the target is not migrated" in out.getvalue()
    call_command("dbcopy", "--from", source, "--to", target, "--no-input", "--migrate",
                 stdout=out)  # fmt: skip
    assert "verified" in out.getvalue()


def test_bad_input_is_a_usage_error(make_sqlite):
    source, _ = make_sqlite()
    for argv, text in [
        (["--to", "nowhere"], "neither a DATABASES alias"),
        (["--to", "ftp://x/y"], "cannot parse the database URL"),
        (["--to", source], "same database"),
        (["--to", "sqlite:////nonexistent/x.sqlite3", "--models", "nope"], "no such app or model"),
        (["--to", source, "--batch-size", "0"], "--batch-size"),
        (["--to", source, "--keep-dangling", "dbcopy_app.Book.nope"], "no such field"),
        (["--to", source, "--keep-dangling", "dbcopy_app.Book.title"], "not a foreign key"),
    ]:
        with pytest.raises(CommandError) as exc:
            call_command("dbcopy", "--from", source, *argv, stdout=StringIO())
        assert exc.value.returncode == 2 and text in str(exc.value), argv
