"""Comparing an index's declared settings with the live index's.

Only the settings a declaration names are compared (Meilisearch returns every
setting with its default). Attribute sets that Meilisearch stores unordered
(filterable, sortable, stop words...) compare as sets; ordered lists
(searchable attributes, ranking rules) compare in order; objects compare on the
keys declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django_deploykit.search.client import SearchClient
from django_deploykit.search.indexes import SearchIndex

__all__ = ["SettingDiff", "index_drift", "settings_diff"]

_UNORDERED = {
    "filterableAttributes",
    "sortableAttributes",
    "stopWords",
    "dictionary",
    "separatorTokens",
    "nonSeparatorTokens",
}


@dataclass(frozen=True)
class SettingDiff:
    key: str
    live: Any
    declared: Any

    def as_dict(self) -> dict[str, Any]:
        return {"setting": self.key, "live": self.live, "declared": self.declared}


def _same(key: str, declared: Any, live: Any) -> bool:
    if isinstance(declared, dict) and isinstance(live, dict):
        return all(_same(f"{key}.{k}", v, live.get(k)) for k, v in declared.items())
    if key in _UNORDERED and isinstance(declared, list) and isinstance(live, list):
        return sorted(map(repr, declared)) == sorted(map(repr, live))
    return bool(declared == live)


def settings_diff(declared: dict[str, Any], live: dict[str, Any] | None) -> list[SettingDiff]:
    """The declared settings whose live value differs (all of them if no live index)."""
    live = live or {}
    return [
        SettingDiff(key, live.get(key), value)
        for key, value in declared.items()
        if key not in live or not _same(key, value, live[key])
    ]


def index_drift(client: SearchClient, index: SearchIndex) -> tuple[bool, list[SettingDiff]]:
    """(live index exists, settings that drifted from the declaration)."""
    if client.index_info(index.uid) is None:
        return False, settings_diff(index.settings, None)
    live = client.call(client.index(index.uid).get_settings)
    return True, settings_diff(index.settings, live)
