"""CHUNK: a table function that splits a document into token-bounded chunks with stable ids.

    LATERAL TABLE(CHUNK(doc_id, body, 200, 40)) AS c(chunk_id, position, content, tokens, error)

Tokens are counted by the embedding model EMBED uses (`flink-rag.embed.*`): the local MiniLM's
word pieces (with [CLS]/[SEP], as its 256-token window counts them), or the OpenAI model's
tiktoken table when cached offline, else the UTF-8 byte bound (chunks then come out smaller,
never too long). The counter is the embedder EMBED shares in the same worker process.

A NULL or blank text gives no rows. Unusable limits (max_tokens < 1, overlap < 0 or more than
half of max_tokens) give one row with chunk_id NULL and `error` set, so the caller can route
it to a dead-letter table. The function keeps no state and works on any changelog: each input
row's chunks carry the input row's kind (an update retracts the old chunks and adds the new).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, TableFunction, udtf

from . import chunk_text, config, shared
from .embed import _open_embedder
from .flink_metrics import from_context

log = logging.getLogger(__name__)

CHUNK_TYPES = [
    DataTypes.STRING(),  # chunk_id: <doc_id>#<position>
    DataTypes.INT(),  # position, from 0
    DataTypes.STRING(),  # content
    DataTypes.INT(),  # tokens
    DataTypes.STRING(),  # error
]


class Chunk(TableFunction):
    def open(self, function_context: FunctionContext) -> None:
        self._metrics = from_context(function_context)
        self._settings = config.embed_settings(function_context)
        # The same key as EMBED's: one model per worker process serves both.
        self._key = ("embedder", self._settings)
        self._embedder = shared.acquire(
            self._key, lambda: _open_embedder(self._settings, self._metrics)
        )

    def close(self) -> None:
        if getattr(self, "_embedder", None) is not None:
            shared.release(self._key, lambda e: e.close())
            self._embedder = None

    def eval(
        self, doc_id: Any, text: Any, max_tokens: Any, overlap: Any
    ) -> Iterator[tuple[Any, ...]]:
        if text is None or not str(text).strip():
            return
        problem = chunk_text.check_limits(max_tokens, overlap)
        if problem is None and (doc_id is None or str(doc_id) == ""):
            problem = "doc_id is NULL or empty: chunk ids are built from it"
        if problem:
            yield None, None, None, None, f"CHUNK: {problem}"
            return
        for c in chunk_text.chunk(
            str(doc_id), str(text), int(max_tokens), int(overlap), self._embedder.count_tokens
        ):
            yield c.chunk_id, c.position, c.content, c.tokens, None


CHUNK = udtf(Chunk(), result_types=CHUNK_TYPES)
