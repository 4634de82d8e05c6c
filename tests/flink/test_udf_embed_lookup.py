"""EMBED, EMBED_RESULT, VECTOR_LOOKUP, VECTOR_LOOKUP_JSON, VECTOR_HITS and RAG_PROMPT through
SQL in real Python worker processes: the local MiniLM model and the MongoDB stand-in's Atlas
path (`$vectorSearch` on a READY search index).

Expected values are computed in the test with the same model and Atlas's score formula, so a
wrong vector, a wrong score or a row joined to another row's hits fails the test.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from pymongo import MongoClient
from udf_sql import collect, strings_table

from flink_rag.connectors.local_embedding import SentenceTransformerEmbedder
from flink_rag.connectors.mongodb_index import create_vector_index, wait_until_ready
from flink_rag.connectors.settings import EmbedSettings
from flink_rag.local.session import shared_stack

pytestmark = pytest.mark.flink

DOCS = [
    ("d1", "pets", "Cats and dogs may travel in the cabin in an approved carrier."),
    ("d2", "pets", "Service animals fly free of charge with documentation."),
    ("d3", "baggage", "Each passenger may check one bag of up to 23 kg."),
    ("d4", "refunds", "Cancelled flights are refunded to the original form of payment."),
    ("d5", "rebooking", "Passengers of a cancelled flight are rebooked on the next flight."),
]
QUERIES = [
    "can I take my cat on the plane",  # 0: no filter
    "can I take my cat on the plane",  # 1: filter category = pets
    "my flight was cancelled, what now",  # 2: no filter
    None,  # 3: NULL text -> NULL vector -> error row
    "",  # 4: empty text -> NULL vector without a call
    "baggage allowance",  # 5: filter on an undeclared field -> error row
]
FILTERS = {1: '{"category": {"$eq": "pets"}}', 5: '{"airline": "LH"}'}


@pytest.fixture(scope="module")
def model():
    embedder = SentenceTransformerEmbedder(EmbedSettings())
    embedder.open()
    yield embedder
    embedder.close()


@pytest.fixture(scope="module")
def mongodb_uri():
    with shared_stack(["mongo"]) as endpoints:
        yield endpoints.mongodb_uri


@pytest.fixture
def docs_store(model, mongodb_uri):
    """A fresh database with the documents, their MiniLM vectors and a READY search index."""
    database = f"udf_test_{uuid.uuid4().hex[:8]}"
    client = MongoClient(mongodb_uri, serverSelectionTimeoutMS=5000)
    vectors = model.embed_batch([text for _, _, text in DOCS])
    collection = client[database]["docs"]
    collection.insert_many(
        {"_id": i, "category": c, "content": t, "embedding": v}
        for (i, c, t), v in zip(DOCS, vectors, strict=True)
    )
    create_vector_index(
        collection, "docs_vector_index", "embedding", 384, filter_fields=["category"], mode="atlas"
    )
    wait_until_ready(collection, "docs_vector_index", 60, mode="atlas")
    yield database, dict(zip((d[0] for d in DOCS), vectors, strict=True))
    client.drop_database(database)
    client.close()


def expected_hits(query_vector, doc_vectors, allowed, k):
    q = np.asarray(query_vector, dtype=np.float64)
    scored = []
    for doc_id, v in doc_vectors.items():
        if doc_id not in allowed:
            continue
        v = np.asarray(v, dtype=np.float64)
        cos = float(q @ v / (np.linalg.norm(q) * np.linalg.norm(v)))
        scored.append(((1 + cos) / 2, doc_id))
    return sorted(scored, reverse=True)[:k]


def test_embed_lookup_and_prompt_through_sql(udf_env, docs_store, model):
    database, doc_vectors = docs_store
    t_env = udf_env(
        {
            "flink-rag.embed.provider": "local",
            "flink-rag.store.docs.database": database,
            "flink-rag.store.docs.filter-fields": "category",
            "flink-rag.store.docs.fields": "category",
            "flink-rag.store.docs.mode": "atlas",
            "flink-rag.stores": "docs",
        }
    )
    strings_table(t_env, "queries", "query", QUERIES)
    filter_sql = "CASE id " + " ".join(f"WHEN {i} THEN '{f}'" for i, f in FILTERS.items())
    filter_sql += " ELSE CAST(NULL AS STRING) END"
    t_env.execute_sql(
        "CREATE TEMPORARY VIEW embedded AS SELECT id, query, EMBED(query) AS v, "
        f"EMBED_RESULT(query) AS r, {filter_sql} AS f FROM queries"
    )

    vectors = collect(t_env, "SELECT id, v, r.embedding, r.error FROM embedded")
    hits = collect(
        t_env,
        "SELECT e.id, h.doc_id, h.score, h.content, h.metadata, h.error FROM embedded AS e "
        "LEFT JOIN LATERAL TABLE(VECTOR_LOOKUP('docs', e.v, 2, e.f)) "
        "AS h(doc_id, score, content, metadata, error) ON TRUE",
    )
    prompts = collect(
        t_env,
        "SELECT id, RAG_PROMPT('Policy:\n{context}\nQ: ' || query, "
        "VECTOR_LOOKUP_JSON('docs', v, 1, CAST(NULL AS STRING)), 400) FROM embedded "
        "WHERE id IN (0, 2)",
    )

    # EMBED / EMBED_RESULT: the model's vectors; NULL and empty text give NULL without error.
    by_id = {row[0]: row[1:] for row in vectors}
    assert sorted(by_id) == list(range(len(QUERIES)))
    for i, query in enumerate(QUERIES):
        v, r_embedding, r_error = by_id[i]
        assert r_error is None
        if not query:
            assert v is None and r_embedding is None
            continue
        want = model.embed_batch([query])[0]
        assert len(v) == 384
        np.testing.assert_allclose(v, want, atol=1e-5)
        np.testing.assert_allclose(r_embedding, want, atol=1e-5)

    # VECTOR_LOOKUP: Atlas's cosine scores, best first; bad rows give one error row.
    rows: dict[int, list[tuple]] = {}
    for row in hits:
        rows.setdefault(row[0], []).append(row[1:])
    query_vectors = {i: model.embed_batch([q])[0] for i, q in enumerate(QUERIES) if q}
    all_docs = set(doc_vectors)
    pets = {d[0] for d in DOCS if d[1] == "pets"}
    for i, allowed in ((0, all_docs), (1, pets), (2, all_docs)):
        want = expected_hits(query_vectors[i], doc_vectors, allowed, 2)
        got = sorted(rows[i], key=lambda r: -r[1])
        assert [g[0] for g in got] == [w[1] for w in want]
        np.testing.assert_allclose([g[1] for g in got], [w[0] for w in want], atol=1e-5)
        for doc_id, _, content, metadata, error in got:
            doc = next(d for d in DOCS if d[0] == doc_id)
            assert (content, json.loads(metadata), error) == (doc[2], {"category": doc[1]}, None)
    assert rows[0][0][0] in pets and rows[2][0][0] in {"d4", "d5"}
    for i in (3, 4):
        ((doc_id, score, _, _, error),) = rows[i]
        assert doc_id is None and score is None and "NULL" in error
    ((doc_id, _, _, _, error),) = rows[5]
    assert doc_id is None and "airline" in error

    # RAG_PROMPT over VECTOR_LOOKUP_JSON: the top document's text, within the budget.
    prompt_by_id = dict(prompts)
    for i in (0, 2):
        top = expected_hits(query_vectors[i], doc_vectors, all_docs, 1)[0][1]
        text = next(d[2] for d in DOCS if d[0] == top)
        assert prompt_by_id[i].startswith(f"Policy:\n[{top}] {text}")
        assert prompt_by_id[i].endswith(f"Q: {QUERIES[i]}")
        assert len(prompt_by_id[i].encode()) <= 400


def test_missing_index_fails_the_job_with_a_fix(udf_env, docs_store):
    database, _ = docs_store
    t_env = udf_env({"flink-rag.store.nowhere.database": database})
    strings_table(t_env, "queries", "query", ["cat"])
    with pytest.raises(Exception) as failure:
        collect(
            t_env,
            "SELECT h.doc_id FROM (SELECT EMBED(query) AS v FROM queries) AS e "
            "LEFT JOIN LATERAL TABLE(VECTOR_LOOKUP('nowhere', e.v, 1, CAST(NULL AS STRING))) "
            "AS h(doc_id, score, content, metadata, error) ON TRUE",
        )
    assert "nowhere_vector_index" in str(failure.value)
    assert "flink-rag index create" in str(failure.value)


def test_concurrent_lookups_answer_each_row_from_its_own_input(udf_env, docs_store):
    """Many rows, each querying with one document's own vector and a filter on its category:
    every answer must be that row's document (top hit, score 1) even with lookups overlapping,
    and VECTOR_HITS must give the same hits as rows."""
    database, doc_vectors = docs_store
    t_env = udf_env(
        {
            "flink-rag.store.docs.database": database,
            "flink-rag.store.docs.filter-fields": "category",
            "flink-rag.store.docs.fields": "category",
            "flink-rag.store.docs.concurrency": "8",
        },
        python__fn_execution__bundle__size="64",
        python__fn_execution__arrow__batch__size="64",
    )
    category = {d[0]: d[1] for d in DOCS}
    rows = [(i, DOCS[i % len(DOCS)][0]) for i in range(60)]
    values = ", ".join(
        f"({i}, '{doc}', '{{\"category\": \"{category[doc]}\"}}', "
        f"ARRAY[{', '.join(f'CAST({x!r} AS FLOAT)' for x in doc_vectors[doc])}])"
        for i, doc in rows
    )
    t_env.execute_sql(
        f"CREATE TEMPORARY VIEW wanted AS SELECT * FROM (VALUES {values}) AS t(id, doc, f, v)"
    )
    answers = collect(t_env, "SELECT id, doc, VECTOR_LOOKUP_JSON('docs', v, 2, f) FROM wanted")
    t_env.execute_sql(
        "CREATE TEMPORARY VIEW answered AS "
        "SELECT id, VECTOR_LOOKUP_JSON('docs', v, 2, f) AS answer FROM wanted"
    )
    hit_rows = collect(
        t_env,
        "SELECT a.id, h.doc_id, h.score, h.metadata, h.error FROM answered AS a "
        "LEFT JOIN LATERAL TABLE(VECTOR_HITS(a.answer)) "
        "AS h(doc_id, score, content, metadata, error) ON TRUE",
    )
    assert sorted(r[0] for r in answers) == [i for i, _ in rows]
    for row_id, doc, answer in answers:
        parsed = json.loads(answer)
        assert parsed["error"] is None
        assert parsed["hits"][0]["id"] == doc, f"row {row_id} got another row's answer"
        assert parsed["hits"][0]["score"] == pytest.approx(1.0, abs=1e-5)
        assert {h["metadata"]["category"] for h in parsed["hits"]} == {category[doc]}
    by_row: dict[int, list[tuple]] = {}
    for row_id, doc_id, score, metadata, error in hit_rows:
        by_row.setdefault(row_id, []).append((doc_id, score, json.loads(metadata), error))
    for row_id, doc in rows:
        hits = sorted(by_row[row_id], key=lambda h: -h[1])
        assert hits[0][0] == doc and hits[0][3] is None
        assert all(h[2] == {"category": category[doc]} for h in hits)
