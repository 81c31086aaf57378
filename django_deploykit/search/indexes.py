"""Declaring what is indexed: one ``SearchIndex`` subclass per Meilisearch index.

A project declares its indexes in a ``search_indexes.py`` module of any installed
app (collected automatically), or lists them in ``DEPLOYKIT_SEARCH_INDEXES``::

    class PostIndex(SearchIndex):
        name = "posts"                      # the index uid is prefix + name
        model = Post
        fields = ["id", "title", "body", "author", "tags"]
        settings = {"searchableAttributes": ["title", "body", "tags"]}

        def get_queryset(self):             # select/prefetch_related are honoured
            return Post.live.select_related("author").prefetch_related("tags")

        def prepare_author(self, post):     # prepare_<field> computes one field
            return post.author.get_username()

        def prepare_tags(self, post):
            return [tag.name for tag in post.tags.all()]

Override ``to_document(obj)`` instead of ``fields`` to serialize an object in one go.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, ClassVar

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.module_loading import import_string

from django_deploykit.conf import conf
from django_deploykit.exceptions import ConfigError

__all__ = ["SearchIndex", "get_index", "get_indexes", "indexes_for_model"]

# A rebuild builds into "<uid>__rebuild", which doubles as the lock; see reindex.py.
REBUILD_SUFFIX = "__rebuild"
MAX_UID_BYTES = 400  # Meilisearch's limit (IndexUid in meilisearch-types)


class SearchIndex:
    """The declaration of one Meilisearch index built from a Django model."""

    #: Short name of the index; its uid is ``DEPLOYKIT_MEILISEARCH_INDEX_PREFIX + name``.
    name: ClassVar[str] = ""
    #: The model whose rows become documents (``get_queryset`` may narrow it).
    model: ClassVar[type[models.Model] | None] = None
    #: Document fields: model fields or attributes, or ``prepare_<field>`` methods.
    fields: ClassVar[list[str] | tuple[str, ...]] = ()
    #: The document field holding the primary key; it must carry the model's pk.
    primary_key: ClassVar[str] = "id"
    #: Meilisearch index settings, applied before any document is added.
    settings: ClassVar[dict[str, Any]] = {}

    def get_queryset(self) -> models.QuerySet[Any]:
        """The rows to index; ``select_related``/``prefetch_related`` are honoured."""
        if self.model is None:
            raise ConfigError(f"{self.label}: set `model` or override get_queryset().")
        return self.model._default_manager.all()

    def to_document(self, obj: Any) -> dict[str, Any]:
        """The Meilisearch document for ``obj`` (default: ``fields``, via ``prepare_*``)."""
        return {name: getter(obj) for name, getter in self._getters.items()}

    # -- derived ------------------------------------------------------------------
    @property
    def uid(self) -> str:
        return conf.MEILISEARCH_INDEX_PREFIX + self.name

    @property
    def rebuild_uid(self) -> str:
        return self.uid + REBUILD_SUFFIX

    @property
    def label(self) -> str:
        return f"search index {self.name!r} ({type(self).__module__}.{type(self).__qualname__})"

    def document_model(self) -> type[models.Model]:
        return self.get_queryset().model

    @functools.cached_property
    def _getters(self) -> dict[str, Any]:
        getters: dict[str, Any] = {}
        for name in self.fields:
            prepare = getattr(self, f"prepare_{name}", None)
            getters[name] = prepare if prepare is not None else _attribute_getter(name)
        return getters

    def validate(self) -> None:
        """Raise ConfigError when the declaration cannot work (before anything is sent)."""
        if not self.name or not isinstance(self.name, str):
            raise ConfigError(f"{self.label}: set `name` (the index name without prefix).")
        model = self.document_model()
        if type(self).to_document is SearchIndex.to_document:
            if not self.fields:
                raise ConfigError(f"{self.label}: declare `fields` or override to_document().")
            if self.primary_key not in self.fields:
                raise ConfigError(
                    f"{self.label}: the primary key field {self.primary_key!r} is not in "
                    "`fields`; add it (it must hold the model's pk)."
                )
            missing = [n for n in self.fields if not _provides(self, model, n)]
            if missing:
                raise ConfigError(
                    f"{self.label}: model {model._meta.label} has no field or attribute "
                    f"{', '.join(map(repr, missing))}. Add a prepare_<field>(obj) method or "
                    "remove it from `fields`."
                )
        self._validate_uid()
        displayed = self.settings.get("displayedAttributes")
        if displayed is not None and "*" not in displayed and self.primary_key not in displayed:
            raise ConfigError(
                f"{self.label}: settings['displayedAttributes'] leaves out the primary key "
                f"{self.primary_key!r}, so searches cannot return which rows matched. Add "
                f"{self.primary_key!r} to it."
            )
        for key in self.settings:
            if not isinstance(key, str) or not key[:1].islower() or "_" in key:
                raise ConfigError(
                    f"{self.label}: settings key {key!r} is not a Meilisearch setting name; "
                    "use camelCase names such as 'searchableAttributes'."
                )

    def _validate_uid(self) -> None:
        """Meilisearch's own rule for index uids, checked here before anything is created."""
        uid = self.rebuild_uid  # the longest uid a rebuild creates
        bad = sorted({c for c in uid if not (c.isascii() and (c.isalnum() or c in "-_"))})
        size = len(uid.encode())
        if bad or size > MAX_UID_BYTES:
            problem = f"contains {', '.join(map(repr, bad))}" if bad else f"is {size} bytes long"
            raise ConfigError(
                f"{self.label}: the index uid {self.uid!r} (DEPLOYKIT_MEILISEARCH_INDEX_PREFIX "
                f"{conf.MEILISEARCH_INDEX_PREFIX!r} + name {self.name!r}) cannot be used: with "
                f"the rebuild suffix {REBUILD_SUFFIX!r} it {problem}. Meilisearch accepts only "
                f"letters, digits, '-' and '_', at most {MAX_UID_BYTES} bytes. Change the "
                "prefix or the name."
            )


