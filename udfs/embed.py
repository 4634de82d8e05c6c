"""EMBED and EMBED_RESULT: vectorized (pandas) UDFs over `connectors.embed_bundle.embed_texts`.

A pandas UDF sees a whole batch of rows (min of `python.fn-execution.arrow.batch.size` and
`python.fn-execution.bundle.size`), so identical texts are sent once and requests are planned
within the provider's limits and run concurrently. NULL or blank text gives NULL without a
call. A failed row gives NULL (EMBED) or NULL + error text (EMBED_RESULT); with
`flink-rag.embed.on-error=fail` the job fails instead.

An optional second argument names the model profile (`flink-rag.embed.<profile>.*`,
connectors/profiles.py), e.g. EMBED(text, 'queries'); NULL or omitted is the default profile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from ..connectors.embed_bundle import embed_texts
from ..connectors.embedders import create_embedder
from ..connectors.embedding import EmbedResult
from ..connectors.errors import ConfigError
from ..connectors.profiles import DEFAULT_PROFILE, dispatch, profile_of, unknown_profile
from ..connectors.response_cache import open_cache
from . import config, flink_metrics, shared

log = logging.getLogger(__name__)

VECTOR = DataTypes.ARRAY(DataTypes.FLOAT())
EMBED_ROW = DataTypes.ROW(
    [DataTypes.FIELD("embedding", VECTOR), DataTypes.FIELD("error", DataTypes.STRING())]
)


@dataclass(frozen=True)
class _Profile:
    """What one model profile's rows use in a worker."""

    settings: Any
    metrics: Any
    embedder: Any
    cache: Any


def _embedder_key(profile: str, settings: Any) -> tuple:
    """The shared.py key: the default profile's is the one CHUNK uses too (one model loaded);
    a named profile's carries its name, so its client reports to its own metric group."""
    if profile == DEFAULT_PROFILE:
        return ("embedder", settings)
    return ("embedder", profile, settings)


def _open_embedder(settings: Any, metrics: Any) -> Any:
    embedder = create_embedder(settings, metrics)
    embedder.open()
    return embedder


class _Embed(ScalarFunction):
    """Shared lifecycle: settings from job parameters (every profile validated in open()), one
    embedder per model profile per worker process, opened on the profile's first row: a job
    that embeds only with named profiles never loads the default's local model."""

    sql_name = "EMBED"

    def open(self, function_context: FunctionContext) -> None:
        self._context = function_context
        self._declared = frozenset(config.embed_profiles(function_context))
        self._profiles: dict[str, _Profile] = {}
        self._settings = config.embed_settings(function_context, DEFAULT_PROFILE)

    def _profile(self, name: str) -> _Profile:
        opened = self._profiles.get(name)
        if opened is None:
            metrics = flink_metrics.from_context(self._context, name)
            settings = config.embed_settings(self._context, name)
            embedder = shared.acquire(
                _embedder_key(name, settings), lambda: _open_embedder(settings, metrics)
            )
            cache = open_cache(settings.cache_dir, settings.cache_max_bytes)
            opened = self._profiles[name] = _Profile(settings, metrics, embedder, cache)
            log.info(
                "EMBED: profile %s, provider %s, model %s", name, settings.provider, settings.model
            )
        return opened

    def close(self) -> None:
        for name, profile in getattr(self, "_profiles", {}).items():
            shared.release(_embedder_key(name, profile.settings), lambda e: e.close())
        self._profiles = {}

    def _embed(self, texts: pd.Series, profiles: Any = None) -> list[EmbedResult]:
        values = texts.tolist()
        column = profiles.tolist() if isinstance(profiles, pd.Series) else [profiles] * len(values)
        names = [profile_of(p) for p in column]

        def answer(name: str, rows: list[int]) -> list[EmbedResult]:
            p = self._profile(name)
            return embed_texts(
                p.embedder, [values[i] for i in rows], p.settings, p.metrics, p.cache
            )

        try:
            return dispatch(names, self._declared, answer, self._refuse)
        finally:
            for profile in self._profiles.values():
                profile.metrics.flush()

    def _refuse(self, name: str) -> EmbedResult:
        error = unknown_profile(self.sql_name, "embed", name, self._declared)
        if self._settings.on_error == "fail":
            raise ConfigError(error)
        return EmbedResult(None, error)


def _vector(result: EmbedResult) -> np.ndarray | None:
    return None if result.vector is None else np.asarray(result.vector, dtype=np.float32)


class Embed(_Embed):
    def is_deterministic(self) -> bool:
        # A model call must run once per row. Flink's planner merges projections by inlining a
        # deterministic call into every place that uses its result: `SELECT e IS NULL, e[1] FROM
        # (SELECT EMBED(t) AS e ...)` then embeds each row twice (two EMBED calls in one
        # PythonCalc, twice the requests). A non-deterministic call is never duplicated.
        return False

    def eval(self, texts: pd.Series, profiles: Any = None) -> pd.Series:
        results = self._embed(texts, profiles)
        errors = [r.error for r in results if r.error]
        if errors:  # the text stays out of the log; the error says what went wrong
            log.warning(
                "EMBED: %d of %d rows failed, first: %s", len(errors), len(texts), errors[0]
            )
        return pd.Series([_vector(r) for r in results], dtype=object)


class EmbedWithError(_Embed):
    sql_name = "EMBED_RESULT"

    # Deterministic on purpose: Flink 2.3's RemoteCalcSplitRule fails (IndexOutOfBounds in
    # Calcite's RexProgramBuilder) when fields of a non-deterministic ROW result are read next
    # to other Python calls (`e.embedding, e.error, VECTOR_LOOKUP_JSON(..., e.embedding ...)`).
    # Compute EMBED_RESULT behind a barrier (see sql/rebooking.sql) when it must run once.
    def eval(self, texts: pd.Series, profiles: Any = None) -> pd.DataFrame:
        results = self._embed(texts, profiles)
        return pd.DataFrame(
            {
                "embedding": pd.Series([_vector(r) for r in results], dtype=object),
                "error": pd.Series([r.error for r in results], dtype=object),
            }
        )


EMBED = udf(Embed(), result_type=VECTOR, func_type="pandas")
EMBED_RESULT = udf(EmbedWithError(), result_type=EMBED_ROW, func_type="pandas")
