"""Request planning for embedding providers: pure functions, no I/O.

A provider caps each request twice (OpenAI: at most 2048 inputs and 300k tokens), so a bundle
of rows is cut into as few requests as both caps allow. Order is kept so results map back by
position; a failing request is split in halves to isolate the rows the provider rejects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# 4xx statuses that do not blame the rows: 408/409/429 are about timing or load (the SDK already
# retried them) and 401/403/404 (key, permission, model or URL) would fail every half again, so
# bisecting them only multiplies requests. Any other 4xx (400, 413, 422, ...) blames the content.
_NOT_ROW_FAULTS = frozenset({401, 403, 404, 408, 409, 429})


@dataclass(frozen=True)
class Batch:
    """One planned request: positions into the planned sequence and their token total."""

    indices: tuple[int, ...]
    tokens: int


def plan_batches(token_counts: Sequence[int], max_inputs: int, max_tokens: int) -> list[Batch]:
    """Cut items (given by their token counts) into consecutive batches within both caps.

    Greedy and order-keeping. An item larger than `max_tokens` on its own still gets a batch
    of its own: the caller truncates or rejects over-long inputs before planning, so this only
    happens when the per-input limit is above the per-request one, and the provider decides.
    """
    if max_inputs < 1 or max_tokens < 1:
        raise ValueError("max_inputs and max_tokens must be >= 1")
    batches: list[Batch] = []
    current: list[int] = []
    current_tokens = 0
    for index, tokens in enumerate(token_counts):
        if tokens < 0:
            raise ValueError(f"token count of item {index} is negative")
        if current and (len(current) >= max_inputs or current_tokens + tokens > max_tokens):
            batches.append(Batch(tuple(current), current_tokens))
            current, current_tokens = [], 0
        current.append(index)
        current_tokens += tokens
    if current:
        batches.append(Batch(tuple(current), current_tokens))
    return batches


def split_in_half(indices: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The two halves of a failing batch (the first half gets the smaller share)."""
    middle = len(indices) // 2
    return tuple(indices[:middle]), tuple(indices[middle:])


def is_row_fault(status: int | None) -> bool:
    """Whether a provider status blames the request's content (so bisecting can isolate rows)."""
    return status is not None and 400 <= status < 500 and status not in _NOT_ROW_FAULTS
