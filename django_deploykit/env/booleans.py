"""The words a true/false environment variable may hold: one list for every reader."""

from __future__ import annotations

__all__ = ["FALSE", "TRUE", "parse_bool"]

TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
FALSE = frozenset({"0", "false", "no", "off", "n", "f", ""})


def parse_bool(value: str) -> bool | None:
    """True or False for a known word (any case, spaces ignored), else None."""
    word = value.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    return None
