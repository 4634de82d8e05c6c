"""VectorStore: top-k lookups in a MongoDB collection, via Atlas `$vectorSearch` or a scan.

Modes: "atlas" runs the `$vectorSearch` pipeline (mongodb_atlas_search); "scan" (servers
without search, small collections: mongodb_scan_search bounds it) runs a filtered `find` and
scores exactly in the worker on Atlas's score scale; "auto" uses the search index if the server
has one, else the scan-mode descriptor written by `flink-rag index create`, with a warning.
This module is the lifecycle (client, index checks, fork safety) and the per-row contract;
what a failure becomes is mongodb_errors', the threads that overlap lookups mongodb_lookup_pool's.

A UDF object is pickled and shipped to worker processes, so the client is created in `open()`
— never at import or in `__init__` — and re-created if the process was forked since.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pymongo
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from .errors import (
    ConfigError,
    DimensionMismatchError,
    FlinkRagError,
    IndexNotReadyError,
    InputError,
)
from .hybrid_pipeline import DETAILS_FIELD
from .metrics import Metrics, NullMetrics
from .mongodb_atlas_search import atlas_search
from .mongodb_client import open_client
from .mongodb_errors import count_error, describe_error, lookup_error, store_policy
from .mongodb_hybrid_search import HybridSearch
from .mongodb_index import ATLAS, SCAN, IndexInfo, describe
from .mongodb_lookup_pool import LookupPool
from .mongodb_scan_search import check_scan_size, scan_search
from .mongodb_text_index import check_text_index
from .settings import StoreSettings
from .vector_cache import VectorCache
from .vector_filters import coerce_filter, validate_filter
from .vector_hits import Hit, get_path, json_safe
from .vector_pipeline import SCORE_FIELD
from .vector_scoring import as_vector

log = logging.getLogger(__name__)

MAX_K = 1000  # a lookup feeding a prompt never needs more; protects the worker's memory
# One lookup: query vector, k, filter (MQL document, its JSON text, or None), and optionally
# a query text (a hybrid lookup when it is not NULL).
LookupRequest = tuple[Any, ...]


class VectorStore:
    """Lookups against one store profile. Call open() in the worker, then search(), then close()."""

    def __init__(self, settings: StoreSettings, metrics: Metrics | None = None):
        self.settings = settings
        self.metrics: Metrics = metrics or NullMetrics()
        self.index: IndexInfo | None = None
        self._client: MongoClient | None = None
        self._collection: Collection | None = None
        self._pid: int | None = None
        self._allowed: frozenset[str] = frozenset()
        self._cache: VectorCache | None = None
        self._pool = LookupPool(settings.name, settings.concurrency)
        self.policy = store_policy(settings, self.metrics)
        self._hybrid = HybridSearch(settings)

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to workers: only the profile travels; open() connects there.
        return {"settings": self.settings, "metrics": self.metrics}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["settings"], state["metrics"])  # type: ignore[misc]

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self, expected_dimensions: int | None = None) -> IndexInfo:
        """Connect and check the index: it exists, is READY, and has the embedder's dimensions."""
        if self._client is not None and self._pid == os.getpid():
            current = self._require_index()
            self._check_index(current, expected_dimensions)
            return current
        # A client or pool inherited through fork() is unusable (and not ours to close).
        self._client = None
        self._pool = LookupPool(self.settings.name, self.settings.concurrency)
        s = self.settings
        for reserved in (SCORE_FIELD, DETAILS_FIELD):
            if reserved in s.fields:
                raise ConfigError(
                    f"'flink-rag.store.{s.name}.fields' lists {reserved!r}, which is reserved "
                    "for the lookup's score; rename the field in the documents"
                )
        client = open_client(s)
        collection = client[s.database][s.collection]
        try:
            info = describe(collection, s.index, mode=s.mode)
        except (ConnectionFailure, OperationFailure) as err:
            client.close()
            raise describe_error(s, err) from None
        except FlinkRagError:
            client.close()
            raise
        try:
            self._check_index(info, expected_dimensions or s.dimensions)
            if s.text_index and info is not None and info.mode == ATLAS:
                check_text_index(collection, s)
            if info is not None and info.mode == SCAN:
                if s.mode == "auto":  # never silently: a reader of the log sees why it is slow
                    log.warning(
                        "store %s: mode=auto found no search index on %s and scans instead; "
                        "set mode=atlas after `flink-rag index create` on an Atlas server",
                        s.name, info.where,
                    )  # fmt: skip
                check_scan_size(s, collection)
        except FlinkRagError:
            client.close()
            raise
        except PyMongoError as err:
            client.close()
            raise count_error(s, err) from None
        assert info is not None
        self._client, self._collection, self.index = client, collection, info
        self._pid = os.getpid()
        self._allowed = frozenset(info.filter_fields)
        self._cache = None
        if info.mode == SCAN:
            self._cache = VectorCache(info.dimensions, s.scan_cache_ttl_s)
        log.info(
            "store %s: %s index %r on %s (%d dims, %s, filter fields %s)",
            s.name, info.mode, info.name, info.where, info.dimensions, info.similarity,
            ",".join(info.filter_fields) or "-",
        )  # fmt: skip
        return info

    def close(self) -> None:
        self._pool.close()  # first: running lookups still use the client
        if self._pid == os.getpid() and self._client is not None:
            self._client.close()
        self._client = self._collection = None

    @property
    def mode(self) -> str | None:
        return self.index.mode if self.index else None

    # -- lookups -----------------------------------------------------------------------------

    def search(
        self,
        query_vector: Sequence[float] | np.ndarray,
        k: int,
        filter: str | Mapping[str, Any] | None = None,
        text: str | None = None,
    ) -> list[Hit]:
        """Top-k hits, best first; with `text`, a hybrid lookup (vector and full text fused by
        rank, each hit's metadata carrying its scoreDetails). InputError (FilterError,
        DimensionMismatchError) for bad input, ProviderError when the server fails; both are
        counted in lookup_errors."""
        self.metrics.incr("lookup_requests")
        started = time.perf_counter()
        try:
            hits = self._search(query_vector, k, filter, text)
        except Exception:
            self.metrics.incr("lookup_errors")
            raise
        finally:
            self.metrics.observe("lookup_latency_ms", (time.perf_counter() - started) * 1000.0)
        self.metrics.incr("lookup_hits", len(hits))
        return hits

    def search_many(self, requests: Sequence[LookupRequest]) -> list[list[Hit] | Exception]:
        """search() for each (vector, k, filter[, text]), `concurrency` at a time, in order.

        Each result is the hits of its own request, or the exception that request raised, so
        one bad row never costs the others (mongodb_lookup_pool)."""
        self._require_index()
        return self._pool.map(lambda request: self.search(*request), requests)

    def _search(
        self, query_vector: Sequence[float] | np.ndarray, k: int, filter: Any, text: Any = None
    ) -> list[Hit]:
        info = self._require_index()
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
            raise InputError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
        k = int(k)
        if query_vector is None:
            raise InputError("query vector is NULL")
        vector = as_vector(query_vector, info.dimensions)
        mql = validate_filter(coerce_filter(filter), self._allowed, store=self.settings.name)
        if text is not None:
            if not isinstance(text, str):
                raise InputError(f"query text must be a string or NULL, got {type(text).__name__}")
            if info.mode != ATLAS:
                raise ConfigError(
                    f"store {self.settings.name!r} scans (no search index on the server): a "
                    "hybrid lookup needs Atlas Search; pass NULL as the query text"
                )
            if text.strip():  # an empty text has no terms: the lookup is the vector one
                try:
                    return self._hybrid.search(info, self._run_raw, self._hit, vector, k, mql, text)
                except PyMongoError as err:
                    raise lookup_error(self.settings.name, err) from None
        if info.mode == ATLAS:
            return self._atlas(vector, k, mql)
        return self._scan(vector, k, mql)

    def _atlas(self, vector: np.ndarray, k: int, mql: dict[str, Any] | None) -> list[Hit]:
        return atlas_search(
            self.settings, self._require_index(), self._run, self._hit, vector, k, mql
        )

    def _scan(self, vector: np.ndarray, k: int, mql: dict[str, Any] | None) -> list[Hit]:
        assert self._cache is not None and self._collection is not None
        return scan_search(
            self.settings, self._require_index(), self._cache, self._collection, self._run,
            self._hit, vector, k, mql,
        )  # fmt: skip

    # -- helpers -----------------------------------------------------------------------------

    def _hit(self, doc: Mapping[str, Any], score: float) -> Hit:
        s = self.settings
        content = get_path(doc, s.content_field) if s.content_field else None
        return Hit(
            id=str(doc.get("_id")),
            score=score,
            content=content if content is None or isinstance(content, str) else str(content),
            metadata={name: json_safe(get_path(doc, name)) for name in s.fields},
        )

    def _run(self, call: Any) -> Any:
        try:
            return self._run_raw(call)
        except PyMongoError as err:
            raise lookup_error(self.settings.name, err) from None

    def _run_raw(self, call: Any) -> Any:
        """_run without the error translation: the hybrid search reads the server's code."""
        assert self._collection is not None
        collection = self._collection

        def attempt(timeout: float) -> Any:
            # pymongo.timeout bounds the whole operation (server selection, its own retryable
            # read, the overload retries of pymongo >= 4.18) by what the row's deadline leaves.
            with pymongo.timeout(timeout):
                return call(collection)

        # An unreachable server or an overloaded Atlas delays the row, within its deadline.
        return self.policy.run(attempt)

    def _require_index(self) -> IndexInfo:
        if self.index is None or self._collection is None:
            raise IndexNotReadyError("VectorStore.search() called before open()")
        if self._pid != os.getpid():
            raise IndexNotReadyError(
                "VectorStore used in a forked process; call open() in the process that searches"
            )
        return self.index

    def _check_index(self, info: IndexInfo | None, expected_dimensions: int | None) -> None:
        s = self.settings
        fix = (
            f"run `flink-rag index create --store {s.name} --dimensions N"
            + (f" --filter-fields {','.join(s.filter_fields)}" if s.filter_fields else "")
            + "`"
        )
        if info is None:
            raise IndexNotReadyError(
                f"vector index {s.index!r} on {s.database}.{s.collection} does not exist; {fix}"
            )
        if not info.ready:
            raise IndexNotReadyError(
                f"vector index {info.name!r} on {info.where} is {info.status} "
                f"(queryable={info.queryable}); wait until it is READY "
                f"(`flink-rag index status --store {s.name}`)"
            )
        if info.path != s.path:
            raise ConfigError(
                f"vector index {info.name!r} indexes path {info.path!r} but store {s.name!r} "
                f"reads {s.path!r}; set 'flink-rag.store.{s.name}.path' = '{info.path}'"
            )
        if expected_dimensions is not None and expected_dimensions != info.dimensions:
            raise DimensionMismatchError(
                f"vector index {info.name!r} on {info.where} has {info.dimensions} dimensions "
                f"but the embedder produces {expected_dimensions}; use the embedding model the "
                f"index was built for, or recreate the index with "
                f"`flink-rag index create --store {s.name} --dimensions {expected_dimensions}`"
            )
        missing = [f for f in s.filter_fields if f not in info.filter_fields]
        if missing:
            raise IndexNotReadyError(
                f"store {s.name!r} declares filter field(s) {', '.join(missing)} that vector index "
                f"{info.name!r} does not have; recreate it with `flink-rag index create "
                f"--store {s.name} --filter-fields {','.join(s.filter_fields)}`"
            )
