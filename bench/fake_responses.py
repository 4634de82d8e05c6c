"""Deterministic answers of the load server: embedding vectors, chat answers, token counts.

Everything here is a pure function of the request, so a test can recompute what the
server must have answered for a given input (see `input_marker`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MARKER_HEX_CHARS = 12


def input_marker(text: str) -> str:
    """Short stable tag of an input text; chat answers carry it as `[m:<marker>]`."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:MARKER_HEX_CHARS]


def marker_tag(text: str) -> str:
    return f"[m:{input_marker(text)}]"


def estimate_tokens(text: str) -> int:
    """Rough OpenAI-like token count (4 characters per token, at least 1)."""
    return max(1, (len(text) + 3) // 4)


def embedding_vector(text: str, dimensions: int) -> np.ndarray:
    """Unit-length float32 vector seeded by a hash of the text: same text, same vector."""
    seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass")).digest()[:8])
    vec = np.random.default_rng(seed).standard_normal(dimensions).astype(np.float32)
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm else vec


def embedding_items(
    texts: Sequence[str], dimensions: int, encoding_format: str = "float"
) -> list[dict[str, Any]]:
    """The `data` list of an embeddings response, one item per input, in input order."""
    items: list[dict[str, Any]] = []
    for index, text in enumerate(texts):
        vec = embedding_vector(text, dimensions)
        value: Any
        if encoding_format == "base64":
            value = base64.b64encode(vec.astype("<f4").tobytes()).decode("ascii")
        else:
            value = np.round(vec.astype(np.float64), 6).tolist()  # 3x faster than round()
        items.append({"object": "embedding", "index": index, "embedding": value})
    return items


def embedding_inputs(body: Mapping[str, Any]) -> list[str]:
    """Normalise the `input` field (string or list of strings) to a list of texts."""
    raw = body.get("input")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return list(raw)
    raise ValueError("'input' must be a string or a list of strings")


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _message_text(message)
    return ""


def prompt_text(messages: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(_message_text(m) for m in messages)


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        return _resolve(node, root)
    return schema


def value_for_schema(schema: Mapping[str, Any], marker: str, root: Mapping[str, Any]) -> Any:
    """A value valid for a (strict-mode style) JSON schema; free strings carry the marker."""
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return value_for_schema(schema[key][0], marker, root)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: value_for_schema(sub, marker, root) for name, sub in props.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        count = min(count, int(schema.get("maxItems", count)))
        return [value_for_schema(schema.get("items", {}), marker, root) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0.5))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = marker
    min_len = int(schema.get("minLength", 0))
    if len(text) < min_len:
        text = text + "x" * (min_len - len(text))
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text


def chat_answer(messages: Sequence[Mapping[str, Any]], response_format: Any = None) -> str:
    """Answer text: `[m:<marker of last user message>] ...`, or JSON valid for the schema."""
    user = last_user_text(messages)
    tag = marker_tag(user)
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema", {})
        return json.dumps(value_for_schema(schema, tag, schema), separators=(",", ":"))
    if kind == "json_object":
        return json.dumps({"answer": tag})
    return f"{tag} {user[:32]}".rstrip()
