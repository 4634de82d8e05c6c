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
