"""Hybrid lookups from SQL in a real Python worker, against the MongoDB stand-in: VECTOR_LOOKUP
and VECTOR_LOOKUP_JSON with a fifth argument, the query text, run `$rankFusion` of the vector
search and a full-text `$search` on the store's text index, the row's filter on both sides.

Each document's vector points its own way, and each row's vector points at one document while
its text names another's code: vector-only finds the first, hybrid with the text weighted up
finds the second, and a filter that excludes the named document keeps it out on both sides.
"""

from __future__ import annotations

import json
import uuid

import pytest
from pymongo import MongoClient
from udf_sql import collect

from flink_rag.connectors.mongodb_index import create_vector_index, wait_until_ready
from flink_rag.connectors.mongodb_text_index import create_text_index, wait_text_index
from flink_rag.local.session import shared_stack

pytestmark = pytest.mark.flink

DIMS = 4
DOCS = {
    f"d{i}": {
        "content": f"Flight {code} rebooking notice",
        "carrier": code[:2],
        "embedding": [1.0 if j == i else 0.0 for j in range(DIMS)],
    }
    for i, code in enumerate(["LH400", "BA117", "AF023", "KL642"])
}


@pytest.fixture(scope="module")
def database():
    with shared_stack(["mongo"]) as endpoints:
        name = f"udf_hybrid_{uuid.uuid4().hex[:8]}"
        client = MongoClient(endpoints.mongodb_uri, serverSelectionTimeoutMS=5000)
        collection = client[name]["docs"]
        collection.insert_many({"_id": doc, **fields} for doc, fields in DOCS.items())
        create_vector_index(
            collection, "docs_vector_index", "embedding", DIMS, filter_fields=["carrier"],
            mode="atlas",
        )  # fmt: skip
        create_text_index(collection, "docs_text", ["content"], ["carrier"])
        wait_until_ready(collection, "docs_vector_index", 60, mode="atlas")
        wait_text_index(collection, "docs_text", 60)
        try:
            yield name
        finally:
            client.drop_database(name)
            client.close()


def _env(udf_env, database: str):
    t_env = udf_env(
        {
            "flink-rag.store.docs.database": database,
            "flink-rag.store.docs.text-index": "docs_text",
            "flink-rag.store.docs.text-weight": "3",
            "flink-rag.store.docs.fields": "carrier",
        },
        python__fn_execution__bundle__size="4",
        python__fn_execution__arrow__batch__size="4",
    )
    # Row 0: vector at d0, text names AF023 (d2). Row 1: the same with a filter excluding AF.
    # Row 2: no text (vector-only). Row 3: an empty text (vector-only as well).
    t_env.execute_sql(
        "CREATE TEMPORARY VIEW wanted AS SELECT * FROM (VALUES "
        "(0, 'rebooking for AF023', CAST(NULL AS STRING)), "
        '(1, \'rebooking for AF023\', \'{"carrier": {"$ne": "AF"}}\'), '
        "(2, CAST(NULL AS STRING), CAST(NULL AS STRING)), "
        "(3, '', CAST(NULL AS STRING))"
        ") AS t(id, q, f)"
    )
    return t_env


VECTOR = "ARRAY[CAST(1.0 AS FLOAT), CAST(0.0 AS FLOAT), CAST(0.0 AS FLOAT), CAST(0.0 AS FLOAT)]"


def test_vector_lookup_json_runs_hybrid_lookups_per_row(udf_env, database):
    t_env = _env(udf_env, database)
    rows = collect(t_env, f"SELECT id, VECTOR_LOOKUP_JSON('docs', {VECTOR}, 3, f, q) FROM wanted")
    answers = {row_id: json.loads(answer) for row_id, answer in rows}
    for row_id, answer in answers.items():
        assert answer["error"] is None, f"row {row_id}: {answer['error']}"
    hybrid = answers[0]["hits"]
    assert hybrid[0]["id"] == "d2"  # the code in the text, weighted 3 to 1
    assert hybrid[1]["id"] == "d0"  # the vector's own document
    details = hybrid[0]["metadata"]["scoreDetails"]
    assert details["value"] == pytest.approx(hybrid[0]["score"])
    assert {d["inputPipelineName"]: d["rank"] for d in details["details"]}["text"] == 1
    assert hybrid[0]["score"] == pytest.approx(
        sum(d["weight"] / (60 + d["rank"]) for d in details["details"])
    )
    filtered = answers[1]["hits"]
    assert filtered and all(h["metadata"]["carrier"] != "AF" for h in filtered)
    assert filtered[0]["id"] == "d0"
    for vector_only in (answers[2]["hits"], answers[3]["hits"]):
        assert vector_only[0]["id"] == "d0"
        assert vector_only[0]["score"] == pytest.approx(1.0, abs=1e-5)
        assert "scoreDetails" not in vector_only[0]["metadata"]


def test_vector_lookup_table_function_takes_the_text_too(udf_env, database):
    t_env = _env(udf_env, database)
    rows = collect(
        t_env,
        "SELECT w.id, h.doc_id, h.score, h.metadata, h.error FROM wanted AS w "
        f"LEFT JOIN LATERAL TABLE(VECTOR_LOOKUP('docs', {VECTOR}, 2, w.f, w.q)) "
        "AS h(doc_id, score, content, metadata, error) ON TRUE",
    )
    by_row: dict[int, list[tuple]] = {}
    for row_id, doc_id, score, metadata, error in rows:
        assert error is None, f"row {row_id}: {error}"
        by_row.setdefault(row_id, []).append((score, doc_id, json.loads(metadata)))
    top = {row_id: max(hits)[1] for row_id, hits in by_row.items()}
    assert top == {0: "d2", 1: "d0", 2: "d0", 3: "d0"}
    assert all("scoreDetails" in meta for _, _, meta in by_row[0])
