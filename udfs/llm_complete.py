"""LLM_COMPLETE and LLM_COMPLETE_JSON: async scalar functions, one row per call.

Each row's call starts when the row reaches the worker and its answer leaves as soon as it and
the rows before it are answered (Flink keeps the input order), instead of with its whole
bundle. Calls in flight per worker are bounded by the smaller of Flink's
`table.exec.async-scalar.max-concurrent-operations` (rows queued in the operation, default 10)
and `flink-rag.llm.concurrency` (threads making the HTTP calls, default 64): set both.
The row goes through `ChatClient`'s single-row path, so validation, the response cache, the
metrics and the rate-limit/outage waits are the ones of every other caller.
Both return ROW<text, error, prompt_tokens, completion_tokens, latency_ms>; a failed row has
text NULL (or the raw invalid answer) and error set, unless `flink-rag.llm.on-error=fail`.

PyFlink 2.3.0 hands async functions other rows' inputs (FLINK-39532); `async_operation`
fixes that in the worker (see there).
"""

from __future__ import annotations

import logging
from typing import Any

from pyflink.common import Row
from pyflink.table import DataTypes
from pyflink.table.udf import AsyncScalarFunction, FunctionContext, udf

from ..connectors.errors import ProviderError
from ..connectors.openai_chat import ChatClient, ChatRequest, Completion
from . import async_operation, config, flink_metrics

async_operation.install()  # at import: the worker imports us before it binds process_element

log = logging.getLogger(__name__)

COMPLETION_ROW = DataTypes.ROW(
    [
        DataTypes.FIELD("text", DataTypes.STRING()),
        DataTypes.FIELD("error", DataTypes.STRING()),
        DataTypes.FIELD("prompt_tokens", DataTypes.INT()),
        DataTypes.FIELD("completion_tokens", DataTypes.INT()),
        DataTypes.FIELD("latency_ms", DataTypes.BIGINT()),
    ]
)


def completion_row(completion: Completion) -> Row:
    """The ROW result of one completion (NULL fields stay NULL)."""
    c = completion
    return Row(c.text, c.error, c.prompt_tokens, c.completion_tokens, c.latency_ms)


class _Complete(AsyncScalarFunction):
    def open(self, function_context: FunctionContext) -> None:
        self._metrics = flink_metrics.from_context(function_context)
        settings = config.llm_settings(function_context)
        self._client: ChatClient | None = ChatClient(settings, self._metrics)
        self._client.open()
        log.info("LLM_COMPLETE: model %s, concurrency %d", settings.model, settings.concurrency)

    def close(self) -> None:
        if getattr(self, "_client", None) is not None:
            assert self._client is not None
            self._client.close()
            self._client = None

    def on_bundle_end(self) -> None:
        """Called on the bundle thread at the end of each bundle (see async_operation): push
        the metrics, and fail the job there if a row failed with on-error=fail."""
        metrics = getattr(self, "_metrics", None)
        if metrics is not None:
            metrics.flush()
        failure, self._failure = getattr(self, "_failure", None), None
        if failure is not None:
            raise failure from None

    async def _answer(self, request: ChatRequest) -> Row:
        assert self._client is not None, "LLM_COMPLETE used before open()"
        try:
            completion = await self._client.complete_async(request)
        except ProviderError as err:  # on-error=fail
            # Raised on the bundle thread instead: an exception from the coroutine reaches
            # PyFlink 2.3's operation only as a missing row and a 3-minute async timeout.
            self._failure = getattr(self, "_failure", None) or err
            completion = Completion(None, str(err))
        return completion_row(completion)


class Complete(_Complete):
    async def eval(self, prompt: Any, system: Any = None) -> Row:
        return await self._answer(ChatRequest(prompt, system))


class CompleteJson(_Complete):
    async def eval(self, prompt: Any, system: Any, schema: Any) -> Row:
        return await self._answer(ChatRequest(prompt, system, schema))


LLM_COMPLETE = udf(Complete(), result_type=COMPLETION_ROW)
LLM_COMPLETE_JSON = udf(CompleteJson(), result_type=COMPLETION_ROW)
