"""The shapes of real projects that broke dbcopy: found before writing, or copied as meant.

Every test fingerprints the source (and, where nothing may be written, the target) and
checks it is unchanged at the end.
"""

from __future__ import annotations

import json
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from django_deploykit.dbcopy.state import StateTable
from tests.dbcopy_app import models as m
from tests.dbcopy_data import fill
from tests.dbcopy_support import fingerprint

pytest_plugins = ["tests.dbcopy_support"]
pytestmark = pytest.mark.usefixtures("db_access")

KINDS = [pytest.param("mariadb", marks=pytest.mark.mariadb),
         pytest.param("postgres", marks=pytest.mark.postgres)]  # fmt: skip


def sql(alias: str, *statements: str) -> None:
    with connections[alias].cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def dbcopy(*argv: str) -> tuple[dict, CommandError | None]:
    out = StringIO()
    try:
        call_command("dbcopy", *argv, "--json", stdout=out, stderr=StringIO())
    except CommandError as exc:
        return (json.loads(out.getvalue()) if out.getvalue() else {}), exc
    return json.loads(out.getvalue()), None


def refused(source: str, target: str, *extra: str) -> dict:
    """dbcopy must refuse with exit 2 and write nothing to the target."""
    before = fingerprint(target)
    report, exc = dbcopy("--from", source, "--to", target, *extra)
    assert exc is not None and exc.returncode == 2, report
    assert "nothing was written" in str(exc)
    assert fingerprint(target) == before
    return report


def problems(report: dict, code: str, severity: str = "error") -> list[dict]:
    return [p for p in report["problems"] if p["code"] == code and p["severity"] == severity]


@pytest.fixture
def source(make_sqlite):
    alias, _ = make_sqlite()
    fill(alias)
    return alias


@pytest.mark.postgres
def test_a_table_that_differs_per_database_is_found_before_writing(source, make_server_db,
                                                                   untouched):  # fmt: skip
    m.SearchEntry.objects.using(source).create(title="t", body="it's a (test): café & co")
    untouched(source)
    target, _ = make_server_db("postgres")
    [found] = problems(refused(source, target), "schema")
    assert (found["table"], found["column"]) == ("dbcopy_app_searchentry", "body")
    assert "tsvector" in found["message"] and "--exclude dbcopy_app" in found["fix"]
    assert "own command" in found["fix"]
    # Leaving the model out, the rest copies and verifies; the report says what was left.
    report, exc = dbcopy("--from", source, "--to", target, "--exclude", "dbcopy_app.SearchEntry")
    assert exc is None and report["verified"], report
    assert {"table": "dbcopy_app_searchentry",
            "reason": "model dbcopy_app.SearchEntry is left out by --models/--exclude"
            } in report["not_copied"]  # fmt: skip


@pytest.mark.mariadb
def test_a_not_null_column_only_the_target_has_is_found(source, make_server_db, untouched):
    untouched(source)
    target, _ = make_server_db("mariadb")
    sql(target, "ALTER TABLE dbcopy_app_author ADD COLUMN region INT NOT NULL")
    [found] = problems(refused(source, target), "schema")
    assert (found["table"], found["column"]) == ("dbcopy_app_author", "region")
    assert "NOT NULL" in found["message"]


@pytest.mark.mariadb
def test_a_uuid_mariadb_refuses_is_found_by_the_server(source, make_server_db, untouched):
    sql(source, "UPDATE dbcopy_app_everything SET uuid = '9531985d5d9dc9f81818e811892f902b' "
                "WHERE id = 1")  # fmt: skip
    untouched(source)
    target, _ = make_server_db("mariadb")
    if connections[target].mysql_version < (10, 7):
        pytest.skip("MariaDB before 10.7 has no native UUID type")
    [found] = problems(refused(source, target), "refused")
    assert (found["table"], found["pk"], found["column"]) == ("dbcopy_app_everything", "1", "uuid")
    assert "9531985d" in found["message"]


@pytest.mark.postgres
def test_nul_characters_are_found_before_postgresql_refuses_them(source, make_server_db,
                                                                 untouched):  # fmt: skip
    json_with_nul = '{"k": "x\\u0000y"}'
    sql(source, "UPDATE dbcopy_app_author SET name = 'a' || char(0) || 'b' WHERE id = 2",
        f"UPDATE dbcopy_app_everything SET json = '{json_with_nul}' WHERE id = 1")  # fmt: skip
    untouched(source)
    target, _ = make_server_db("postgres")
    found = {(p["table"], p["pk"], p["column"]) for p in problems(refused(source, target), "nul")}
    assert found == {("dbcopy_app_author", "2", "name"), ("dbcopy_app_everything", "1", "json")}


@pytest.mark.mariadb
def test_a_latin1_target_with_emoji_is_reported_not_crashed(source, make_server_db, untouched):
    m.Tag.objects.using(source).create(name="party 🎉")
    untouched(source)
    target, _ = make_server_db("mariadb", charset="latin1")
    found = problems(refused(source, target), "charset")
    assert ("dbcopy_app_tag", "name") in {(p["table"], p["column"]) for p in found}


