"""The error hierarchy: every error the product raises on purpose is a FlinkRagError.

Messages say what went wrong and what to do about it; they never carry secrets.
"""

from __future__ import annotations


class FlinkRagError(Exception):
    """Root of flink-rag's errors."""


class ConfigError(FlinkRagError):
    """A setting is missing or invalid; the message names the option or env var to fix."""


class InputError(FlinkRagError):
    """One row's input cannot be processed (NULL, empty, too long, wrong shape)."""


class FilterError(InputError):
    """A vector lookup filter is not valid MQL for $vectorSearch or uses undeclared fields."""


class DimensionMismatchError(InputError):
    """A vector's dimension count differs from the index's."""


class ProviderError(FlinkRagError):
    """A provider call failed after the client's retries."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class IndexNotReadyError(FlinkRagError):
    """The vector index is missing, not READY, or does not match the embedder."""


class OutputValidationError(FlinkRagError):
    """A model's answer is not valid JSON or does not match the requested schema."""
