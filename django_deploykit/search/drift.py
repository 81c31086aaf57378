"""Comparing an index's declared settings with the live index's.

Only the settings a declaration names are compared (Meilisearch returns every
setting with its default), and both sides are first put in the form Meilisearch
stores them in (milli, the engine): set-like lists sorted and deduplicated, stop
words in Unicode compatibility form (case kept), typo-tolerance words lower-cased
without accents, a wildcard attribute list as ``["*"]``, nested objects merged
over the defaults field by field, ``None`` as the default. Otherwise ``--check``
would report drift right after a rebuild.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from django_deploykit.search.client import SearchClient
from django_deploykit.search.indexes import SearchIndex

__all__ = ["SettingDiff", "index_drift", "settings_diff", "stored_form"]

_SORTED_SETS = {"sortableAttributes", "separatorTokens", "nonSeparatorTokens", "dictionary"}
# Defaults of the settings whose declared value is merged into, or replaced by, them.
_DEFAULTS: dict[str, Any] = {
    "displayedAttributes": ["*"],
    "searchableAttributes": ["*"],
    "filterableAttributes": [],
    "sortableAttributes": [],
    "stopWords": [],
    "separatorTokens": [],
    "nonSeparatorTokens": [],
    "dictionary": [],
    "synonyms": {},
    "typoTolerance": {
        "enabled": True,
        "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
        "disableOnWords": [],
        "disableOnAttributes": [],
    },
    "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
    "pagination": {"maxTotalHits": 1000},
}


@dataclass(frozen=True)
class SettingDiff:
    key: str
    live: Any
    declared: Any

    def as_dict(self) -> dict[str, Any]:
        return {"setting": self.key, "live": self.live, "declared": self.declared}


def _compat(word: str) -> str:
    # charabia's non-lossy normalisation: compatibility decomposition, no control chars.
    return "".join(
        c for c in unicodedata.normalize("NFKD", word) if unicodedata.category(c) != "Cc"
    )


def _lemma(word: str) -> str:
    # charabia's lossy normalisation of typo-tolerance words: lower case, no accents.
    return "".join(c for c in _compat(word).lower() if unicodedata.category(c) != "Mn")


def _merged(default: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    merged = dict(default)
    for name, item in value.items():
        if item is None and name in default:
            merged[name] = default[name]
        elif isinstance(item, dict) and isinstance(default.get(name), dict):
            if name == "sortFacetValuesBy":  # replaced, with "*" defaulting to alpha
                merged[name] = {"*": "alpha", **item}
            else:
                merged[name] = _merged(default[name], item)
        else:
            merged[name] = item
    return merged


def stored_form(key: str, value: Any) -> Any:
    """``value`` of setting ``key`` as Meilisearch stores (and returns) it."""
    if value is None:
        return _DEFAULTS.get(key)
    if key in ("displayedAttributes", "searchableAttributes") and isinstance(value, list):
        return ["*"] if "*" in value else list(dict.fromkeys(value))
    if key == "stopWords" and isinstance(value, list):
        return sorted({_compat(w) for w in value})
    if key in _SORTED_SETS and isinstance(value, list):
        return sorted(set(value))
    if key == "filterableAttributes" and isinstance(value, list):
        return sorted(value, key=repr)  # order carries no meaning
    if isinstance(value, dict) and isinstance(_DEFAULTS.get(key), dict) and key != "synonyms":
        merged = _merged(_DEFAULTS[key], value)
        if key == "typoTolerance":
            merged["disableOnWords"] = sorted({_lemma(w) for w in merged["disableOnWords"]})
            merged["disableOnAttributes"] = sorted(set(merged["disableOnAttributes"]))
        return merged
    return value


def _same(key: str, declared: Any, live: Any) -> bool:
    ours, theirs = stored_form(key, declared), stored_form(key, live)
    if isinstance(ours, dict) and isinstance(theirs, dict) and key != "synonyms":
        # Keys a newer server adds (e.g. typoTolerance.disableOnNumbers) are not drift.
        return all(theirs.get(k) == v for k, v in ours.items())
    return bool(ours == theirs)


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
