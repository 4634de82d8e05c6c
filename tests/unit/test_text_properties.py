"""Chunking and prompt rendering take row data: any text, limits and context end as chunks /
a prompt or a per-row error, in bounded time, never as an exception out of the UDF."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flink_rag.connectors.errors import InputError
from flink_rag.connectors.prompt import PLACEHOLDER, hits_from_json, render_prompt
from flink_rag.connectors.tokens import utf8_bytes
from flink_rag.udfs.chunk_text import check_limits, chunk, word_count

pytestmark = pytest.mark.unit

prose = st.text(alphabet=st.sampled_from(list("ab c.\n!?é漢\t-")) | st.characters(), max_size=400)


@settings(max_examples=200, deadline=None)
@given(prose, st.integers(-2, 40), st.integers(-2, 40))
def test_any_text_and_limits_end_as_chunks_or_a_limit_error(text, max_tokens, overlap):
    problem = check_limits(max_tokens, overlap)
    if problem is not None:
        with pytest.raises(ValueError):
            chunk("doc", text, max_tokens, overlap, word_count)
        return
    chunks = chunk("doc", text, max_tokens, overlap, word_count)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert [c.chunk_id for c in chunks] == [f"doc#{i}" for i in range(len(chunks))]
    for c in chunks:
        assert c.content.strip() and c.tokens == word_count(c.content)
        assert c.tokens <= max_tokens
    # nothing lost: without overlap the chunks hold exactly the text's non-blank characters
    squeezed = "".join(text.split())
    if overlap == 0:
        assert "".join("".join(c.content.split()) for c in chunks) == squeezed
    else:
        assert set(squeezed) <= {ch for c in chunks for ch in c.content}


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
hit = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "score": json_values,
        "content": json_values,
        "metadata": json_values,
    },
)
context = st.one_of(
    st.fixed_dictionaries(
        {}, optional={"hits": st.lists(hit, max_size=5) | json_values, "error": json_values}
    ).map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=40),
    st.just("[" * 50_000),
)


def _render(template: str, context_json: str, budget: int | None) -> str | None:
    """What RAG_PROMPT does with a row: a prompt, or None after an InputError."""
    try:
        return render_prompt(template, hits_from_json(context_json), budget)
    except InputError:
        return None


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=30).map(lambda t: t + PLACEHOLDER), context, st.none() | st.integers(-5, 500)
)
def test_any_context_ends_as_a_prompt_within_budget_or_a_row_error(template, context_json, budget):
    prompt = _render(template, context_json, budget)
    if prompt is not None and budget is not None and budget >= 0:
        assert utf8_bytes(prompt) <= max(budget, utf8_bytes(template.replace(PLACEHOLDER, "")))


def test_deeply_nested_context_is_a_row_error():
    assert _render(PLACEHOLDER, "[" * 50_000 + "]" * 50_000, 100) is None
