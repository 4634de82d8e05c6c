"""Vector index administration: create, wait until READY, describe.

On Atlas (or any server with search, the local stand-in included) the index is a
`vectorSearch` search index with the vector field and its filter fields. Servers without search
(self-managed without mongot) cannot hold one, so "scan mode" records what the index would be —
a descriptor document in `flink_rag_indexes` — and creates ordinary indexes on the filter
fields, which the filtered `find` of a scan uses. VectorStore.open() checks against whichever
exists.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.operations import SearchIndexModel

from .errors import ConfigError, IndexNotReadyError
from .vector_scoring import normalize_similarity

DESCRIPTOR_COLLECTION = "flink_rag_indexes"
MAX_DIMENSIONS = 8192
READY = "READY"
FAILED = "FAILED"
POLL_INTERVAL_S = 2.0  # the longest wait between status polls
FIRST_POLL_S = 0.1  # polls start fast (a small index is READY in well under a second) and back off
ATLAS, SCAN = "atlas", "scan"

# Server answers meaning "no search here" rather than "you may not": CommandNotFound,
# CommandNotSupported, unknown pipeline stage ($listSearchIndexes on old servers),
# SearchNotEnabled (Community without mongot), and Atlas-only stage errors.
SEARCH_UNSUPPORTED_CODES = frozenset({59, 115, 40324, 31082, 6047401})
NAMESPACE_NOT_FOUND = 26


@dataclass(frozen=True)
class IndexInfo:
    """What a vector index is and whether it can answer queries."""

    name: str
    database: str
    collection: str
    path: str
    dimensions: int
    similarity: str
    filter_fields: tuple[str, ...]
    mode: str  # "atlas" (search index) or "scan" (descriptor document)
    status: str = READY
    queryable: bool = True

    @property
    def ready(self) -> bool:
        return self.status == READY and self.queryable

    @property
    def where(self) -> str:
        return f"{self.database}.{self.collection}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["filter_fields"] = list(self.filter_fields)
        data["ready"] = self.ready
        return data


def vector_index_definition(
    path: str, dimensions: int, similarity: str, filter_fields: Iterable[str] = ()
) -> dict[str, Any]:
    """The `vectorSearch` index definition: one vector field plus one entry per filter field."""
    check_dimensions(dimensions)
    fields: list[dict[str, Any]] = [
        {
            "type": "vector",
            "path": path,
            "numDimensions": dimensions,
            "similarity": normalize_similarity(similarity),
        }
    ]
    fields.extend({"type": "filter", "path": name} for name in _unique(filter_fields))
    return {"fields": fields}


def check_dimensions(dimensions: int) -> None:
    if isinstance(dimensions, bool) or not isinstance(dimensions, int):
        raise ConfigError(f"dimensions must be an integer, got {dimensions!r}")
    if not 1 <= dimensions <= MAX_DIMENSIONS:
        raise ConfigError(f"dimensions must be from 1 to {MAX_DIMENSIONS}, got {dimensions}")


def search_supported(collection: Collection) -> bool:
    """Whether the server manages search indexes (Atlas, Community with mongot)."""
    try:
        list(collection.list_search_indexes("__flink_rag_probe__"))
    except OperationFailure as err:
        if err.code in SEARCH_UNSUPPORTED_CODES:
            return False
        raise IndexNotReadyError(
            f"cannot list search indexes on {_where(collection)} (server error {err.code}); "
            "the user needs the listSearchIndexes privilege"
        ) from err
    return True


def create_vector_index(
    collection: Collection,
    name: str,
    path: str,
    dimensions: int,
    similarity: str = "cosine",
    filter_fields: Iterable[str] = (),
    *,
    mode: str = "auto",
) -> IndexInfo:
    """Create (or update to this definition) the vector index; returns its current state.

    mode: "atlas" needs a search-capable server, "scan" writes the descriptor, "auto" picks.
    """
    definition = vector_index_definition(path, dimensions, similarity, filter_fields)
    use_atlas = _resolve_mode(collection, mode) == ATLAS
    if not use_atlas:
        return _record_descriptor(collection, name, definition)
    existing = _atlas_index(collection, name)
    if existing is None:
        model = SearchIndexModel(definition=definition, name=name, type="vectorSearch")
        try:
            collection.create_search_index(model)
        except OperationFailure as err:
            if err.code != NAMESPACE_NOT_FOUND:
                raise
            # Atlas indexes only existing collections; an empty one is fine to start with.
            collection.database.create_collection(collection.name)
            collection.create_search_index(model)
    elif existing.get("latestDefinition") != definition:
        collection.update_search_index(name, definition)
    info = describe(collection, name, mode=ATLAS)
    if info is None:  # the server acknowledged but does not list it yet
        info = _from_definition(collection, name, definition, ATLAS, "PENDING", False)
    return info


def wait_until_ready(
    collection: Collection, name: str, timeout_s: float, *, mode: str = "auto"
) -> IndexInfo:
    """Poll until the index is READY and queryable; IndexNotReadyError on FAILED or timeout."""
    deadline = time.monotonic() + max(0.0, timeout_s)
    interval = FIRST_POLL_S
    while True:
        info = describe(collection, name, mode=mode)
        if info is not None and info.ready:
            return info
        if info is not None and info.status == FAILED:
            raise IndexNotReadyError(
                f"vector index {name!r} on {info.where} FAILED to build; check its definition "
                "in the Atlas UI, then run `flink-rag index create` again"
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            state = "does not exist" if info is None else f"is still {info.status}"
            raise IndexNotReadyError(
                f"vector index {name!r} on {_where(collection)} {state} after {timeout_s:g} s; "
                "wait longer and check with `flink-rag index status`"
            )
        time.sleep(min(interval, remaining))
        interval = min(POLL_INTERVAL_S, interval * 2)


def describe(collection: Collection, name: str, *, mode: str = "auto") -> IndexInfo | None:
    """The index as the server (atlas) or the descriptor (scan) knows it; None if missing."""
    if mode in ("auto", ATLAS) and _resolve_mode(collection, mode) == ATLAS:
        found = _atlas_index(collection, name)
        if found is not None:
            definition = found.get("latestDefinition") or {}
            status = str(found.get("status", "UNKNOWN"))
            queryable = bool(found.get("queryable", status == READY))
            return _from_definition(collection, name, definition, ATLAS, status, queryable)
        if mode == ATLAS:
            return None
    doc = _descriptors(collection).find_one({"_id": _descriptor_id(collection, name)})
    if doc is None:
        return None
    return IndexInfo(
        name=name,
        database=collection.database.name,
        collection=collection.name,
        path=str(doc["path"]),
        dimensions=int(doc["dimensions"]),
        similarity=normalize_similarity(str(doc["similarity"])),
        filter_fields=tuple(doc.get("filter_fields") or ()),
        mode=SCAN,
    )


def sample_dimensions(collection: Collection, path: str) -> int | None:
    """The vector length of one stored document (None if none has a vector at `path`)."""
    doc = collection.find_one({path: {"$exists": True}}, {path: 1})
    current: Any = doc
    for part in path.split("."):
        current = current.get(part) if isinstance(current, Mapping) else None
    return len(current) if isinstance(current, list) else None


def _resolve_mode(collection: Collection, mode: str) -> str:
    if mode == SCAN:
        return SCAN
    if mode not in ("auto", ATLAS):
        raise ConfigError(f"index mode {mode!r} is not one of auto, atlas, scan")
    supported = search_supported(collection)
    if mode == ATLAS and not supported:
        raise ConfigError(
            f"the MongoDB server of {_where(collection)} has no vector search; "
            "use mode 'scan' (or 'auto'), or point MONGODB_URI at Atlas"
        )
    return ATLAS if supported else SCAN


def _atlas_index(collection: Collection, name: str) -> Mapping[str, Any] | None:
    try:
        for found in collection.list_search_indexes(name):
            if found.get("name") == name:
                return found
    except PyMongoError as err:
        raise IndexNotReadyError(
            f"cannot read search index {name!r} on {_where(collection)}: {type(err).__name__}"
        ) from err
    return None


def _record_descriptor(
    collection: Collection, name: str, definition: Mapping[str, Any]
) -> IndexInfo:
    info = _from_definition(collection, name, definition, SCAN, READY, True)
    doc = {
        "name": info.name,
        "database": info.database,
        "collection": info.collection,
        "path": info.path,
        "dimensions": info.dimensions,
        "similarity": info.similarity,
        "filter_fields": list(info.filter_fields),
        "updated_at": dt.datetime.now(dt.UTC),
    }
    _descriptors(collection).replace_one(
        {"_id": _descriptor_id(collection, name)}, doc, upsert=True
    )
    for field in info.filter_fields:
        collection.create_index([(field, ASCENDING)])
    return info


def _from_definition(
    collection: Collection,
    name: str,
    definition: Mapping[str, Any],
    mode: str,
    status: str,
    queryable: bool,
) -> IndexInfo:
    fields = list(definition.get("fields") or ())
    vectors = [f for f in fields if f.get("type") == "vector"]
    if not vectors:
        raise IndexNotReadyError(
            f"search index {name!r} on {_where(collection)} has no vector field; "
            "recreate it with `flink-rag index create`"
        )
    vector = vectors[0]
    return IndexInfo(
        name=name,
        database=collection.database.name,
        collection=collection.name,
        path=str(vector.get("path")),
        dimensions=int(vector.get("numDimensions", 0)),
        similarity=normalize_similarity(str(vector.get("similarity", "cosine"))),
        filter_fields=tuple(str(f["path"]) for f in fields if f.get("type") == "filter"),
        mode=mode,
        status=status,
        queryable=queryable,
    )


def _descriptors(collection: Collection) -> Collection:
    return collection.database[DESCRIPTOR_COLLECTION]


def _descriptor_id(collection: Collection, name: str) -> str:
    return f"{collection.name}/{name}"


def _where(collection: Collection) -> str:
    return f"{collection.database.name}.{collection.name}"


def _unique(names: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        if name and name.strip():
            seen.setdefault(name.strip(), None)
    return list(seen)
