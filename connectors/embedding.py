"""The embedding contract: `Embedder`, one row's `EmbedResult`, and what an input must be.

A provider implements one method, `embed_batch`, for one already-planned request. Everything
a bundle of rows needs on top - NULL handling, input checks, dedupe, truncation by tokens,
request planning, concurrency, bisecting a rejected request, dimension checks, caching and
metrics - lives in `embed_bundle.embed_texts`, so every provider behaves the same.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from .tokens import truncate_utf8, utf8_bytes

# A vector as providers give it: a float list, or a 1-D float32 array (decoded base64, kept as
# it came so EMBED hands it to Arrow without a round trip through Python floats).
Vector: TypeAlias = list[float] | np.ndarray


class Embedder(ABC):
    """One embedding model behind one client. Open in `open()`, never in `__init__`."""

    provider: str = "unknown"
    model: str = ""
    dimensions: int | None = None  # None until known (then set from the first answer)
    max_input_tokens: int | None = None
    # True for remote providers: splitting a bundle into concurrent requests overlaps their
    # latency. An in-process model gains nothing from it.
    overlaps_requests: bool = False

    def open(self) -> None:  # noqa: B027 - optional hook, most providers need nothing
        """Create clients / load weights. Called once per worker; safe to call again."""

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> list[Vector]:
        """Vectors for one planned request, in input order; raise ProviderError on failure."""

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text`; the default is the UTF-8 byte upper bound."""
        return utf8_bytes(text)

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of `text` within `max_tokens` tokens."""
        return truncate_utf8(text, max_tokens)

    def cache_params(self) -> dict[str, Any]:
        """Everything besides provider, model and text that decides a vector (for cache keys)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what `open()` created."""

    def __enter__(self) -> Embedder:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class EmbedResult:
    """One row's outcome: a vector, or an error text, or neither (NULL/empty input)."""

    vector: Vector | None
    error: str | None


EMPTY = EmbedResult(None, None)  # NULL or blank input: no call, no error


def input_problem(value: Any, what: str = "EMBED input") -> str | None:
    """Why a non-NULL, non-empty text input cannot be sent (None if it can)."""
    if not isinstance(value, str):
        return f"{what} must be a STRING, got {type(value).__name__}; CAST the column to STRING"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        return (
            f"{what} is not valid UTF-8 (unpaired surrogate at character {err.start}); "
            "clean the column upstream, e.g. decode the source bytes as UTF-8"
        )
    return None


def is_empty(value: Any) -> bool:
    """NULL (None, or the NaN pandas uses for a missing value) or blank text."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()
