"""What every deploykit command shares: its exit codes at the end of ``--help``.

The codes are written once, in the "Exit codes" paragraph of the command module's
docstring; ``--help`` (of the command and of each subcommand) and the generated
command reference both read them from there.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

__all__ = ["DeployKitCommand", "exit_codes"]


def exit_codes(module_name: str) -> str:
    """The "Exit codes" paragraph of a command module's docstring, on one line."""
    doc = sys.modules[module_name].__doc__ or ""
    for paragraph in doc.split("\n\n"):
        start = paragraph.find("Exit codes")
        if start >= 0:
            return " ".join(paragraph[start:].split())
    raise LookupError(f"{module_name}'s docstring has no 'Exit codes' paragraph.")


class DeployKitCommand(BaseCommand):
    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        epilog = exit_codes(type(self).__module__)
        parser = super().create_parser(prog_name, subcommand, epilog=epilog, **kwargs)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    sub.epilog = sub.epilog or epilog
        return parser
