"""Atlas back-pressure through VECTOR_LOOKUP_JSON in a real Python worker. The MongoDB stand-in
answers the next N `$vectorSearch` calls as an overloaded Atlas does (error 489,
SearchRequestRejectedDueToOverload): the rows wait it out within their deadline and every one
answers as without the overload; an overload that outlasts the deadline is an error on each row
that says what to do, and the job still finishes."""

from __future__ import annotations

import json
import uuid

import pytest
from pymongo import MongoClient
from udf_sql import collect

from flink_rag.connectors.mongodb_index import create_vector_index, wait_until_ready
from flink_rag.local.session import shared_stack

pytestmark = pytest.mark.flink

DIMS = 4
# Unit vectors far apart: each row's own document is its top hit, with score 1.
VECTORS = {f"d{i}": [1.0 if j == i else 0.0 for j in range(DIMS)] for i in range(DIMS)}


@pytest.fixture(scope="module")
def mongodb_uri():
    with shared_stack(["mongo"]) as endpoints:
        yield endpoints.mongodb_uri


@pytest.fixture
def overloadable(mongodb_uri):
    """(database, overload(n) -> refusals left before the call) on a READY search index."""
    database = f"udf_overload_{uuid.uuid4().hex[:8]}"
    client = MongoClient(mongodb_uri, serverSelectionTimeoutMS=5000)
    collection = client[database]["docs"]
    collection.insert_many(
        {"_id": doc, "content": f"document {doc}", "embedding": vector}
        for doc, vector in VECTORS.items()
    )
    create_vector_index(collection, "docs_vector_index", "embedding", DIMS, mode="atlas")
    wait_until_ready(collection, "docs_vector_index", 60, mode="atlas")

    def overload(refusals: int) -> int:
        return int(client.admin.command("standInOverload", refusals)["was"])

    try:
        yield database, overload
    finally:
        overload(0)  # never leave the shared stand-in refusing other tests' searches
        client.drop_database(database)
        client.close()


def _lookups(udf_env, database: str, rows: int, **store: str) -> list[tuple[int, str, dict]]:
    options = {f"flink-rag.store.docs.{k.replace('_', '-')}": v for k, v in store.items()}
    t_env = udf_env(
        {"flink-rag.store.docs.database": database, **options},
        python__fn_execution__bundle__size="8",
        python__fn_execution__arrow__batch__size="8",
    )
    docs = sorted(VECTORS)
    # Row i asks for its document's vector scaled by i + 1: every request differs (none can
    # be answered from another's refusal), and the cosine score of the document stays 1.
    values = ", ".join(
        f"({i}, '{docs[i % DIMS]}', "
        f"ARRAY[{', '.join(f'CAST({x * (i + 1)!r} AS FLOAT)' for x in VECTORS[docs[i % DIMS]])}])"
        for i in range(rows)
    )
    t_env.execute_sql(
        f"CREATE TEMPORARY VIEW wanted AS SELECT * FROM (VALUES {values}) AS t(id, doc, v)"
    )
    answers = collect(
        t_env, "SELECT id, doc, VECTOR_LOOKUP_JSON('docs', v, 2, CAST(NULL AS STRING)) FROM wanted"
    )
    return sorted((row_id, doc, json.loads(answer)) for row_id, doc, answer in answers)


def test_rows_wait_out_an_overload_and_every_one_answers(udf_env, overloadable):
    database, overload = overloadable
    # Fewer refusals than rows: however they fall, one row waits out at most 6 of them
    # (about 35 s of backoff), well within its 65 s deadline.
    refusals = 6
    overload(refusals)
    answers = _lookups(udf_env, database, 16, concurrency="4", timeout="5", outage_wait="60")
    left = overload(0)
    assert left == 0, f"{refusals - left} of {refusals} refusals reached the rows"
    assert [row_id for row_id, _, _ in answers] == list(range(16))
    for row_id, doc, answer in answers:
        assert answer["error"] is None, f"row {row_id}: {answer['error']}"
        assert answer["hits"][0]["id"] == doc
        assert answer["hits"][0]["score"] == pytest.approx(1.0, abs=1e-5)


def test_an_overload_past_the_deadline_is_each_rows_error_and_the_job_finishes(
    udf_env, overloadable
):
    database, overload = overloadable
    refusals = 1_000_000
    overload(refusals)
    answers = _lookups(udf_env, database, 3, concurrency="3", timeout="2", outage_wait="3")
    used = refusals - overload(0)
    assert [row_id for row_id, _, _ in answers] == [0, 1, 2]
    assert used >= 2 * len(answers)  # each row was refused, waited and was refused again
    for row_id, _, answer in answers:
        error = answer["error"] or ""
        assert answer["hits"] == [], f"row {row_id} has hits despite the overload"
        assert "overloaded (code 489) until the row's deadline" in error, error
        assert "'flink-rag.store.docs.concurrency'" in error
        assert "'flink-rag.store.docs.outage-wait'" in error
