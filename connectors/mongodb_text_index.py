"""The store's Atlas Search (full-text) index, for hybrid lookups: its definition, creation
beside the vector index, and the check VectorStore.open() makes.

The text paths are `string` fields (analyzed by lucene.standard, scored by BM25); the filter
fields are `token` fields too, so that an Atlas Search `equals`/`in` can use them. The row's
filter itself reaches the text side as a `$match` after `$search` (hybrid_pipeline).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import PyMongoError
from pymongo.operations import SearchIndexModel
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_exponential

from .errors import IndexNotReadyError
from .settings import StoreSettings

READY = "READY"


def text_index_definition(
    text_paths: Iterable[str], filter_fields: Iterable[str] = ()
) -> dict[str, Any]:
    """A `search` index: static mappings, text paths as string, filter fields as token."""
    fields: dict[str, Any] = {}
    for name in filter_fields:
        fields[name] = {"type": "token"}
    for path in text_paths:
        fields[path] = (
            [{"type": "string"}, {"type": "token"}] if path in fields else {"type": "string"}
        )
    if not fields:
        raise ValueError("a text index needs at least one text path")
    return {"mappings": {"dynamic": False, "fields": fields}}


def find_search_index(collection: Collection, name: str) -> Mapping[str, Any] | None:
    for found in collection.list_search_indexes(name):
        if found.get("name") == name:
            return found
    return None


def create_text_index(
    collection: Collection, name: str, text_paths: Iterable[str], filter_fields: Iterable[str]
) -> Mapping[str, Any]:
    """Create the text index, or update it to this definition; returns the server's listing."""
    definition = text_index_definition(text_paths, filter_fields)
    existing = find_search_index(collection, name)
    if existing is None:
        collection.create_search_index(
            SearchIndexModel(definition=definition, name=name, type="search")
        )
    elif existing.get("latestDefinition") != definition:
        collection.update_search_index(name, definition)
    return find_search_index(collection, name) or {"name": name, "status": "PENDING"}


def check_text_index(collection: Collection, s: StoreSettings) -> None:
    """The store's text index exists and is READY; else say how to create it."""
    fix = f"run `flink-rag index create --store {s.name}` and wait until it is READY"
    try:
        found = find_search_index(collection, str(s.text_index))
    except PyMongoError as err:
        raise IndexNotReadyError(
            f"cannot read text index {s.text_index!r} on {s.database}.{s.collection} "
            f"({type(err).__name__}); {fix}"
        ) from None
    if found is None:
        raise IndexNotReadyError(
            f"text index {s.text_index!r} on {s.database}.{s.collection} does not exist; {fix}"
        )
    if found.get("type", "search") != "search":
        raise IndexNotReadyError(
            f"index {s.text_index!r} on {s.database}.{s.collection} is a {found.get('type')} "
            "index, not an Atlas Search (type search) one; set 'flink-rag.store."
            f"{s.name}.text-index' to the text index's name"
        )
    if found.get("status") != READY or not found.get("queryable", True):
        raise IndexNotReadyError(
            f"text index {s.text_index!r} on {s.database}.{s.collection} is "
            f"{found.get('status')}; wait until it is READY (`flink-rag index status`)"
        )


def wait_text_index(collection: Collection, name: str, timeout_s: float) -> Mapping[str, Any]:
    """Poll until the text index is READY; IndexNotReadyError on FAILED or at the deadline."""

    def check() -> Mapping[str, Any] | None:
        found = find_search_index(collection, name)
        if found is not None and found.get("status") == "FAILED":
            raise IndexNotReadyError(f"text index {name!r} FAILED to build; check its definition")
        return found

    retrying = Retrying(
        retry=retry_if_result(lambda found: found is None or found.get("status") != READY),
        stop=stop_after_delay(max(0.0, timeout_s)),
        wait=wait_exponential(multiplier=0.1, max=2.0),
    )
    try:
        found = retrying(check)
    except RetryError:
        raise IndexNotReadyError(
            f"text index {name!r} is not READY after {timeout_s:g} s; "
            "check `flink-rag index status`"
        ) from None
    assert found is not None
    return found
