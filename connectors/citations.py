"""Citations and provenance: which passages a prompt holds, an answer schema whose citations
can name only those, the check of the answer's citations, and the record of what an answer was
built from. Pure functions; no I/O.

A passage counts as *in the prompt* when it was retrieved (a hit of the context the caller
passes, VECTOR_LOOKUP_JSON's output) and its label starts a line of the prompt (RAG_PROMPT
puts it there). Both are needed: the hits alone include passages the token budget left out,
and the prompt alone could be given a label-like line by row data in the template.

A schema asks for citations with the keyword `"x-citations": true` on an array property, e.g.
`{"type": "object", "properties": {"answer": {...}, "citations": {"x-citations": true,
"minItems": 1}}, ...}`. It is expanded into `{"type": "array", "items": {"type": "string",
"enum": [<labels of the passages in the prompt>]}}` (other keywords kept), so a server that
compiles the schema into a grammar (llama.cpp) or enforces it (OpenAI strict mode) cannot emit
any other id, and the check after the call refuses one from a server that does not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .prompt import hits_from_json, passage_label, passage_labels

CITATIONS_KEYWORD = "x-citations"


@dataclass(frozen=True)
class Passage:
    """A retrieved hit that is in the prompt: its label (what a citation names) and score."""

    label: str
    score: float | None


def context_hits(context_json: str | None) -> list[dict[str, Any]]:
    """The hits of one VECTOR_LOOKUP_JSON result, or of a JSON array of several
    (`CONCAT('[', flight_hits, ',', policy_hits, ']')`), in order."""
    if context_json is None:
        return []
    if not isinstance(context_json, str):
        raise InputError(
            f"the retrieved hits must be a STRING (VECTOR_LOOKUP_JSON's output), got "
            f"{type(context_json).__name__}"
        )
    if not context_json.strip():
        return []
    try:
        parsed = json.loads(context_json)
    except (json.JSONDecodeError, RecursionError):
        return hits_from_json(context_json)  # raises the InputError that says what to pass
    if isinstance(parsed, list) and parsed and all(_is_lookup(p) for p in parsed):
        hits: list[dict[str, Any]] = []
        for part in parsed:
            hits.extend(hits_from_json(json.dumps(part)))
        return hits
    return hits_from_json(context_json)


def _is_lookup(value: Any) -> bool:
    return isinstance(value, Mapping) and "hits" in value and "id" not in value


def prompt_passages(prompt: str, hits: Sequence[Mapping[str, Any]]) -> list[Passage]:
    """The hits whose label starts a line of `prompt`, in prompt order, each once."""
    scores: dict[str, float | None] = {}
    for hit in hits:
        label = passage_label(hit.get("id"))
        if label is not None and label not in scores:
            scores[label] = _score(hit.get("score"))
    passages: list[Passage] = []
    seen: set[str] = set()
    for label in passage_labels(prompt):
        if label in scores and label not in seen:
            seen.add(label)
            passages.append(Passage(label, scores[label]))
    return passages


def _score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def expand_citations(
    schema: Mapping[str, Any], labels: Sequence[str] | None
) -> tuple[dict[str, Any], list[tuple[str, ...]]]:
    """`schema` with each `x-citations` array limited to `labels`, and the property paths of
    those arrays. `labels=None` (no context given) with such an array is an InputError."""
    paths: list[tuple[str, ...]] = []

    def walk(node: Any, path: tuple[str, ...]) -> Any:
        if not isinstance(node, Mapping):
            return node
        if node.get(CITATIONS_KEYWORD) is True:
            paths.append(path)
            return _citations_schema(node, labels)
        out = dict(node)
        props = node.get("properties")
        if isinstance(props, Mapping):
            out["properties"] = {k: walk(v, (*path, k)) for k, v in props.items()}
        return out

    expanded = walk(schema, ())
    stray = _stray_keyword(expanded)
    if stray is not None:
        raise InputError(
            f"json_schema has {CITATIONS_KEYWORD!r} at {stray}; put it on a property reached "
            'from the root through "properties" only, with the value true'
        )
    if paths and labels is None:
        raise InputError(
            f"json_schema asks for citations ({CITATIONS_KEYWORD}) but no retrieved hits were "
            "given; pass VECTOR_LOOKUP_JSON's output as the fourth argument"
        )
    return expanded, paths


def _citations_schema(node: Mapping[str, Any], labels: Sequence[str] | None) -> dict[str, Any]:
    out = {k: v for k, v in node.items() if k != CITATIONS_KEYWORD}
    out["type"] = "array"
    if labels:
        out["items"] = {"type": "string", "enum": list(dict.fromkeys(labels))}
    else:  # nothing to cite: the only valid answer is an empty array. `items` stays, as
        # llama.cpp's converter only bounds the length of an array that has `items`.
        out["items"] = {"type": "string"}
        out.pop("minItems", None)
        out["maxItems"] = 0
    return out


def _stray_keyword(node: Any) -> str | None:
    """Where an unexpanded `x-citations` is left (under items, anyOf, $defs...), if anywhere."""
    stack: list[tuple[Any, str]] = [(node, "#")]
    while stack:
        current, at = stack.pop()
        if isinstance(current, Mapping):
            if CITATIONS_KEYWORD in current:
                return at
            stack.extend((v, f"{at}/{k}") for k, v in current.items())
        elif isinstance(current, list):
            stack.extend((v, f"{at}/{i}") for i, v in enumerate(current))
    return None


def citation_problem(
    answer: Any, paths: Sequence[tuple[str, ...]], labels: Sequence[str]
) -> str | None:
    """Why the citations of a parsed answer are not all passages of the prompt (None if they
    are): a citation of a passage that was not retrieved, or not in the prompt, is refused."""
    allowed = set(labels)
    for path in paths:
        value: Any = answer
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is None:
            continue  # a missing optional array: the schema check decides
        where = "$." + ".".join(path) if path else "$"
        if not isinstance(value, list):
            return f"{where} must be an array of passage ids"
        for item in value:
            if not isinstance(item, str) or item not in allowed:
                shown = ", ".join(sorted(allowed)[:10]) or "none"
                return (
                    f"{where} cites {str(item)[:80]!r}, which is not a passage of the prompt "
                    f"(passages: {shown}); the model cited something it was not given"
                )
    return None


def prompt_sha256(prompt: str) -> str:
    """Hex SHA-256 of the prompt's UTF-8 bytes: what Flink SQL's SHA256(prompt) gives."""
    return hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()


def provenance_json(passages: Sequence[Passage], model: str | None, prompt: str) -> str:
    """What an answer was built from: `{"ids", "scores", "model", "prompt_sha256"}`."""
    return json.dumps(
        {
            "ids": [p.label for p in passages],
            "scores": [p.score for p in passages],
            "model": model,
            "prompt_sha256": prompt_sha256(prompt),
        },
        ensure_ascii=False,
    )


@dataclass(frozen=True)
class CitationPlan:
    """One row's passages and the citation arrays its schema asks for."""

    passages: tuple[Passage, ...]
    paths: tuple[tuple[str, ...], ...]

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self.passages]

    def problem(self, text: str | None) -> str | None:
        """The citation check after the call (None when the answer cites only passages)."""
        if not self.paths or text is None:
            return None
        try:
            answer = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return None  # the schema check reports an answer that is not JSON
        return citation_problem(answer, self.paths, self.labels)


def plan_citations(
    prompt: str, schema: dict[str, Any] | None, context_json: str | None
) -> tuple[dict[str, Any] | None, CitationPlan | None]:
    """The schema to send (citations expanded) and the row's plan; no plan without context
    and without `x-citations` (the call is then exactly what it was before citations)."""
    if context_json is None:
        if schema is not None:
            expand_citations(schema, None)  # raises when the schema asks for citations
        return schema, None
    passages = prompt_passages(prompt, context_hits(context_json))
    paths: list[tuple[str, ...]] = []
    if schema is not None:
        schema, paths = expand_citations(schema, [p.label for p in passages])
    return schema, CitationPlan(tuple(passages), tuple(paths))
