"""Every deploykit command looks alike: exit codes at the end of ``--help`` (also each
subcommand's), Django-style help on every option, colour through ``self.style``, no
private ``OutputWrapper._out``; ``migrate_locked`` passes migrate's flags through."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest
from django.core.management import call_command, get_commands, load_command_class

import django_deploykit

COMMANDS = sorted(name for name, app in get_commands().items() if app == "django_deploykit")
# Options every Django command has; Django's own help text covers them.
DJANGO_OPTIONS = {
    "help",
    "version",
    "verbosity",
    "settings",
    "pythonpath",
    "traceback",
    "no_color",
    "force_color",
    "skip_checks",
}
SOURCES = Path(django_deploykit.__file__).parent / "management" / "commands"


def parsers(name: str) -> dict[str, argparse.ArgumentParser]:
    parser = load_command_class("django_deploykit", name).create_parser("manage.py", name)
    found = {name: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found |= {f"{name} {sub}": p for sub, p in action.choices.items()}
    return found


def test_the_package_has_its_commands() -> None:
    assert {"dockerize", "deploy", "dbcopy", "healthcheck", "migrate_locked"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_ends_with_the_exit_codes(name: str) -> None:
    for label, parser in parsers(name).items():
        text = parser.format_help()
        tail = text[text.rindex("Exit codes") :] if "Exit codes" in text else ""
        assert tail.startswith("Exit codes: 0"), f"{label} --help does not say its exit codes"
        assert " 2 " in tail.replace("\n", " ") or name == "healthcheck", tail


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_a_capitalised_help(name: str) -> None:
    bad = []
    for label, parser in parsers(name).items():
        for action in parser._actions:
            if action.dest in DJANGO_OPTIONS or isinstance(action, argparse._SubParsersAction):
                continue
            text = action.help or ""
            if not text[:1].isupper():
                bad.append(f"{label} {'/'.join(action.option_strings) or action.dest}: {text!r}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", COMMANDS)
def test_output_goes_through_public_api_and_style(name: str) -> None:
    source = (SOURCES / f"{name}.py").read_text()
    assert "._out" not in source
    assert "self.style." in source, f"{name} never colours its output"
    assert "class Command(DeployKitCommand)" in source


@pytest.mark.django_db
def test_migrate_locked_passes_plan_and_check_to_migrate() -> None:
    out = io.StringIO()
    call_command("migrate_locked", "--plan", stdout=out)
    assert "Planned operations:" in out.getvalue()
    # Everything is migrated in the test database: --check finds nothing and exits 0.
    call_command("migrate_locked", "--check", stdout=io.StringIO())