def _attribute_getter(name: str) -> Any:
    def get(obj: Any) -> Any:
        value = getattr(obj, name)
        if isinstance(value, models.Model):
            return value.pk
        return value

    return get


def _provides(index: SearchIndex, model: type[models.Model], name: str) -> bool:
    if hasattr(index, f"prepare_{name}"):
        return True
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return hasattr(model, name)  # a property or a method-free attribute
    return not (field.many_to_many or field.one_to_many)  # managers are not values


@functools.lru_cache(maxsize=8)
def _discover(paths: tuple[str, ...] | None) -> tuple[SearchIndex, ...]:
    if paths is not None:
        classes = []
        for path in paths:
            try:
                cls = import_string(path)
            except ImportError as exc:
                raise ConfigError(
                    f"DEPLOYKIT_SEARCH_INDEXES names {path!r}, which cannot be imported: {exc}"
                ) from exc
            if not (inspect.isclass(cls) and issubclass(cls, SearchIndex)):
                raise ConfigError(
                    f"DEPLOYKIT_SEARCH_INDEXES names {path!r}, which is not a SearchIndex class."
                )
            classes.append(cls)
    else:
        classes = []
        for app in apps.get_app_configs():
            module_name = f"{app.name}.search_indexes"
            try:
                module = __import__(module_name, fromlist=["*"])
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise  # the module exists but imports something missing
                continue
            classes += [
                obj
                for obj in vars(module).values()
                if inspect.isclass(obj)
                and issubclass(obj, SearchIndex)
                and obj.__module__ == module_name
                and obj.name
            ]
    instances = tuple(cls() for cls in classes)
    names = [i.name for i in instances]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"Several search indexes are called {', '.join(duplicates)}.")
    return instances


def get_indexes() -> list[SearchIndex]:
    """Every declared index, in declaration order."""
    paths = conf.SEARCH_INDEXES
    return list(_discover(None if paths is None else tuple(paths)))


def get_index(name: str) -> SearchIndex:
    """The declared index called ``name`` (with or without the prefix)."""
    indexes = get_indexes()
    for index in indexes:
        if name in (index.name, index.uid):
            return index
    known = ", ".join(i.name for i in indexes) or "none are declared"
    raise ConfigError(
        f"Unknown search index {name!r}. Declared indexes: {known}. Declare it in a "
        "search_indexes.py module or in DEPLOYKIT_SEARCH_INDEXES."
    )


def indexes_for_model(model: type[models.Model]) -> list[SearchIndex]:
    return [i for i in get_indexes() if i.document_model() is model]