REFUSE = {
    "mariadb": ["CREATE TRIGGER refuse BEFORE INSERT ON dbcopy_app_node FOR EACH ROW "
                "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'the disk is full'"],
    "postgres": ["CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                 "$$ BEGIN RAISE EXCEPTION 'the disk is full'; END $$",
                 "CREATE TRIGGER refuse BEFORE INSERT ON dbcopy_app_node FOR EACH ROW "
                 "EXECUTE FUNCTION refuse()"],
}  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_a_failure_mid_copy_leaves_a_marked_target_and_a_message(
    kind, make_sqlite, make_server_db, untouched
):
    source, _ = make_sqlite()
    fill(source)
    untouched(source)
    target, _ = make_server_db(kind)
    # The server refuses one table's rows for a reason no pre-flight can see.
    sql(target, *REFUSE[kind])
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("dbcopy", "--from", source, "--to", target, stdout=out, stderr=err)
    message = str(exc.value)
    assert exc.value.returncode == 1
    assert "dbcopy_app_node" in message and "the disk is full" in message, message
    assert "--resume" in message
    connections[target].close()
    state = StateTable(connections[target])
    assert state.exists() and "dbcopy_app_author" in state.done()
    assert "dbcopy_app_node" not in state.done()
    assert not m.Node.objects.using(target).exists()  # its group was rolled back
    sql(target, "DROP TRIGGER refuse" + (" ON dbcopy_app_node" if kind == "postgres" else ""))
    report, failed = dbcopy("--from", source, "--to", target, "--resume")
    assert failed is None and report["verified"], report


@pytest.mark.parametrize("kind", KINDS)
def test_dangling_ids_without_a_constraint_are_copied_as_they_are(kind, source, make_server_db,
                                                                  untouched):  # fmt: skip
    author = m.Author.objects.using(source).create(name="gone")
    m.AuditEntry.objects.using(source).create(author_id=author.pk, action="deleted")
    m.Author.objects.using(source).filter(pk=author.pk).delete()  # the log keeps its id
    untouched(source)
    target, _ = make_server_db(kind)
    report, exc = dbcopy("--from", source, "--to", target)
    assert exc is None and report["verified"], report
    [found] = problems(report, "dangling_fk", "warning")
    assert found["table"] == "dbcopy_app_auditentry" and "db_constraint=False" in found["message"]
    assert m.AuditEntry.objects.using(target).get().author_id == author.pk


@pytest.mark.parametrize("kind", KINDS)
def test_keep_dangling_accepts_known_dangling_references(kind, source, make_server_db,
                                                         untouched):  # fmt: skip
    sql(source, "PRAGMA foreign_keys = OFF",
        "UPDATE dbcopy_app_book SET author_id = 4242 WHERE id = 5")  # fmt: skip
    untouched(source)
    target, _ = make_server_db(kind)
    [found] = problems(refused(source, target), "orphan_fk")
    if kind == "postgres":  # the target checks the constraint at commit: no way round it
        assert "PostgreSQL checks this foreign key" in found["fix"]
        return
    assert "--keep-dangling dbcopy_app.Book.author" in found["fix"]
    report, exc = dbcopy("--from", source, "--to", target, "--keep-dangling",
                         "dbcopy_app.Book.author")  # fmt: skip
    assert exc is None and report["verified"], report
    assert m.Book.objects.using(target).get(pk=5).author_id == 4242


@pytest.mark.mariadb
def test_nulls_in_a_unique_column_are_not_collisions(source, make_server_db, untouched):
    m.Voucher.objects.using(source).bulk_create(
        [m.Voucher(code=None), m.Voucher(code=None), m.Voucher(code="A"), m.Voucher(code=None)]
    )
    untouched(source)
    target, _ = make_server_db("mariadb")
    report, exc = dbcopy("--from", source, "--to", target)
    assert exc is None and report["verified"], report
    assert not problems(report, "collation")


@pytest.mark.mariadb
def test_rows_made_by_the_targets_own_migrations(source, make_server_db, untouched):
    """Identical rows (a data migration both sides ran) are replaced; a changed one blocks."""
    m.Flag.objects.using(source).filter(name="welcome").update(on=False)  # edited since
    untouched(source)
    target, _ = make_server_db("mariadb")  # migrated by the user: has its own "welcome"
    [found] = problems(refused(source, target), "not_empty")
    assert found["table"] == "dbcopy_app_flag" and "pk=1" in found["message"]
    assert "--truncate" in found["fix"]
    m.Flag.objects.using(target).filter(name="welcome").update(on=False)  # now identical
    report, exc = dbcopy("--from", source, "--to", target)
    assert exc is None and report["verified"], report


