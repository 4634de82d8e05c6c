"""Embeddings from any OpenAI-compatible `/embeddings` endpoint (OpenAI, Azure, vLLM, llama.cpp)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .call_policy import CallPolicy
from .embedding import Embedder, Vector
from .embedding_response import vectors_from_body
from .metrics import Metrics, NullMetrics
from .openai_http import open_client, openai_policy, provider_error
from .settings import OPENAI_MAX_INPUT_TOKENS, EmbedSettings
from .tokens import TokenCounter

# Native sizes, so a wrong-size answer is caught on the first row rather than learnt from it.
KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIEmbedder(Embedder):
    """One SDK client per worker, created in `open()`; the call policy retries and waits."""

    provider = "openai"
    overlaps_requests = True

    def __init__(self, settings: EmbedSettings, metrics: Metrics | None = None):
        self.settings = settings
        self.metrics = metrics or NullMetrics()
        self.model = settings.model
        self.dimensions = settings.dimensions or KNOWN_DIMENSIONS.get(settings.model)
        self.max_input_tokens = settings.max_input_tokens or OPENAI_MAX_INPUT_TOKENS
        self._client: Any = None
        self._counter: TokenCounter | None = None
        self._api_key: str | None = None
        self._policy: CallPolicy | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Picklable before or after open(); the worker opens its own client."""
        state = {**self.__dict__, "_client": None, "_counter": None, "_api_key": None}
        return {**state, "_policy": None}

    def open(self) -> None:
        if self._client is not None:
            return
        s = self.settings
        self._api_key, self._client = open_client(s, self.metrics, "embed")
        self._policy = openai_policy(s, self.metrics, "embed")

    def _tokens(self) -> TokenCounter:
        if self._counter is None:
            self._counter = TokenCounter(self.model)
        return self._counter

    def count_tokens(self, text: str) -> int:
        return self._tokens().count(text)

    def truncate(self, text: str, max_tokens: int) -> str:
        return self._tokens().truncate(text, max_tokens)

    def cache_params(self) -> dict[str, Any]:
        return {"base_url": self.settings.base_url, "dimensions": self.settings.dimensions}

    def embed_batch(self, texts: Sequence[str]) -> list[Vector]:
        self.open()
        s = self.settings
        request: dict[str, Any] = {
            "model": self.model,
            "input": list(texts),
            # base64 float32, read from the raw body into float32 arrays (embedding_response.py):
            # several times cheaper than float lists or the SDK's per-vector objects. Compatible
            # servers that ignore the field send float lists, which are accepted too.
            "encoding_format": "base64",
        }
        if s.dimensions:  # only text-embedding-3-* accept it; others reject the field
            request["dimensions"] = s.dimensions
        if self._policy is None:  # a client injected before open()
            self._policy = openai_policy(s, self.metrics, "embed")
        create = self._client.embeddings.with_raw_response.create
        try:
            # One deadline for the batch (outage-wait + timeout); with_raw_response: the SDK's
            # errors, but the body left unparsed.
            response = self._policy.run(lambda timeout: create(**request, timeout=timeout))
            return vectors_from_body(response.content)
        except Exception as err:
            raise provider_error(
                err,
                what=f"embedding {len(texts)} text(s) with {self.model!r}",
                section="embed",
                base_url=s.base_url,
                timeout_s=s.timeout_s,
                max_retries=s.max_retries,
                api_key=self._api_key,
            ) from None  # the SDK error's text is not redacted; the ProviderError says it all

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
