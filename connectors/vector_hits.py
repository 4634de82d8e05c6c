"""What a vector lookup returns: hits with JSON-safe metadata, whatever the store's BSON held."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import Decimal128, ObjectId


@dataclass(frozen=True)
class Hit:
    """One retrieved document: `id` is str(_id); `metadata` has the profile's fields, JSON-safe."""

    id: str
    score: float
    content: str | None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": self.score,
            "content": self.content,
            "metadata": self.metadata,
        }


def json_safe(value: Any) -> Any:
    """A value json.dumps accepts: dates as ISO strings, ObjectId/UUID/Decimal128 as strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, ObjectId | uuid.UUID | Decimal128):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def get_path(doc: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of nested documents, or None."""
    current: Any = doc
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def lookup_json(hits: list[Hit] | None, error: str | None = None) -> str:
    """`{"hits": [...], "error": ...}`, the shape VECTOR_LOOKUP_JSON returns."""
    return json.dumps(
        {"hits": [h.to_dict() for h in hits or ()], "error": error},
        ensure_ascii=False,
        allow_nan=False,
    )


# One VECTOR_HITS output row: (doc_id, score, content, metadata JSON, error).
HitRow = tuple[str | None, float | None, str | None, str | None, str | None]
_NOT_AN_ANSWER = "not a VECTOR_LOOKUP_JSON answer ({}); pass the column VECTOR_LOOKUP_JSON returned"


def hit_rows(answer: str | None) -> list[HitRow]:
    """The rows of a VECTOR_LOOKUP_JSON answer: one per hit, or one carrying an error.

    The answer is row data (it may come from a topic or be hand-written), so every shape -
    malformed JSON, a list, hits that are strings, a score that is text - ends as a row with an
    error, never as an exception that fails the job and makes it replay the row forever.
    """
    if answer is None:
        return [_error_row("no lookup answer (NULL); pass VECTOR_LOOKUP_JSON(...)")]
    try:
        parsed = json.loads(answer)
    except (ValueError, RecursionError) as err:  # RecursionError: thousands of nested brackets
        return [_error_row(_NOT_AN_ANSWER.format(f"invalid JSON: {type(err).__name__}"))]
    if not isinstance(parsed, dict):
        return [_error_row(_NOT_AN_ANSWER.format("not a JSON object"))]
    error, hits = parsed.get("error"), parsed.get("hits")
    if error is not None:
        return [_error_row(str(error))]
    if hits is None:
        hits = []
    if not isinstance(hits, list):
        return [_error_row(_NOT_AN_ANSWER.format('"hits" is not a list'))]
    rows: list[HitRow] = []
    for position, hit in enumerate(hits):
        row = _hit_row(hit)
        if row is None:
            return [_error_row(_NOT_AN_ANSWER.format(f"hit {position} is malformed"))]
        rows.append(row)
    return rows


def _hit_row(hit: Any) -> HitRow | None:
    """A hit as a row, or None if it is not `{"id": str, "score": number, ...}`."""
    if not isinstance(hit, dict):
        return None
    doc_id, score, content = hit.get("id"), hit.get("score"), hit.get("content")
    metadata = hit.get("metadata") or {}
    if doc_id is not None and not isinstance(doc_id, str):
        return None
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
        return None
    if content is not None and not isinstance(content, str):
        return None
    if not isinstance(metadata, dict):
        return None
    text = json.dumps(json_safe(metadata), ensure_ascii=False, sort_keys=True)
    return doc_id, None if score is None else float(score), content, text, None


def _error_row(error: str) -> HitRow:
    return None, None, None, None, error
