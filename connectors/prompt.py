"""Prompt assembly: a template, the retrieved hits, and a token budget. Pure functions.

Hits go in best score first, whole: a hit that would overflow the budget is left out together
with every lower-scored hit after it, so the context is always the top-n and no passage is cut
mid-sentence (a half passage invites the model to invent the rest). The budget covers the
whole rendered prompt, template text included, because that is what the model's context
window and the provider's bill count.

Every passage is one line that starts with its label, `[id] content`, so an answer can cite it
and LLM_COMPLETE_JSON can tell which passages a prompt holds (`passage_labels`). Passage text
is row data: its line breaks become spaces, so it can neither end its own line nor start one
that reads as another passage's label. An id with whitespace, brackets, `%` or unprintable
characters is percent-encoded in its label (injective: two ids never share a label). A hit
without an id is left out: a passage nobody can cite or trace is not put before the model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import InputError
from .tokens import utf8_bytes

PLACEHOLDER = "{context}"
SEPARATOR = "\n"
_LABEL_AT_LINE_START = re.compile(r"\[([^\[\]\s]+)\](?: |$)")


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


def passage_label(hit_id: Any) -> str | None:
    """The label a hit's id gets in a prompt (None for no id): the id itself when it is
    printable without whitespace, brackets or `%`; otherwise those characters percent-encoded
    (UTF-8), so the label is one token-like word that no passage text can imitate."""
    if hit_id is None:
        return None
    text = hit_id if isinstance(hit_id, str) else json.dumps(hit_id, sort_keys=True, default=str)
    if not text:
        return None
    return "".join(ch if _plain(ch) else _percent(ch) for ch in text)


def _plain(ch: str) -> bool:
    return ch.isprintable() and not ch.isspace() and ch not in "[]%"


def _percent(ch: str) -> str:
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))


def _get(hit: Mapping[str, Any] | Any, key: str) -> Any:
    return hit.get(key) if isinstance(hit, Mapping) else getattr(hit, key, None)


def passage_labels(prompt: str) -> list[str]:
    """The labels of the lines of `prompt` that start as a passage does (`[label] ...`).

    Template text can start such a line too, so a caller that needs the passages actually
    retrieved intersects this with the labels of the hits (see `connectors.citations`)."""
    labels = []
    for line in prompt.split(SEPARATOR):
        match = _LABEL_AT_LINE_START.match(line)
        if match is not None:
            labels.append(match.group(1))
    return labels


def format_hit(hit: Mapping[str, Any] | Any) -> str:
    """One hit as one block: `[label] content {metadata}` (empty without an id)."""
    label = passage_label(_get(hit, "id"))
    if label is None:
        return ""
    parts = [f"[{label}]"]
    content = _get(hit, "content")
    if content is not None:
        parts.append(str(content).strip())
    metadata = _get(hit, "metadata")
    if metadata:
        parts.append(json.dumps(metadata, ensure_ascii=False, sort_keys=True, default=str))
    return " ".join(parts)


def _score(hit: Mapping[str, Any] | Any) -> float:
    value = _get(hit, "score")
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
    Only `{context}` is replaced - other braces (JSON examples) are left alone. Each block
    is put on one line (its whitespace runs become single spaces), and the context starts and
    ends on a line of its own, so every passage line starts with its label.
    """
    if PLACEHOLDER not in template:
        raise InputError(f"the prompt template has no {PLACEHOLDER} placeholder; add one")
    if budget_tokens is not None and budget_tokens < 0:
        raise InputError(f"the token budget must be >= 0, got {budget_tokens}")
    ranked = sorted(context_hits, key=_score, reverse=True)  # sorted() is stable
    before, _, after = template.partition(PLACEHOLDER)
    lead = SEPARATOR if before and not before.endswith(SEPARATOR) else ""
    trail = SEPARATOR if after and not after.startswith(SEPARATOR) else ""

    def fill(blocks: list[str]) -> str:
        context = f"{lead}{SEPARATOR.join(blocks)}{trail}" if blocks else ""
        return template.replace(PLACEHOLDER, context)

    blocks: list[str] = []
    for hit in ranked:
        # split() also breaks at \r, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029: every line end.
        block = " ".join(format_hit(hit).split())
        if not block:
            continue
        candidate = fill([*blocks, block])
        if budget_tokens is not None and count_tokens(candidate) > budget_tokens:
            break
        blocks.append(block)
    return fill(blocks)
