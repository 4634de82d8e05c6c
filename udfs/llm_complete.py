"""LLM_COMPLETE and LLM_COMPLETE_JSON: vectorized (pandas) UDFs over `ChatClient.complete_many`.

The rows of a batch are answered by overlapping calls (`flink-rag.llm.concurrency` threads per
worker), results in input order, each computed from its own row only. Async Python UDFs are
not used: PyFlink 2.3.0 returns some rows computed on another row's input (FLINK-39532).
Both return ROW<text, error, prompt_tokens, completion_tokens, latency_ms, finish_reason>; a
failed row has text NULL (or the raw invalid answer) and error set, unless
`flink-rag.llm.on-error=fail`. `finish_reason = 'length'` marks a text cut at max-tokens (an
error for LLM_COMPLETE_JSON); it is the last field so queries reading fields by name, and
views built on the first five, keep working.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd
from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from ..connectors.openai_chat import ChatClient, ChatRequest, Completion
from . import config, flink_metrics

log = logging.getLogger(__name__)

COMPLETION_ROW = DataTypes.ROW(
    [
        DataTypes.FIELD("text", DataTypes.STRING()),
        DataTypes.FIELD("error", DataTypes.STRING()),
        DataTypes.FIELD("prompt_tokens", DataTypes.INT()),
        DataTypes.FIELD("completion_tokens", DataTypes.INT()),
        DataTypes.FIELD("latency_ms", DataTypes.BIGINT()),
        DataTypes.FIELD("finish_reason", DataTypes.STRING()),
    ]
)


def completions_frame(completions: Sequence[Completion]) -> pd.DataFrame:
    """The ROW columns; object dtype so NULLs survive (pandas' nullable Int dtypes do not
    convert to Arrow inside PyFlink)."""

    def column(values: list) -> pd.Series:
        return pd.Series(values, dtype=object)

    return pd.DataFrame(
        {
            "text": column([c.text for c in completions]),
            "error": column([c.error for c in completions]),
            "prompt_tokens": column([c.prompt_tokens for c in completions]),
            "completion_tokens": column([c.completion_tokens for c in completions]),
            "latency_ms": column([c.latency_ms for c in completions]),
            "finish_reason": column([c.finish_reason for c in completions]),
        }
    )


def _values(column: Any, n: int) -> list:
    """A column's values with pandas' missing markers as None.

    A SQL literal argument (e.g. the system prompt) arrives as one scalar, not a Series, and an
    omitted optional argument as None: both are repeated for every row.
    """
    if not isinstance(column, pd.Series):
        return [_none_if_missing(column)] * n
    return [_none_if_missing(v) for v in column]


def _none_if_missing(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and value != value) else value


def _rows(*columns: Any) -> int:
    """The batch size: the length of the first column that is a Series."""
    return next((len(c) for c in columns if isinstance(c, pd.Series)), 1)


class _Complete(ScalarFunction):
    def open(self, function_context: FunctionContext) -> None:
        self._metrics = flink_metrics.from_context(function_context)
        settings = config.llm_settings(function_context)
        self._client = ChatClient(settings, self._metrics)
        self._client.open()
        log.info("LLM_COMPLETE: model %s, concurrency %d", settings.model, settings.concurrency)

    def close(self) -> None:
        if getattr(self, "_client", None) is not None:
            self._client.close()
            self._client = None

    def _answer(self, requests: list[ChatRequest]) -> pd.DataFrame:
        try:
            completions = self._client.complete_many(requests)
        finally:
            self._metrics.flush()
        return completions_frame(completions)


class Complete(_Complete):
    def eval(self, prompts: Any, systems: Any = None) -> pd.DataFrame:
        n = _rows(prompts, systems)
        rows = zip(_values(prompts, n), _values(systems, n), strict=True)
        return self._answer([ChatRequest(p, s) for p, s in rows])


class CompleteJson(_Complete):
    def eval(self, prompts: Any, systems: Any, schemas: Any) -> pd.DataFrame:
        n = _rows(prompts, systems, schemas)
        rows = zip(_values(prompts, n), _values(systems, n), _values(schemas, n), strict=True)
        return self._answer([ChatRequest(p, s, schema) for p, s, schema in rows])


LLM_COMPLETE = udf(Complete(), result_type=COMPLETION_ROW, func_type="pandas")
LLM_COMPLETE_JSON = udf(CompleteJson(), result_type=COMPLETION_ROW, func_type="pandas")
