"""EMBED and EMBED_RESULT: vectorized (pandas) UDFs over `connectors.embed_bundle.embed_texts`.

A pandas UDF sees a whole batch of rows (min of `python.fn-execution.arrow.batch.size` and
`python.fn-execution.bundle.size`), so identical texts are sent once and requests are planned
within the provider's limits and run concurrently. NULL or blank text gives NULL without a
call. A failed row gives NULL (EMBED) or NULL + error text (EMBED_RESULT); with
`flink-rag.embed.on-error=fail` the job fails instead.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from ..connectors.embed_bundle import embed_texts
from ..connectors.embedders import create_embedder
from ..connectors.embedding import EmbedResult
from ..connectors.response_cache import open_cache
from . import config, flink_metrics, shared

log = logging.getLogger(__name__)

VECTOR = DataTypes.ARRAY(DataTypes.FLOAT())
EMBED_ROW = DataTypes.ROW(
    [DataTypes.FIELD("embedding", VECTOR), DataTypes.FIELD("error", DataTypes.STRING())]
)


def _open_embedder(settings: Any, metrics: Any) -> Any:
    embedder = create_embedder(settings, metrics)
    embedder.open()
    return embedder


class _Embed(ScalarFunction):
    """Shared lifecycle: settings from job parameters, one embedder per worker process."""

    def open(self, function_context: FunctionContext) -> None:
        self._metrics = flink_metrics.from_context(function_context)
        self._settings = config.embed_settings(function_context)
        self._key = ("embedder", self._settings)
        self._embedder = shared.acquire(
            self._key, lambda: _open_embedder(self._settings, self._metrics)
        )
        self._cache = open_cache(self._settings.cache_dir, self._settings.cache_max_bytes)
        log.info("EMBED: provider %s, model %s", self._settings.provider, self._settings.model)

    def close(self) -> None:
        if getattr(self, "_embedder", None) is not None:
            shared.release(self._key, lambda e: e.close())
            self._embedder = None

    def _embed(self, texts: pd.Series) -> list[EmbedResult]:
        try:
            return embed_texts(
                self._embedder, texts.tolist(), self._settings, self._metrics, self._cache
            )
        finally:
            self._metrics.flush()


def _vector(result: EmbedResult) -> np.ndarray | None:
    return None if result.vector is None else np.asarray(result.vector, dtype=np.float32)


class Embed(_Embed):
    def is_deterministic(self) -> bool:
        # A model call must run once per row. Flink's planner merges projections by inlining a
        # deterministic call into every place that uses its result: `SELECT e IS NULL, e[1] FROM
        # (SELECT EMBED(t) AS e ...)` then embeds each row twice (two EMBED calls in one
        # PythonCalc, twice the requests). A non-deterministic call is never duplicated.
        return False

    def eval(self, texts: pd.Series) -> pd.Series:
        results = self._embed(texts)
        errors = [r.error for r in results if r.error]
        if errors:  # the text stays out of the log; the error says what went wrong
            log.warning(
                "EMBED: %d of %d rows failed, first: %s", len(errors), len(texts), errors[0]
            )
        return pd.Series([_vector(r) for r in results], dtype=object)


class EmbedWithError(_Embed):
    # Deterministic on purpose: Flink 2.3's RemoteCalcSplitRule fails (IndexOutOfBounds in
    # Calcite's RexProgramBuilder) when fields of a non-deterministic ROW result are read next
    # to other Python calls (`e.embedding, e.error, VECTOR_LOOKUP_JSON(..., e.embedding ...)`).
    # Compute EMBED_RESULT behind a barrier (see sql/rebooking.sql) when it must run once.
    def eval(self, texts: pd.Series) -> pd.DataFrame:
        results = self._embed(texts)
        return pd.DataFrame(
            {
                "embedding": pd.Series([_vector(r) for r in results], dtype=object),
                "error": pd.Series([r.error for r in results], dtype=object),
            }
        )


EMBED = udf(Embed(), result_type=VECTOR, func_type="pandas")
EMBED_RESULT = udf(EmbedWithError(), result_type=EMBED_ROW, func_type="pandas")
