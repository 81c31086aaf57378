"""The health tiers, named once. Standard library only: the container probe imports
it without Django."""

from __future__ import annotations

__all__ = ["PATHS", "TIERS"]

TIERS = ("live", "ready", "startup")
#: Each tier's URL under the health prefix (ready is the prefix itself).
PATHS = {"ready": "", "live": "live/", "startup": "startup/"}
