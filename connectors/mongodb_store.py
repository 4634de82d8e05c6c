"""VectorStore: top-k lookups in a MongoDB collection, via Atlas `$vectorSearch` or a scan.

Modes: "atlas" runs the `$vectorSearch` pipeline; "scan" (servers without search) runs a
filtered `find` and scores exactly in the worker on Atlas's score scale; "auto" uses the search
index if the server has one, else the scan-mode descriptor written by `flink-rag index create`.

A UDF object is pickled and shipped to worker processes, so the client is created in `open()`
— never at import or in `__init__` — and re-created if the process was forked since.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from .errors import (
    ConfigError,
    DimensionMismatchError,
    FlinkRagError,
    IndexNotReadyError,
    InputError,
    ProviderError,
)
from .metrics import Metrics, NullMetrics
from .mongodb_index import ATLAS, SCAN, IndexInfo, describe
from .outage import is_mongo_outage, wait_out_outages
from .settings import StoreSettings
from .vector_cache import VectorCache, key
from .vector_filters import coerce_filter, validate_filter
from .vector_hits import Hit, get_path, json_safe
from .vector_pipeline import (
    SCORE_FIELD,
    projected_fields,
    search_pipeline,
)
from .vector_scoring import as_vector, scores, top_k

log = logging.getLogger(__name__)

MAX_K = 1000  # a lookup feeding a prompt never needs more; protects the worker's memory
# One lookup: query vector, k, filter (MQL document, its JSON text, or None).
LookupRequest = tuple[Any, Any, Any]
APP_NAME = "flink-rag"


def open_client(settings: StoreSettings) -> MongoClient:
    """A MongoClient for the profile, with its timeouts; the URI stays out of every message."""
    timeout_ms = max(1, int(settings.timeout_s * 1000))
    try:
        return MongoClient(
            settings.uri.get_secret_value(),
            appname=APP_NAME,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
        )
    except (PyMongoError, ValueError) as err:
        raise ConfigError(
            f"MONGODB_URI for store {settings.name!r} is not usable ({type(err).__name__}); "
            "fix the variable (or its _FILE)"
        ) from None  # the original message may quote the URI


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
        self._pool: ThreadPoolExecutor | None = None

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
        self._client = self._pool = None  # a client or pool inherited through fork() is unusable
        s = self.settings
        if s.fields and SCORE_FIELD in s.fields:
            raise ConfigError(
                f"'flink-rag.store.{s.name}.fields' lists {SCORE_FIELD!r}, which is reserved "
                "for the similarity score; rename the field in the documents"
            )
        client = open_client(s)
        collection = client[s.database][s.collection]
        try:
            info = describe(collection, s.index, mode=s.mode)
        except ConnectionFailure as err:
            client.close()
            raise ProviderError(
                f"cannot reach MongoDB for store {s.name!r} ({s.database}.{s.collection}) "
                f"within {s.timeout_s:g} s: {type(err).__name__}; "
                "check MONGODB_URI and the network",
                retryable=True,
            ) from None
        except OperationFailure as err:
            client.close()
            raise ProviderError(
                f"MongoDB refused to describe the index of store {s.name!r} "
                f"({s.database}.{s.collection}, code {err.code}): {_safe_message(err)}; "
                "check the user's roles and the credentials in MONGODB_URI",
                status=err.code,
            ) from None
        except FlinkRagError:
            client.close()
            raise
        try:
            self._check_index(info, expected_dimensions or s.dimensions)
        except FlinkRagError:
            client.close()
            raise
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
        if self._pid == os.getpid():
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            if self._client is not None:
                self._client.close()
        self._client = self._collection = None
        self._pool = None

    @property
    def mode(self) -> str | None:
        return self.index.mode if self.index else None

    # -- lookups -----------------------------------------------------------------------------

    def search(
        self,
        query_vector: Sequence[float] | np.ndarray,
        k: int,
        filter: str | Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """Top-k hits, best first. InputError (FilterError, DimensionMismatchError) for bad input,
        ProviderError when the server fails; both are counted in lookup_errors."""
        self.metrics.incr("lookup_requests")
        started = time.perf_counter()
        try:
            hits = self._search(query_vector, k, filter)
        except Exception:
            self.metrics.incr("lookup_errors")
            raise
        finally:
            self.metrics.observe("lookup_latency_ms", (time.perf_counter() - started) * 1000.0)
        self.metrics.incr("lookup_hits", len(hits))
        return hits

    def search_many(self, requests: Sequence[LookupRequest]) -> list[list[Hit] | Exception]:
        """search() for each (vector, k, filter), `concurrency` at a time; results in input order.

        Each result is the hits of its own request, or the exception that request raised, so
        one bad row never costs the others. pymongo's client is thread-safe and pools
        connections; the lookups overlap their round trips to the server.
        """
        self._require_index()
        if len(requests) <= 1 or self.settings.concurrency <= 1:
            return [self._one(request) for request in requests]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self.settings.concurrency, thread_name_prefix=f"lookup-{self.settings.name}"
            )
        return list(self._pool.map(self._one, requests))

    def _one(self, request: LookupRequest) -> list[Hit] | Exception:
        vector, k, filter = request
        try:
            return self.search(vector, k, filter)
        except Exception as err:  # handed back as this row's result; the caller decides
            return err

    def _search(self, query_vector: Sequence[float] | np.ndarray, k: int, filter: Any) -> list[Hit]:
        info = self._require_index()
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
            raise InputError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
        k = int(k)
        if query_vector is None:
            raise InputError("query vector is NULL")
        vector = as_vector(query_vector, info.dimensions)
        mql = validate_filter(coerce_filter(filter), self._allowed, store=self.settings.name)
        if info.mode == ATLAS:
            return self._atlas(vector, k, mql)
        return self._scan(vector, k, mql)

    def _atlas(self, vector: np.ndarray, k: int, mql: dict[str, Any] | None) -> list[Hit]:
        s, info = self.settings, self._require_index()
        pipeline = search_pipeline(
            info.name,
            info.path,
            vector.tolist(),
            k,
            num_candidates=s.num_candidates,
            filter=mql,
            exact=s.exact,
            fields=s.fields,
            content_field=s.content_field,
            min_score=s.min_score,
        )
        docs = self._run(lambda c: list(c.aggregate(pipeline)))
        return [self._hit(doc, float(doc.get(SCORE_FIELD, math.nan))) for doc in docs]

    def _scan(self, vector: np.ndarray, k: int, mql: dict[str, Any] | None) -> list[Hit]:
        s, info, cache = self.settings, self._require_index(), self._cache
        assert cache is not None
        # 1. the server picks the matching ids (exact filter semantics, sees inserts/deletes);
        # 2. their vectors come from the per-process cache, unseen ones from the server;
        # 3. content and fields are read only for the k winners.
        batch = _batch_size(info.dimensions)
        ids = self._run(
            lambda c: [d["_id"] for d in c.find(mql or {}, {"_id": 1}, batch_size=10 * batch)]
        )
        if not ids:
            return []
        kept, matrix = self._run(lambda c: cache.vectors_for(ids, self._fetch_vectors))
        if not kept:
            return []
        values = scores(vector, matrix, info.similarity)
        best = top_k(values, k, s.min_score)
        if best.size == 0:
            return []
        winners = [kept[i] for i in best]
        projection = {name: 1 for name in projected_fields(s.fields, s.content_field)}
        projection["_id"] = 1
        docs = self._run(lambda c: list(c.find({"_id": {"$in": winners}}, projection)))
        by_id = {key(d["_id"]): d for d in docs}
        hits = []
        for i in best:
            doc = by_id.get(key(kept[i]))
            if doc is not None:  # deleted between the reads
                hits.append(self._hit(doc, float(values[i])))
        return hits

    def _fetch_vectors(self, ids: list[Any]) -> Iterator[tuple[Any, Any]]:
        """(id, vector) for `ids`, in chunks: one reply must stay under the wire-message limit."""
        assert self._collection is not None and self.index is not None
        path = self.index.path
        batch = _batch_size(self.index.dimensions)
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            cursor = self._collection.find({"_id": {"$in": chunk}}, {path: 1}, batch_size=batch)
            for doc in cursor:
                yield doc["_id"], get_path(doc, path)

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
        assert self._collection is not None
        collection = self._collection
        try:
            # An unreachable server delays the row for up to outage-wait instead of failing it.
            return wait_out_outages(
                lambda: call(collection),
                self.settings.outage_wait_s,
                self.metrics,
                "lookup",
                retry_if=is_mongo_outage,
            )
        except OperationFailure as err:
            message = _safe_message(err)
            match = re.search(r"indexed with (\d+) dimensions but queried with (\d+)", message)
            if match:
                raise DimensionMismatchError(
                    f"store {self.settings.name!r}: the index has {match[1]} dimensions but the "
                    f"query vector has {match[2]}; embed with the model the index was built for"
                ) from None
            raise ProviderError(
                f"store {self.settings.name!r}: MongoDB refused the lookup (code {err.code}): "
                f"{message}",
                status=err.code,
                retryable=False,
            ) from None
        except PyMongoError as err:
            raise ProviderError(
                f"store {self.settings.name!r}: MongoDB lookup failed ({type(err).__name__}); "
                "check the server and network",
                retryable=True,
            ) from None

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


def _batch_size(dimensions: int) -> int:
    """Documents per reply so one reply of vectors stays near 8 MB."""
    return max(10, min(1000, 600_000 // max(1, dimensions)))


_CREDENTIALS = re.compile(r"//[^/@\s]+@")


def _safe_message(err: OperationFailure) -> str:
    text = str((err.details or {}).get("errmsg") or err)
    return _CREDENTIALS.sub("//***@", text)[:300]