def test_tables_that_are_not_copied_are_listed_with_the_reason(source, make_sqlite, untouched):
    sql(source, "CREATE VIRTUAL TABLE page_fts USING fts5(body)",
        "CREATE TABLE legacy_notes (id INTEGER PRIMARY KEY, note TEXT)")  # fmt: skip
    untouched(source)
    target, _ = make_sqlite()
    report, exc = dbcopy("--from", source, "--to", target, "--dry-run")
    assert exc is None, report
    reasons = {t["table"]: t["reason"] for t in report["not_copied"]}
    assert {"page_fts", "page_fts_data", "legacy_notes", "django_migrations"} <= set(reasons)
    assert "full-text" in reasons["page_fts_data"]
    assert "migration history" in reasons["django_migrations"]


@pytest.mark.mariadb
def test_verify_only_compares_an_existing_copy(source, make_server_db, untouched):
    untouched(source)
    target, _ = make_server_db("mariadb")
    assert dbcopy("--from", source, "--to", target)[1] is None
    before = fingerprint(target)
    report, exc = dbcopy("--from", source, "--to", target, "--verify-only")
    assert exc is None and report["verified"] and not report["copied"], report
    assert fingerprint(target) == before
    m.UuidKey.objects.using(target).filter(pk=uuid.UUID(int=3 * 7919)).update(label="changed")
    m.Tag.objects.using(target).filter(name="x").delete()
    report, exc = dbcopy("--from", source, "--to", target, "--verify-only")
    assert exc is not None and exc.returncode == 1
    text = " ".join(report["mismatches"])
    assert (
        f"dbcopy_app_uuidkey: same row count (5) but pk={uuid.UUID(int=3 * 7919)} differs" in text
    )
    assert "dbcopy_app_tag: 4 rows in the source, 3 in the target: pk=4 missing" in text


@pytest.mark.mariadb
def test_the_documented_database_and_dbcopys_connection_agree_on_collation(db_access):
    """Made exactly as docs/dbcopy.rst says, the database's collation is the connection's."""
    import os
    import re
    from pathlib import Path

    from django_deploykit.dbcopy.endpoints import resolve
    from tests.dbcopy_support import forget, register

    docs = (Path(__file__).resolve().parent.parent / "docs" / "dbcopy.rst").read_text()
    [create] = re.findall(r"CREATE DATABASE mysite[^;]*;", docs)
    name = f"deploykit_dbcopy_docs_{os.getpid()}"
    url = os.environ["DEPLOYKIT_TEST_MARIADB_URL"]
    admin = register(url, "admin")
    sql(admin, f"DROP DATABASE IF EXISTS {name}", create.replace("mysite", name).rstrip(";"))
    try:
        alias = resolve(f"{url.rsplit('/', 1)[0]}/{name}", "to")
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT @@collation_connection, @@collation_database")
            connection_collation, database_collation = cursor.fetchone()
        connections[alias].close()
        assert connection_collation == database_collation
    finally:
        sql(admin, f"DROP DATABASE IF EXISTS {name}")
        forget(admin)


@pytest.mark.postgres
def test_a_table_only_one_database_has_is_listed_not_refused(source, make_server_db, untouched):
    """Both sides applied the same migrations; the app builds the table on PostgreSQL
    only (as Wagtail does for its search index): not copied, and said so."""
    untouched(source)
    target, _ = make_server_db("postgres")
    m.PostgresOnlyIndex.objects.using(target).create(document="rebuilt by its own command")
    report, exc = dbcopy("--from", source, "--to", target)
    assert exc is None and report["verified"], report
    reasons = {t["table"]: t["reason"] for t in report["not_copied"]}
    assert "on postgresql but not on sqlite" in reasons["dbcopy_app_postgresonlyindex"]
    # and back: the PostgreSQL table is not copied into SQLite either
    untouched(target)
    report, _ = dbcopy("--from", target, "--to", source, "--dry-run")
    assert "dbcopy_app_postgresonlyindex" not in {p["table"] for p in report["problems"]}
    assert "dbcopy_app_postgresonlyindex" in {t["table"] for t in report["not_copied"]}


@pytest.mark.mariadb
def test_a_server_error_outside_the_copy_is_one_message(source, make_server_db, untouched):
    """A hosted database whose user may write rows but not create (temporary) tables,
    which the pre-flight's probes and the checkpoint need. One message, exit 1."""
    import os

    from tests.dbcopy_support import forget, register

    untouched(source)
    target, url = make_server_db("mariadb")
    name = url.rsplit("/", 1)[1]
    user = f"dk_rows_{os.getpid()}"
    sql(target, f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'pw'",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name}.* TO '{user}'@'%'")  # fmt: skip
    limited = register(url.replace("root@", f"{user}:pw@"), "limited")
    try:
        with pytest.raises(CommandError) as exc:
            call_command("dbcopy", "--from", source, "--to", limited, stdout=StringIO())
        assert exc.value.returncode == 1
        assert "A database error stopped dbcopy" in str(exc.value)
        assert "denied" in str(exc.value) and "Traceback" not in str(exc.value)
    finally:
        forget(limited)
        sql(target, f"DROP USER '{user}'@'%'")
