"""Row data that names a store or carries a lookup answer, through the functions in a real
Python worker: malformed VECTOR_LOOKUP_JSON answers and store names that are not configured
profiles each come back as a row with an error; the job neither fails nor loses a row."""

from __future__ import annotations

import json

import pytest
from udf_sql import collect, strings_table

pytestmark = pytest.mark.flink

ANSWERS = [
    '{"hits":["x"]}',
    '{"hits": "x"}',
    "[1, 2]",
    "{",
    "[" * 5000,
    '{"hits": [{"id": 7, "score": "high"}]}',
    '{"hits": [{"id": "a", "score": 0.5, "content": "c", "metadata": {"k": 1}}], "error": null}',
]
STORES = ["tenant_a", "tenant-b", "no such store!", "docs2", None]


def test_malformed_answers_and_unknown_stores_are_row_errors(udf_env):
    # The profile exists but is not listed, so open() connects to nothing: every store name
    # below is unknown, and none may open a client (the URI points nowhere).
    t_env = udf_env(
        {"flink-rag.store.docs.database": "unused", "flink-rag.store.docs.timeout": "1"}
    )
    strings_table(t_env, "answers", "answer", ANSWERS)
    rows = collect(
        t_env,
        "SELECT a.id, h.doc_id, h.score, h.error FROM answers AS a "
        "LEFT JOIN LATERAL TABLE(VECTOR_HITS(a.answer)) "
        "AS h(doc_id, score, content, metadata, error) ON TRUE",
    )
    by_id: dict[int, list[tuple]] = {}
    for row in rows:
        by_id.setdefault(row[0], []).append(row[1:])
    assert sorted(by_id) == list(range(len(ANSWERS)))
    for i in range(len(ANSWERS) - 1):
        [(doc_id, score, error)] = by_id[i]
        assert doc_id is None and score is None and "VECTOR_LOOKUP_JSON" in error, (i, error)
    assert by_id[len(ANSWERS) - 1] == [("a", 0.5, None)]

    strings_table(t_env, "stores", "store", STORES)
    looked_up = collect(
        t_env,
        "SELECT id, VECTOR_LOOKUP_JSON(store, ARRAY[CAST(1.0 AS FLOAT)], 1, CAST(NULL AS STRING)) "
        "FROM stores",
    )
    assert sorted(r[0] for r in looked_up) == list(range(len(STORES)))
    for i, answer in looked_up:
        parsed = json.loads(answer)
        assert parsed["hits"] == [] and parsed["error"], (i, parsed)
        if STORES[i] in ("tenant_a", "tenant-b", "docs2"):
            assert "not a configured profile" in parsed["error"]
