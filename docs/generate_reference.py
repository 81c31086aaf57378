"""Write the docs' reference tables from the code's single sources of truth.

* environment variables: ``django_deploykit.env.variables.VARIABLES``
* settings: ``django_deploykit.conf.SETTINGS``
* management commands: each command's real argparse parser and its module's
  "Exit codes" paragraph

Needs a configured Django (``docs/conf.py`` does it); no Sphinx import.
"""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

from django_deploykit.conf import SETTINGS
from django_deploykit.env.variables import GROUPS, VARIABLES


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: auto", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines) + "\n"


def _text(value: str) -> str:
    """Prose from the code, with reST markup characters escaped."""
    return re.sub(r"([*`|_\\])", r"\\\1", value)


def _code(value: str) -> str:
    return f"``{value}``" if value else "*(empty)*"


def env_table() -> str:
    out = []
    for group, title in GROUPS.items():
        rows = [
            [
                f"``{v.name}``",
                _code(v.default),
                v.type,
                "yes (also ``" + v.name + "_FILE``)" if v.secret else "no",
                _text(v.help),
            ]
            for v in VARIABLES
            if v.group == group
        ]
        if rows:
            out.append(f"{title}\n{'~' * len(title)}\n\n")
            out.append(_table(["Variable", "Default", "Type", "Secret", "Meaning"], rows))
            out.append("\n")
    return "".join(out)


def settings_table() -> str:
    rows = [[f"``{s.name}``", s.type_name, f"``{s.default!r}``", s.doc] for s in SETTINGS.values()]
    return _table(["Setting", "Type", "Default", "Meaning"], rows)


def write_all(directory: Path) -> None:
    directory.mkdir(exist_ok=True)
    for name, text in {
        "env_table.rst": env_table(),
        "settings_table.rst": settings_table(),
        "commands.rst": commands_page(),
    }.items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


# --- management commands -------------------------------------------------------------

#: Options every Django command has; listed once on the page, not per command.
DJANGO_OPTIONS = frozenset(
    {"help", "version", "verbosity", "settings", "pythonpath", "traceback", "no_color",
     "force_color", "skip_checks"}
)  # fmt: skip
#: The guide that explains a command, when that page exists.
GUIDES = {
    "dbcopy": "dbcopy",
    "deploy": "deploying",
    "dockerize": "dockerize",
    "healthcheck": "health",
    "migrate_locked": "scaling-out",
    "reindex_search": "search",
    "wait_for_db": "health",
    "wait_for_migrations": "scaling-out",
}


def command_names() -> list[str]:
    """Every management command the app ships (what ``manage.py help`` lists)."""
    from django.core.management import find_commands

    return sorted(find_commands(str(Path(__file__).resolve().parent.parent
                                    / "django_deploykit" / "management")))  # fmt: skip


def command_parser(name: str) -> argparse.ArgumentParser:
    """The command's real parser, exactly what ``manage.py <name>`` parses with."""
    from django.core.management import load_command_class

    return load_command_class("django_deploykit", name).create_parser("manage.py", name)


def exit_codes(name: str) -> str:
    """The "Exit codes" paragraph of the command module's docstring (as ``--help`` ends)."""
    from django_deploykit.management.base import exit_codes as paragraph

    module = importlib.import_module(f"django_deploykit.management.commands.{name}")
    return paragraph(module.__name__)


def own_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if a.dest not in DJANGO_OPTIONS and not isinstance(a, argparse._SubParsersAction)
    ]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def option_flags(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string a command (or one of its subcommands) accepts."""
    flags = {s for a in parser._actions for s in a.option_strings}
    for sub in subcommands(parser).values():
        flags |= option_flags(sub)
    return flags


def _rows(actions: list[argparse.Action]) -> list[tuple[str, list[str]]]:
    """(key, [option, value, default, meaning]); a --x/--no-x pair is one row."""
    rows: list[tuple[str, list[str]]] = []
    for action in actions:
        flags = ", ".join(f"``{s}``" for s in action.option_strings)
        paired = isinstance(action, argparse._StoreFalseAction) and rows
        if paired and rows[-1][0] == f"{action.dest}:pair":
            rows[-1][1][0] += f" / {flags}"
            rows[-1][1][3] += f" / {_text(action.help or '')}"
            continue
        if not action.option_strings:  # positional
            flags = f"``{action.metavar or action.dest}``"
        flag_like = isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
        if flag_like:
            value = "flag"
        elif action.choices:
            value = " | ".join(f"``{c}``" for c in action.choices)
        else:
            value = f"``{action.metavar or action.dest.upper()}``"
        if action.nargs in ("+", "*"):
            value += " …"
        if isinstance(action, argparse._AppendAction):
            value += " (repeatable)"
        default = action.default
        if flag_like or default in (None, [], argparse.SUPPRESS):
            shown = "" if action.option_strings or action.nargs != "?" else "optional"
        else:
            shown = f"``{default}``"
        positional_required = not action.option_strings and action.nargs not in ("?", "*")
        if positional_required or getattr(action, "required", False):
            shown = "required"
        key = f"{action.dest}:pair" if isinstance(action, argparse._StoreTrueAction) else ""
        if isinstance(action, argparse._StoreTrueAction) and default is None:
            shown = "detected"
        rows.append((key, [flags, value, shown, _text(action.help or _help(action))]))
    return rows


def _help(action: argparse.Action) -> str:
    """Words for an option its command left without help text."""
    if action.dest == "interactive":
        return "never prompt (for scripts and CI)"
    if isinstance(action, argparse._StoreFalseAction):
        return f"turn {action.dest.replace('_', ' ')} off"
    return ""


_HEADER = ["Option", "Value", "Default", "Meaning"]


def command_section(name: str) -> str:
    parser = command_parser(name)
    title = f"``manage.py {name}``"
    out = [f".. _command-{name}:\n\n{title}\n{'-' * len(title)}\n\n"]
    out.append(_text(parser.description or "") + "\n\n")
    guide = GUIDES.get(name)
    if guide and (Path(__file__).resolve().parent / f"{guide}.rst").exists():
        out.append(f"Guide: :doc:`/{guide}`.\n\n")
    subs = subcommands(parser)
    if subs:
        out.append("Actions: " + ", ".join(f"``{s}``" for s in subs) + ".\n\n")
        rows = [[*r, "all"] for _, r in _rows(own_actions(parser))]
        # One table for all actions, with the actions that accept each option.
        seen: dict[str, tuple[list[str], list[str]]] = {}
        for action_name, sub in subs.items():
            for _, row in _rows(own_actions(sub)):
                seen.setdefault(row[0], (row, []))[1].append(action_name)
        for row, names in seen.values():
            where = "all" if len(names) == len(subs) else ", ".join(f"``{n}``" for n in names)
            rows.append([row[0], row[1], row[2], row[3], where])
        out.append(_table([*_HEADER, "Actions"], rows))
    else:
        rows = [r for _, r in _rows(own_actions(parser))]
        out.append(_table(_HEADER, rows) if rows else "No options of its own.\n")
    out.append(f"\n{exit_codes(name)}\n\n")
    return "".join(out)


def commands_page() -> str:
    return "".join(command_section(name) for name in command_names())
