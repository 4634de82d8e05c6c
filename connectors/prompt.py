"""Prompt assembly: a template, the retrieved hits, and a token budget. Pure functions.

Hits go in best score first, whole: a hit that would overflow the budget is left out together
with every lower-scored hit after it, so the context is always the top-n and no passage is cut
mid-sentence (a half passage invites the model to invent the rest). The budget covers the
whole rendered prompt, template text included, because that is what the model's context
window and the provider's bill count.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import InputError
from .tokens import utf8_bytes

PLACEHOLDER = "{context}"
SEPARATOR = "\n"


def hits_from_json(context_json: str | None) -> list[dict[str, Any]]:
    """The hits of VECTOR_LOOKUP_JSON's `{"hits": [...], "error": ...}` (or a bare list)."""
    if context_json is None or not context_json.strip():
        return []
    try:
        parsed = json.loads(context_json)
    except json.JSONDecodeError as err:
        raise InputError(
            f"context is not valid JSON ({err.msg} at character {err.pos}); pass the "
            "output of VECTOR_LOOKUP_JSON"
        ) from err
    except RecursionError as err:  # thousands of nested brackets: row data, not a bug
        raise InputError(
            "context is nested too deeply; pass the output of VECTOR_LOOKUP_JSON"
        ) from err
    hits = parsed.get("hits") if isinstance(parsed, Mapping) else parsed
    if hits is None:
        return []
    if not isinstance(hits, list) or not all(isinstance(h, Mapping) for h in hits):
        raise InputError('context must be {"hits": [{"id", "score", "content", ...}, ...]}')
    return [dict(h) for h in hits]


def format_hit(hit: Mapping[str, Any] | Any) -> str:
    """One hit as one block: `[id] content {metadata}`."""
    get = hit.get if isinstance(hit, Mapping) else lambda k, d=None: getattr(hit, k, d)
    parts = []
    if get("id") is not None:
        parts.append(f"[{get('id')}]")
    content = get("content")
    if content is not None:
        parts.append(str(content).strip())
    metadata = get("metadata")
    if metadata:
        parts.append(json.dumps(metadata, ensure_ascii=False, sort_keys=True, default=str))
    return " ".join(parts)


def _score(hit: Mapping[str, Any] | Any) -> float:
    value = hit.get("score") if isinstance(hit, Mapping) else getattr(hit, "score", None)
    try:
        return float(value) if value is not None else float("-inf")
    except (TypeError, ValueError):
        return float("-inf")


def render_prompt(
    template: str,
    context_hits: Sequence[Mapping[str, Any] | Any],
    budget_tokens: int | None,
    count_tokens: Callable[[str], int] = utf8_bytes,
    format_hit: Callable[[Any], str] = format_hit,
) -> str:
    """`template` with `{context}` replaced by as many whole hits as fit `budget_tokens`.

    Hits are ordered by score (highest first; ties keep their order); the first that does not
    fit ends the context. `budget_tokens=None` means no limit. The default counter is the UTF-8
    byte count, an upper bound for any BPE tokenizer; pass the model's own for a tighter fit.
    Only `{context}` is replaced - other braces (JSON examples) are left alone.
    """
    if PLACEHOLDER not in template:
        raise InputError(f"the prompt template has no {PLACEHOLDER} placeholder; add one")
    if budget_tokens is not None and budget_tokens < 0:
        raise InputError(f"the token budget must be >= 0, got {budget_tokens}")
    ranked = sorted(context_hits, key=_score, reverse=True)  # sorted() is stable
    blocks: list[str] = []
    for hit in ranked:
        block = format_hit(hit)
        if not block:
            continue
        candidate = template.replace(PLACEHOLDER, SEPARATOR.join([*blocks, block]))
        if budget_tokens is not None and count_tokens(candidate) > budget_tokens:
            break
        blocks.append(block)
    return template.replace(PLACEHOLDER, SEPARATOR.join(blocks))
