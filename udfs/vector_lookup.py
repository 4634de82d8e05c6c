"""VECTOR_LOOKUP (table function) and VECTOR_LOOKUP_JSON (scalar) over `VectorStore`.

    LEFT JOIN LATERAL TABLE(VECTOR_LOOKUP('flights', v, 5, f))
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
from typing import Any

from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, TableFunction, udf, udtf

from flink_rag.connectors.errors import ConfigError, FlinkRagError, InputError, ProviderError
from flink_rag.connectors.mongodb_store import VectorStore
from flink_rag.connectors.vector_hits import Hit, lookup_json
from flink_rag.udfs import config, flink_metrics, shared

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
        for name in config.listed_stores(context):
            self._store(name)

    def _store(self, name: str) -> VectorStore:
        store = self._stores.get(name)
        if store is not None:
            return store
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(
                f"VECTOR_LOOKUP store name {name!r} is not a profile name; pass the <name> of "
                "'flink-rag.store.<name>.*' as a string literal"
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

    def _search(self, store: Any, query: Any, k: Any, filter: Any) -> tuple[list[Hit], str | None]:
        """(hits, None) or ([], error text); a profile that cannot open raises."""
        if store is None:
            return [], "store is NULL; pass the profile name"
        opened = self._store(store)
        try:
            return opened.search(query, k, filter), None
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


def _metadata(hit: Hit) -> str:
    return json.dumps(hit.metadata, ensure_ascii=False, sort_keys=True, default=str)


class VectorLookup(TableFunction, _Lookup):
    def open(self, function_context: FunctionContext) -> None:
        self._open_lookups(function_context)

    def close(self) -> None:
        self._close_lookups()

    def eval(self, store: str, query: list[float] | None, k: int, filter: str | None):
        hits, error = self._search(store, query, k, filter)
        if error is not None:
            yield None, None, None, None, error
            return
        for hit in hits:
            yield hit.id, hit.score, hit.content, _metadata(hit), None


class VectorLookupJson(ScalarFunction, _Lookup):
    def open(self, function_context: FunctionContext) -> None:
        self._open_lookups(function_context)

    def close(self) -> None:
        self._close_lookups()

    def eval(self, store: str, query: list[float] | None, k: int, filter: str | None) -> str:
        hits, error = self._search(store, query, k, filter)
        return lookup_json(hits, error)


VECTOR_LOOKUP = udtf(VectorLookup(), result_types=HIT_TYPES)
VECTOR_LOOKUP_JSON = udf(VectorLookupJson(), result_type=DataTypes.STRING())

__all__ = ["VECTOR_LOOKUP", "VECTOR_LOOKUP_JSON"]
