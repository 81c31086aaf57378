"""Meilisearch indexes declared next to the models, rebuilt by ``reindex_search``.

Import ``SearchIndex`` from here to declare an index; the rest of the package
(client, rebuild flow, signals) is loaded only when used.
"""

from __future__ import annotations

from django_deploykit.search.indexes import SearchIndex, get_index, get_indexes

__all__ = ["SearchIndex", "get_index", "get_indexes"]
