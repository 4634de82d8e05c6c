"""VECTOR_LOOKUP (table function), VECTOR_LOOKUP_JSON (vectorized scalar) and VECTOR_HITS.

    LEFT JOIN LATERAL TABLE(VECTOR_LOOKUP('flights', v, 5, f))
        AS h(doc_id, score, content, metadata, error) ON TRUE

An optional fifth argument, a query text, makes the lookup hybrid: `$rankFusion` of the vector
search and a full-text `$search` on the store's `text-index`, the row's filter on both sides;
the score is then the fusion's and each hit's metadata holds `scoreDetails`. NULL (or an empty
text) is the vector-only lookup:

    TABLE(VECTOR_LOOKUP('policies', v, 5, f, need_text))

VECTOR_LOOKUP makes one lookup at a time. VECTOR_LOOKUP_JSON is a pandas UDF: the lookups of a
batch overlap, `flink-rag.store.<name>.concurrency` at a time, each answer in its row's place.
For rows per hit with overlapping lookups, compute VECTOR_LOOKUP_JSON in a view or subquery
and unpack its column with VECTOR_HITS (PyFlink 2.3 cannot pass a pandas UDF's result straight
into a Python table function):

    CREATE TEMPORARY VIEW answered AS
        SELECT id, VECTOR_LOOKUP_JSON('flights', v, 5, f) AS answer FROM needs;
    SELECT a.id, h.doc_id, h.score FROM answered AS a
        LEFT JOIN LATERAL TABLE(VECTOR_HITS(a.answer))
        AS h(doc_id, score, content, metadata, error) ON TRUE

`store` names a profile `flink-rag.store.<name>.*`. Each worker keeps one opened VectorStore per
profile: the profiles listed in `flink-rag.stores` are opened (and their index checked) in
open(); any other profile on its first use. A profile that cannot be opened (index missing,
not READY, wrong dimensions) fails the job with a message saying how to fix it; a bad row
(NULL vector, bad k, invalid filter, server error) gives one row with doc_id NULL and error set.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, TableFunction, udf, udtf

from ..connectors.errors import ConfigError, FlinkRagError, InputError, ProviderError
from ..connectors.mongodb_store import VectorStore
from ..connectors.vector_hits import Hit, hit_rows, lookup_json
from . import config, flink_metrics, shared

log = logging.getLogger(__name__)

HIT_TYPES = [
    DataTypes.STRING(),  # doc_id
    DataTypes.DOUBLE(),  # score
    DataTypes.STRING(),  # content
    DataTypes.STRING(),  # metadata (JSON object)
    DataTypes.STRING(),  # error
]


def _close_store(store: VectorStore) -> None:
    store.close()


class _Lookup:
    """Profile handling shared by both functions (a mixin: Flink needs the function bases)."""

    def _open_lookups(self, context: FunctionContext) -> None:
        self._context = context
        self._metrics = flink_metrics.from_context(context)
        embed = config.embed_settings(context)
        self._expected_dims = embed.dimensions  # only when configured; else the index decides
        self._stores: dict[str, VectorStore] = {}
        # The profiles this job configures. A store name is often row data: a name outside
        # them is that row's mistake (an error on the row), and must not open a client to the
        # default URI, one per distinct name, kept until close.
        self._profiles = frozenset(config.store_names(config.job_parameters(context)))
        for name in config.listed_stores(context):
            self._store(name)

    def _store(self, name: str) -> VectorStore:
        store = self._stores.get(name)
        if store is not None:
            return store
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise InputError(
                f"VECTOR_LOOKUP store name {name!r} is not a profile name; pass the <name> of "
                "'flink-rag.store.<name>.*' as a string literal"
            )
        if name not in self._profiles:
            known = ", ".join(sorted(self._profiles)) or "none"
            raise InputError(
                f"VECTOR_LOOKUP store {name[:100]!r} is not a configured profile (this job has: "
                f"{known}); configure 'flink-rag.store.<name>.*' or fix the store column"
            )
        settings = config.store_settings(self._context, name)

        def create() -> VectorStore:
            opened = VectorStore(settings, self._metrics)
            opened.open(self._expected_dims)
            return opened

        store = shared.acquire(("store", settings, self._expected_dims), create)
        self._stores[name] = store
        return store

    def _close_lookups(self) -> None:
        for store in getattr(self, "_stores", {}).values():
            shared.release(("store", store.settings, self._expected_dims), _close_store)
        self._stores = {}

    def _search(
        self, store: Any, query: Any, k: Any, filter: Any, text: Any = None
    ) -> tuple[list[Hit], str | None]:
        """(hits, None) or ([], error text); a profile that cannot open raises."""
        if store is None:
            return [], "store is NULL; pass the profile name"
        try:
            return self._store(store).search(query, k, filter, text), None
        except (InputError, ProviderError) as err:
            if isinstance(err, ProviderError):
                log.warning("VECTOR_LOOKUP on %s failed: %s", store, err)
            return [], str(err)
        except FlinkRagError:
            raise  # the profile or its index is wrong: every row would fail, so the job does
        except Exception as err:  # a bug must cost the row, not the job
            log.exception("VECTOR_LOOKUP on %s failed unexpectedly", store)
            return [], f"lookup failed unexpectedly ({type(err).__name__}); report this"
        finally:
            self._metrics.flush()

    def _search_many(
        self, store: str, requests: Sequence[tuple[Any, ...]]
    ) -> list[tuple[list[Hit], str | None]]:
        """(hits, None) or ([], error text) per request, in order; a profile that cannot open
        raises (every row would fail, so the job does)."""
        try:
            opened = self._store(store)
        except InputError as err:  # the name is the rows' own mistake
            return [([], str(err))] * len(requests)
        try:
            results = opened.search_many(requests)
        finally:
            self._metrics.flush()
        answers: list[tuple[list[Hit], str | None]] = []
        for result in results:
            if not isinstance(result, Exception):
                answers.append((result, None))
            elif isinstance(result, ProviderError):
                log.warning("VECTOR_LOOKUP_JSON on %s failed: %s", store, result)
                answers.append(([], str(result)))
            elif isinstance(result, InputError):
                answers.append(([], str(result)))
            elif isinstance(result, FlinkRagError):
                raise result
            else:  # a bug must cost the row, not the job
                log.error("VECTOR_LOOKUP_JSON on %s failed unexpectedly", store, exc_info=result)
                answers.append(
                    ([], f"lookup failed unexpectedly ({type(result).__name__}); report this")
                )
        return answers


def _cell(value: Any) -> Any:
    """A pandas cell as the Python value search() takes: NaN is NULL, numpy ints are ints."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # an INT column with NULLs arrives as float64
    return value


