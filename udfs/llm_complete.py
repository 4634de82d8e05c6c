"""LLM_COMPLETE, LLM_COMPLETE_JSON and LLM_COMPLETE_CITED: vectorized (pandas) UDFs over
`ChatClient.complete_many`.

The rows of a batch are answered by overlapping calls (`flink-rag.llm.concurrency` threads per
worker), results in input order, each computed from its own row only. Async Python UDFs are
not used: PyFlink 2.3.0 returns some rows computed on another row's input (FLINK-39532).
Both return ROW<text, error, prompt_tokens, completion_tokens, latency_ms, finish_reason>; a
failed row has text NULL (or the raw invalid answer) and error set, unless
`flink-rag.llm.on-error=fail`. `finish_reason = 'length'` marks a text cut at max-tokens (an
error for LLM_COMPLETE_JSON); it is the last field so queries reading fields by name, and
views built on the first five, keep working.

LLM_COMPLETE_JSON's optional fourth argument and LLM_COMPLETE_CITED's fourth are the retrieved
hits (VECTOR_LOOKUP_JSON's output, or a JSON array of several): a schema property marked
`"x-citations": true` becomes an array of the ids of the passages in the prompt, and an answer
citing anything else is a row error (connectors/citations.py). LLM_COMPLETE_CITED returns the
same ROW plus `provenance`, JSON `{"ids", "scores", "model", "prompt_sha256"}`: the passages
the prompt held, the configured model, and SHA256(prompt) as Flink SQL computes it. It is a
function of its own so that LLM_COMPLETE_JSON's result type stays what existing sinks expect.

Each function takes an optional last argument, the model profile (`flink-rag.llm.<profile>.*`,
connectors/profiles.py): LLM_COMPLETE(prompt, system, 'escalation'),
LLM_COMPLETE_JSON(prompt, system, schema, context_or_NULL, 'escalation'). It is last, after
every optional argument, so that no call changes meaning; NULL is the default profile. A batch's
rows are grouped by profile, each group answered by that profile's client.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd
from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from ..connectors.errors import ConfigError
from ..connectors.openai_chat import ChatClient, ChatRequest, Completion
from ..connectors.profiles import DEFAULT_PROFILE, dispatch, profile_of, unknown_profile
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
CITED_ROW = DataTypes.ROW(
    [*COMPLETION_ROW.fields, DataTypes.FIELD("provenance", DataTypes.STRING())]
)


def completions_frame(completions: Sequence[Completion], provenance: bool = False) -> pd.DataFrame:
    """The ROW columns (with `provenance` last when asked); object dtype so NULLs survive
    (pandas' nullable Int dtypes do not convert to Arrow inside PyFlink)."""

    def column(values: list) -> pd.Series:
        return pd.Series(values, dtype=object)

    frame = pd.DataFrame(
        {
            "text": column([c.text for c in completions]),
            "error": column([c.error for c in completions]),
            "prompt_tokens": column([c.prompt_tokens for c in completions]),
            "completion_tokens": column([c.completion_tokens for c in completions]),
            "latency_ms": column([c.latency_ms for c in completions]),
            "finish_reason": column([c.finish_reason for c in completions]),
        }
    )
    if provenance:
        frame["provenance"] = column([c.provenance for c in completions])
    return frame


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


def _budget_gauges(client: ChatClient, metrics: Any) -> None:
    """`llm_budget_remaining_<span>` per limited span of the profile's budgets (its own and
    its connection's, the tightest); spent tokens and refused rows are counters."""
    for span in ("minute", "hour", "day", "job"):
        if client.budget_remaining(span) is not None:
            metrics.gauge(
                f"llm_budget_remaining_{span}",
                lambda span=span: client.budget_remaining(span) or 0,
            )


class _Complete(ScalarFunction):
    """One ChatClient per model profile per worker: the default one opened in open(), a named
    one on its first row (the job start already validated every declared profile)."""

    sql_name = "LLM_COMPLETE"

    def open(self, function_context: FunctionContext) -> None:
        self._context = function_context
        self._declared = frozenset(config.llm_profiles(function_context))
        self._clients: dict[str, tuple[ChatClient, Any]] = {}
        self._default = self._client(DEFAULT_PROFILE)[0].settings

    def _client(self, profile: str) -> tuple[ChatClient, Any]:
        opened = self._clients.get(profile)
        if opened is None:
            metrics = flink_metrics.from_context(self._context, profile)
            settings = config.llm_settings(self._context, profile)
            client = ChatClient(settings, metrics, profile=profile)
            client.open()
            _budget_gauges(client, metrics)
            opened = self._clients[profile] = (client, metrics)
            log.info(
                "LLM_COMPLETE: profile %s, model %s, concurrency %d",
                profile,
                settings.model,
                settings.concurrency,
            )
        return opened

    def close(self) -> None:
        for client, _ in getattr(self, "_clients", {}).values():
            client.close()
        self._clients = {}

    def _answer(
        self, requests: list[ChatRequest], profiles: Any, provenance: bool = False
    ) -> pd.DataFrame:
        # A profile argument: NULL or omitted is the default profile; a literal may arrive as
        # one scalar for the batch.
        names = [profile_of(p) for p in _values(profiles, len(requests))]

        def answer(profile: str, rows: list[int]) -> list[Completion]:
            return self._client(profile)[0].complete_many([requests[i] for i in rows])

        try:
            completions = dispatch(names, self._declared, answer, self._refuse)
        finally:
            for _, metrics in self._clients.values():
                metrics.flush()
        return completions_frame(completions, provenance)

    def _refuse(self, profile: str) -> Completion:
        error = unknown_profile(self.sql_name, "llm", profile, self._declared)
        if self._default.on_error == "fail":
            raise ConfigError(error)
        return Completion(None, error)


class Complete(_Complete):
    def eval(self, prompts: Any, systems: Any = None, profiles: Any = None) -> pd.DataFrame:
        n = _rows(prompts, systems, profiles)
        rows = zip(_values(prompts, n), _values(systems, n), strict=True)
        return self._answer([ChatRequest(p, s) for p, s in rows], profiles)


def _json_requests(
    prompts: Any, systems: Any, schemas: Any, contexts: Any, profiles: Any
) -> list[ChatRequest]:
    n = _rows(prompts, systems, schemas, contexts, profiles)
    columns = (_values(c, n) for c in (prompts, systems, schemas, contexts))
    return [ChatRequest(*row) for row in zip(*columns, strict=True)]


class CompleteJson(_Complete):
    sql_name = "LLM_COMPLETE_JSON"

    def eval(
        self, prompts: Any, systems: Any, schemas: Any, contexts: Any = None, profiles: Any = None
    ) -> pd.DataFrame:
        requests = _json_requests(prompts, systems, schemas, contexts, profiles)
        return self._answer(requests, profiles)


class CompleteCited(_Complete):
    sql_name = "LLM_COMPLETE_CITED"

    def eval(
        self, prompts: Any, systems: Any, schemas: Any, contexts: Any, profiles: Any = None
    ) -> pd.DataFrame:
        requests = _json_requests(prompts, systems, schemas, contexts, profiles)
        return self._answer(requests, profiles, provenance=True)


LLM_COMPLETE = udf(Complete(), result_type=COMPLETION_ROW, func_type="pandas")
LLM_COMPLETE_JSON = udf(CompleteJson(), result_type=COMPLETION_ROW, func_type="pandas")
LLM_COMPLETE_CITED = udf(CompleteCited(), result_type=CITED_ROW, func_type="pandas")
