"""VECTOR_HITS and the store column are row data: whatever they hold ends as a value or an
error on the row, never as an exception that fails the job (which would replay the row forever)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flink_rag.connectors.vector_hits import hit_rows
from flink_rag.udfs import vector_lookup

pytestmark = pytest.mark.unit


class FakeContext:
    """The part of FunctionContext the lookup UDFs use; metrics disabled."""

    def __init__(self, params: dict[str, str]):
        self._job_parameters = params

    def get_job_parameter(self, key: str, default_value: str | None) -> str | None:
        return self._job_parameters.get(key, default_value)

    def get_metric_group(self):
        raise RuntimeError("python.metric.enabled=false")


@pytest.mark.parametrize(
    "answer",
    [
        '{"hits":["x"]}',
        '{"hits":[1, 2]}',
        '{"hits":"x"}',
        '{"hits":[{"id": 3}]}',
        '{"hits":[{"id": "a", "score": "high"}]}',
        '{"hits":[{"id": "a", "metadata": [1]}]}',
        "[1, 2]",
        '"text"',
        "null",
        "{",
        "[" * 100_000,
        "",
    ],
)
def test_a_malformed_answer_is_one_error_row(answer):
    rows = hit_rows(answer)
    assert len(rows) == 1
    assert rows[0][:4] == (None, None, None, None)
    assert "VECTOR_LOOKUP_JSON" in rows[0][4]


def test_a_real_answer_gives_one_row_per_hit():
    answer = json.dumps(
        {
            "hits": [
                {"id": "a", "score": 0.5, "content": "x", "metadata": {"k": 1}},
                {"id": "b", "score": 1, "content": None, "metadata": None},
            ],
            "error": None,
        }
    )
    assert hit_rows(answer) == [
        ("a", 0.5, "x", '{"k": 1}', None),
        ("b", 1.0, None, "{}", None),
    ]
    assert hit_rows('{"hits": [], "error": "timed out"}') == [(None, None, None, None, "timed out")]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
hit_like = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "score": json_values,
        "content": json_values,
        "metadata": json_values,
    },
)
answer_like = st.fixed_dictionaries(
    {},
    optional={
        "hits": st.lists(hit_like | json_values, max_size=4) | json_values,
        "error": json_values,
    },
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(answer_like.map(json.dumps), json_values.map(json.dumps), st.text(max_size=50)))
def test_every_answer_ends_as_hit_rows_or_one_error_row(answer):
    rows = hit_rows(answer)
    for doc_id, score, content, metadata, error in rows:
        if error is not None:
            assert len(rows) == 1 and (doc_id, score, content, metadata) == (None,) * 4
        else:
            assert doc_id is None or isinstance(doc_id, str)
            assert score is None or isinstance(score, float)
            assert content is None or isinstance(content, str)
            assert isinstance(json.loads(metadata), dict)


def test_vector_hits_udtf_yields_an_error_row_for_a_list_of_strings():
    rows = list(vector_lookup.VectorHits().eval('{"hits":["x"]}'))
    assert len(rows) == 1 and rows[0][4] is not None


def _opened(function):
    function.open(FakeContext({"flink-rag.store.docs.database": "db"}))
    return function


def test_an_unknown_store_name_from_row_data_is_a_row_error_and_opens_no_client(monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(
        vector_lookup.shared, "acquire", lambda key, create: opened.append(key) or None
    )
    lookup = _opened(vector_lookup.VectorLookup())
    rows = [list(lookup.eval(f"tenant{i}", [1.0, 0.0], 1, None)) for i in range(50)]
    assert all(len(r) == 1 and "not a configured profile" in r[0][4] for r in rows)
    assert "docs" in rows[0][0][4]  # the error names the profiles the job has
    assert opened == []  # no client for any of the 50 names

    as_json = _opened(vector_lookup.VectorLookupJson())
    out = as_json.eval(pd.Series(["nope", "bad name!"]), [1.0], 1, None)
    errors = [json.loads(answer) for answer in out]
    assert [e["hits"] for e in errors] == [[], []]
    assert "not a configured profile" in errors[0]["error"]
    assert "not a profile name" in errors[1]["error"]
    assert opened == []
