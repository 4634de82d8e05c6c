"""Filters are row data: any text ends as a filter or a FilterError (a per-row error), in
bounded time, never as another exception out of the lookup."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flink_rag.connectors.errors import FilterError
from flink_rag.connectors.vector_filters import (
    SUPPORTED_OPERATORS,
    parse_filter,
    validate_filter,
)

pytestmark = pytest.mark.unit

FIELDS = ["carrier", "seats", "meta.tier"]
EXTENDED = ["$date", "$oid", "$numberDecimal", "$numberLong", "$numberInt", "$numberDouble",
            "$binary", "$uuid", "$regex", "$regularExpression", "$timestamp", "$minKey",
            "$maxKey", "$code", "$symbol", "$dbPointer", "$undefined"]  # fmt: skip
keys = st.sampled_from([*FIELDS, *sorted(SUPPORTED_OPERATORS), *EXTENDED, "x", ""])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=25,
)


def _outcome(text: str) -> str:
    try:
        validate_filter(parse_filter(text), FIELDS, store="flights")
    except FilterError as err:
        assert str(err)  # says what is wrong
        return "error"
    return "value"


@settings(max_examples=300, deadline=None)
@given(documents)
def test_any_json_document_is_a_filter_or_a_filter_error(doc):
    assert _outcome(json.dumps(doc)) in ("value", "error")


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet='{}[]":,$ab01.-eE \\', max_size=60))
def test_any_text_is_a_filter_or_a_filter_error(text):
    assert _outcome(text) in ("value", "error")


@pytest.mark.parametrize(
    "text",
    [
        '{"carrier": {"$numberDecimal": "x"}}',
        '{"carrier": {"$numberDecimal": "1e999999999999"}}',
        '{"carrier": {"$binary": "zz"}}',
        '{"carrier": {"$date": {"$numberLong": "x"}}}',
        "[" * 50_000 + "]" * 50_000,
        '{"a":' * 5_000 + "1" + "}" * 5_000,
    ],
)
def test_hostile_extended_json_is_a_filter_error(text):
    with pytest.raises(FilterError) as err:
        validate_filter(parse_filter(text), FIELDS)
    assert "report this" not in str(err.value)


@pytest.mark.timeout(30)  # the quadratic check took minutes on this input
def test_a_two_megabyte_filter_of_duplicate_keys_is_refused_promptly():
    text = "{" + ",".join('"carrier":"LH"' for _ in range(140_000)) + "}"
    assert len(text) > 2_000_000
    with pytest.raises(FilterError, match="duplicate key"):
        parse_filter(text)