def _column(value: Any, n: int) -> list[Any]:
    """A batch argument's cells; a SQL literal arrives as one scalar and stands for every row."""
    if value is None:
        return [None] * n
    if isinstance(value, pd.Series):
        return [_cell(v) for v in value]
    return [_cell(value)] * n


def _metadata(hit: Hit) -> str:
    return json.dumps(hit.metadata, ensure_ascii=False, sort_keys=True, default=str)


class VectorLookup(TableFunction, _Lookup):
    def open(self, function_context: FunctionContext) -> None:
        self._open_lookups(function_context)

    def close(self) -> None:
        self._close_lookups()

    def eval(
        self,
        store: str,
        query: list[float] | None,
        k: int,
        filter: str | None,
        text: str | None = None,
    ):
        hits, error = self._search(store, query, k, filter, text)
        if error is not None:
            yield None, None, None, None, error
            return
        for hit in hits:
            yield hit.id, hit.score, hit.content, _metadata(hit), None


class VectorLookupJson(ScalarFunction, _Lookup):
    """Vectorized: one call per batch of rows; the batch's lookups overlap (per store)."""

    def open(self, function_context: FunctionContext) -> None:
        self._open_lookups(function_context)

    def close(self) -> None:
        self._close_lookups()

    def eval(self, store: Any, query: Any, k: Any, filter: Any, text: Any = None) -> pd.Series:
        columns = (store, query, k, filter, text)
        n = next((len(c) for c in columns if isinstance(c, pd.Series)), 1)
        stores, queries, ks, filters, texts = (_column(c, n) for c in columns)
        out: list[str | None] = [None] * n
        rows_of: dict[str, list[int]] = {}
        for i, name in enumerate(stores):
            if name is None:
                out[i] = lookup_json([], "store is NULL; pass the profile name")
            else:
                rows_of.setdefault(str(name), []).append(i)
        for name, rows in rows_of.items():
            requests = [(queries[i], ks[i], filters[i], texts[i]) for i in rows]
            for i, (hits, error) in zip(rows, self._search_many(name, requests), strict=True):
                out[i] = lookup_json(hits, error)
        return pd.Series(out, dtype=object)


class VectorHits(TableFunction):
    """The rows of a VECTOR_LOOKUP_JSON answer: one per hit, or one carrying its error."""

    def eval(self, answer: str | None):
        if isinstance(answer, pd.Series):
            raise ConfigError(
                "VECTOR_HITS got a whole batch: PyFlink cannot nest VECTOR_LOOKUP_JSON(...) "
                "inside VECTOR_HITS(...); compute VECTOR_LOOKUP_JSON in a view or subquery and "
                "pass its column to VECTOR_HITS"
            )
        yield from hit_rows(answer)


VECTOR_LOOKUP = udtf(VectorLookup(), result_types=HIT_TYPES)
VECTOR_LOOKUP_JSON = udf(VectorLookupJson(), result_type=DataTypes.STRING(), func_type="pandas")
VECTOR_HITS = udtf(VectorHits(), result_types=HIT_TYPES)

__all__ = ["VECTOR_HITS", "VECTOR_LOOKUP", "VECTOR_LOOKUP_JSON"]
