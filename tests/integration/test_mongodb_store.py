"""VectorStore and `flink-rag index` in scan mode (the fallback for servers without search).

Only the MongoDB part of the local stack is brought up (shared with other sessions). The
stand-in has search, so indexes and profiles use mode "scan" explicitly; the Atlas path is
tested in tests/live/test_atlas_live.py. Vectors are synthetic; scores are checked against numpy
computations of Atlas's formulas. Each run works in its own database and drops it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import socket
import time
import uuid

import numpy as np
import pymongo
import pytest
from bson import Int64, ObjectId
from pymongo.operations import SearchIndexModel

from flink_rag.connectors import mongodb_scan_search
from flink_rag.connectors.errors import (
    ConfigError,
    DimensionMismatchError,
    FilterError,
    IndexNotReadyError,
    InputError,
    ProviderError,
)
from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.mongodb_index import DESCRIPTOR_COLLECTION, describe
from flink_rag.connectors.mongodb_store import VectorStore
from flink_rag.connectors.settings import StoreSettings
from flink_rag.local.session import shared_stack
from flink_rag.local.stack import Stack
from flink_rag.stores.index_cli import add_arguments, run

pytestmark = pytest.mark.integration

DIMS = 8
N_DOCS = 120
CARRIERS = ("LH", "BA", "AF")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def mongo_uri():
    """The local stack's MongoDB only (reused if running; MONGODB_URI wins if set)."""
    with shared_stack(["mongo"]) as endpoints:
        yield endpoints.mongodb_uri


@pytest.fixture(scope="module")
def database(mongo_uri):
    name = f"flink_rag_it_{uuid.uuid4().hex[:8]}"
    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    yield client[name]
    client.drop_database(name)
    client.close()


@pytest.fixture(scope="module")
def corpus(database):
    """N_DOCS documents with random vectors, a carrier, seat count, departure time and tags."""
    rng = np.random.default_rng(42)
    vectors = rng.normal(size=(N_DOCS, DIMS))
    vectors[7] = 0.0  # a zero vector: no cosine score, Atlas does not index it
    docs = []
    for i in range(N_DOCS):
        docs.append(
            {
                "_id": ObjectId() if i % 10 == 0 else f"flight-{i}",
                "embedding": vectors[i].tolist(),
                "carrier": CARRIERS[i % 3],
                "seats": i % 5,
                "departure": dt.datetime(2025, 1, 1) + dt.timedelta(hours=i),
                "content": f"Flight {i} with {CARRIERS[i % 3]}",
            }
        )
    # Documents Atlas would not index: wrong vector length, no vector.
    docs.append({"_id": "short", "embedding": [1.0] * (DIMS - 1), "carrier": "LH", "seats": 1})
    docs.append({"_id": "novector", "carrier": "LH", "seats": 1, "content": "no vector"})
    database.flights.insert_many(docs)
    return {d["_id"]: d for d in docs}


def settings(mongo_uri, database, name="flights", **options) -> StoreSettings:
    base = {
        "database": database.name,
        "collection": "flights",
        "index": "flights_vector_index",
        "filter-fields": "carrier,seats,departure",
        "fields": "carrier,seats,departure",
        "mode": "scan",
        "timeout": "5",
    }
    base.update({k.replace("_", "-"): str(v) for k, v in options.items()})
    return StoreSettings.from_options(name, base, {"MONGODB_URI": mongo_uri})


def cli(mongo_uri, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    old = os.environ.get("MONGODB_URI")
    os.environ["MONGODB_URI"] = mongo_uri
    try:
        return run(parser.parse_args(list(argv)))
    finally:
        if old is None:
            os.environ.pop("MONGODB_URI", None)
        else:
            os.environ["MONGODB_URI"] = old


@pytest.fixture(scope="module")
def index(mongo_uri, database, corpus):
    code = cli(
        mongo_uri,
        "create",
        "--mode",
        "scan",
        "--store",
        "flights",
        "--database",
        database.name,
        "--dimensions",
        str(DIMS),
        "--filter-fields",
        "carrier,seats,departure",
    )
    assert code == 0
    return describe(database.flights, "flights_vector_index")


@pytest.fixture()
def store(mongo_uri, database, index):
    metrics = RecordingMetrics()
    vs = VectorStore(settings(mongo_uri, database), metrics)
    vs.open(expected_dimensions=DIMS)
    yield vs
    vs.close()


def expected_top(corpus, query, k, keep=lambda doc: True, similarity="cosine"):
    """(id, score) of the best k by Atlas's formulas, computed independently of the product."""
    rows = []
    for doc_id, doc in corpus.items():
        v = doc.get("embedding")
        if not isinstance(v, list) or len(v) != DIMS or not keep(doc):
            continue
        v = np.asarray(v)
        if similarity == "cosine":
            if not np.linalg.norm(v):
                continue
            cos = float(v @ query / (np.linalg.norm(v) * np.linalg.norm(query)))
            score = (1 + cos) / 2
        else:
            score = 1 / (1 + float(np.linalg.norm(v - query)))
        rows.append((str(doc_id), score))
    rows.sort(key=lambda r: -r[1])
    return rows[:k]


def query_vector(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=DIMS)


# -- index administration -----------------------------------------------------------------


def test_index_create_records_descriptor_and_filter_indexes(database, index, capsys):
    assert index is not None
    assert (index.mode, index.dimensions, index.path, index.similarity) == (
        "scan",
        DIMS,
        "embedding",
        "cosine",
    )
    assert index.filter_fields == ("carrier", "seats", "departure")
    doc = database[DESCRIPTOR_COLLECTION].find_one({"name": "flights_vector_index"})
    assert doc["collection"] == "flights"
    assert doc["dimensions"] == DIMS
    assert doc["filter_fields"] == ["carrier", "seats", "departure"]
    keys = {tuple(v["key"]) for v in database.flights.index_information().values()}
    assert {(("carrier", 1),), (("seats", 1),), (("departure", 1),)} <= keys


def test_index_status_prints_json(mongo_uri, database, index, capsys):
    code = cli(
        mongo_uri, "status", "--mode", "scan", "--store", "flights", "--database", database.name
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["ready"] is True
    assert out["dimensions"] == DIMS
    assert out["mode"] == "scan"


def test_index_status_of_missing_index(mongo_uri, database, capsys):
    code = cli(mongo_uri, "status", "--store", "nothing", "--database", database.name)
    err = capsys.readouterr().err
    assert code == 1
    assert "does not exist" in err
    assert "flink-rag index create --store nothing" in err
    assert mongo_uri not in err


# -- open() checks ------------------------------------------------------------------------


def test_open_missing_index_says_how_to_create_it(mongo_uri, database, corpus):
    vs = VectorStore(settings(mongo_uri, database, name="nothing", index="nothing_vector_index"))
    with pytest.raises(IndexNotReadyError) as err:
        vs.open()
    message = str(err.value)
    assert f"vector index 'nothing_vector_index' on {database.name}.flights does not exist" in (
        message
    )
    assert "run `flink-rag index create --store nothing --dimensions N" in message


def test_open_missing_index_in_auto_mode(mongo_uri, database, corpus):
    vs = VectorStore(settings(mongo_uri, database, mode="auto", index="absent_index"))
    with pytest.raises(IndexNotReadyError, match=r"'absent_index' .* does not exist"):
        vs.open()


def test_open_auto_mode_finds_scan_descriptor(mongo_uri, database, index):
    vs = VectorStore(settings(mongo_uri, database, mode="auto"))
    info = vs.open(DIMS)
    assert info.mode == "scan"
    assert vs.mode == "scan"
    vs.close()


def test_open_dimension_mismatch_names_both_counts(mongo_uri, database, index):
    vs = VectorStore(settings(mongo_uri, database))
    with pytest.raises(DimensionMismatchError) as err:
        vs.open(expected_dimensions=384)
    message = str(err.value)
    assert f"has {DIMS} dimensions but the embedder produces 384" in message
    assert "--dimensions 384" in message


def test_open_dimensions_from_profile(mongo_uri, database, index):
    vs = VectorStore(settings(mongo_uri, database, dimensions=DIMS + 1))
    with pytest.raises(DimensionMismatchError):
        vs.open()


def test_open_filter_field_missing_from_index(mongo_uri, database, index):
    vs = VectorStore(settings(mongo_uri, database, filter_fields="carrier,price"))
    with pytest.raises(IndexNotReadyError, match="price"):
        vs.open(DIMS)


def test_open_path_mismatch(mongo_uri, database, index):
    vs = VectorStore(settings(mongo_uri, database, path="vector"))
    with pytest.raises(ConfigError, match=r"'flink-rag\.store\.flights\.path' = 'embedding'"):
        vs.open(DIMS)


def test_open_unreachable_server_is_a_provider_error(database, index):
    port = _free_port()
    s = StoreSettings.from_options(
        "flights",
        {"database": database.name, "mode": "scan", "timeout": "0.5"},
        {"MONGODB_URI": f"mongodb://user:s3cret@127.0.0.1:{port}"},
    )
    with pytest.raises(ProviderError) as err:
        VectorStore(s).open()
    assert "s3cret" not in str(err.value)
    assert err.value.retryable


def test_search_before_open_is_an_error(mongo_uri, database):
    with pytest.raises(IndexNotReadyError, match="before open"):
        VectorStore(settings(mongo_uri, database)).search([0.0] * DIMS, 3)


# -- search -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_search_without_filter_matches_numpy(store, corpus, seed):
    q = query_vector(seed)
    hits = store.search(q.tolist(), 10)
    expected = expected_top(corpus, q, 10)
    assert [h.id for h in hits] == [doc_id for doc_id, _ in expected]
    assert [h.score for h in hits] == pytest.approx([s for _, s in expected], abs=1e-6)
    assert all(0.0 <= h.score <= 1.0 for h in hits)


def test_search_with_filter_matches_numpy(store, corpus):
    q = query_vector(4)
    hits = store.search(q, 5, '{"carrier": "BA", "seats": {"$gte": 2}}')
    expected = expected_top(
        corpus, q, 5, keep=lambda d: d.get("carrier") == "BA" and d.get("seats", -1) >= 2
    )
    assert [h.id for h in hits] == [doc_id for doc_id, _ in expected]
    assert [h.score for h in hits] == pytest.approx([s for _, s in expected], abs=1e-6)
    assert {h.metadata["carrier"] for h in hits} == {"BA"}


def test_search_with_date_filter_and_logic(store, corpus):
    q = query_vector(5)
    cutoff = dt.datetime(2025, 1, 1) + dt.timedelta(hours=60)
    text = json.dumps(
        {
            "$or": [{"carrier": "AF"}, {"seats": {"$in": [0, 1]}}],
            "departure": {"$lt": {"$date": "2025-01-03 12:00:00"}},
        }
    )
    hits = store.search(q, 8, text)

    def keep(d):
        return (d.get("carrier") == "AF" or d.get("seats") in (0, 1)) and d.get(
            "departure", cutoff
        ) < cutoff

    expected = expected_top(corpus, q, 8, keep=keep)
    assert [h.id for h in hits] == [doc_id for doc_id, _ in expected]


def test_selective_filter_returns_fewer_than_k(store, corpus):
    hits = store.search(query_vector(6), 10, {"seats": 4, "carrier": "LH"})
    matching = [d for d in corpus.values() if d.get("seats") == 4 and d.get("carrier") == "LH"]
    assert 0 < len(hits) == len(matching) < 10


def test_filter_matching_nothing_gives_no_hits(store):
    assert store.search(query_vector(7), 5, {"carrier": "ZZ"}) == []


def test_hit_shape_and_json_safe_metadata(store, corpus):
    hits = store.search(query_vector(8), 20)
    assert all(h.id in {str(k) for k in corpus} for h in hits)
    hit = hits[0]
    original = next(d for k, d in corpus.items() if str(k) == hit.id)
    assert hit.content == original["content"]
    assert set(hit.metadata) == {"carrier", "seats", "departure"}
    assert hit.metadata["departure"] == original["departure"].replace(tzinfo=dt.UTC).isoformat()
    assert json.loads(json.dumps([h.to_dict() for h in hits]))[0]["id"] == hit.id


def test_object_id_becomes_hex_string(store, corpus):
    oid = next(k for k in corpus if isinstance(k, ObjectId))
    hits = store.search(corpus[oid]["embedding"], 1)
    assert hits[0].id == str(oid)
    assert hits[0].score == pytest.approx(1.0)


def test_documents_atlas_would_skip_are_skipped(store):
    ids = {h.id for h in store.search(np.ones(DIMS), N_DOCS)}
    assert "short" not in ids
    assert "novector" not in ids
    assert "flight-7" not in ids  # zero vector
    assert len(ids) == N_DOCS - 1


def test_min_score_from_profile(mongo_uri, database, index, corpus):
    vs = VectorStore(settings(mongo_uri, database, min_score=0.75))
    vs.open(DIMS)
    q = query_vector(9)
    hits = vs.search(q, 50)
    expected = [r for r in expected_top(corpus, q, 50) if r[1] >= 0.75]
    assert [h.id for h in hits] == [doc_id for doc_id, _ in expected]
    assert all(h.score >= 0.75 for h in hits)
    vs.close()


def test_euclidean_index(mongo_uri, database, corpus):
    code = cli(
        mongo_uri,
        "create",
        "--mode",
        "scan",
        "--store",
        "flights_l2",
        "--database",
        database.name,
        "--collection",
        "flights",
        "--dimensions",
        str(DIMS),
        "--similarity",
        "euclidean",
    )
    assert code == 0
    l2 = settings(
        mongo_uri, database, name="flights_l2", index="flights_l2_vector_index", filter_fields=""
    )
    vs = VectorStore(l2)
    vs.open(DIMS)
    q = query_vector(10)
    hits = vs.search(q, 5)
    expected = expected_top(corpus, q, 5, similarity="euclidean")
    assert [h.id for h in hits] == [doc_id for doc_id, _ in expected]
    assert [h.score for h in hits] == pytest.approx([s for _, s in expected], abs=1e-6)
    with pytest.raises(FilterError, match="declared: none"):
        vs.search(q, 5, {"carrier": "LH"})
    vs.close()


# -- per-row errors -------------------------------------------------------------------------


def test_wrong_query_dimension_is_a_row_error(store):
    with pytest.raises(DimensionMismatchError, match=f"3 dimensions but the index has {DIMS}"):
        store.search([0.1, 0.2, 0.3], 5)
    assert store.metrics.counters["lookup_errors"] == 1


def test_undeclared_filter_field_is_a_row_error(store):
    with pytest.raises(FilterError) as err:
        store.search(query_vector(11), 5, '{"content": "x"}')
    assert "'content'" in str(err.value)
    assert "flink-rag.store.flights.filter-fields" in str(err.value)


@pytest.mark.parametrize(
    ("vector", "k", "error"),
    [
        (None, 5, InputError),
        ([0.0] * DIMS, 5, InputError),  # zero query: cosine undefined
        ([math.nan] * DIMS, 5, InputError),
        ([0.1] * DIMS, 0, InputError),
        ([0.1] * DIMS, 100_000, InputError),
    ],
)
def test_bad_inputs_are_row_errors(store, vector, k, error):
    with pytest.raises(error):
        store.search(vector, k)


def test_metrics_count_requests_hits_errors_and_latency(store):
    store.search(query_vector(12), 4)
    store.search(query_vector(13), 3, {"carrier": "AF"})
    with pytest.raises(FilterError):
        store.search(query_vector(14), 3, "{bad json")
    counters = store.metrics.counters
    assert counters["lookup_requests"] == 3
    assert counters["lookup_hits"] == 7
    assert counters["lookup_errors"] == 1
    assert len(store.metrics.values["lookup_latency_ms"]) == 3


def test_forked_process_must_reopen(store):
    store._pid = -1  # what a child process sees after fork(): the parent's pid
    with pytest.raises(IndexNotReadyError, match="forked"):
        store.search(query_vector(15), 3)
    store.open(DIMS)  # re-creates the client in this process
    assert len(store.search(query_vector(15), 3)) == 3


# -- scan-mode vector cache ------------------------------------------------------------------


def test_inserts_and_deletes_are_seen_at_once(store, database):
    target = np.full(DIMS, 0.5)
    store.search(target, 3)  # warm the cache
    database.flights.insert_one(
        {"_id": "fresh", "embedding": target.tolist(), "carrier": "LH", "seats": 0}
    )
    try:
        hits = store.search(target, 3)
        assert hits[0].id == "fresh"
        assert hits[0].score == pytest.approx(1.0)
    finally:
        database.flights.delete_one({"_id": "fresh"})
    assert "fresh" not in {h.id for h in store.search(target, 3)}


def test_in_place_vector_update_is_seen_after_the_ttl(mongo_uri, database, index):
    database.flights.insert_one({"_id": "moving", "embedding": [1.0] * DIMS, "carrier": "BA"})
    try:
        cached = VectorStore(settings(mongo_uri, database))  # default TTL
        fresh = VectorStore(settings(mongo_uri, database, scan_cache_ttl=0))
        cached.open(DIMS)
        fresh.open(DIMS)
        target = [-1.0] * DIMS
        cached.search(target, 1, {"carrier": "BA"})
        fresh.search(target, 1, {"carrier": "BA"})
        database.flights.update_one({"_id": "moving"}, {"$set": {"embedding": target}})
        assert fresh.search(target, 1, {"carrier": "BA"})[0].id == "moving"
        assert cached.search(target, 1, {"carrier": "BA"})[0].id != "moving"  # until the TTL
        cached.close()
        fresh.close()
    finally:
        database.flights.delete_one({"_id": "moving"})


# -- CLI edge cases and real fork() -----------------------------------------------------------


def test_index_create_warns_about_stored_vector_length(mongo_uri, database, corpus, capsys):
    code = cli(
        mongo_uri,
        "create",
        "--mode",
        "scan",
        "--store",
        "wrongdims",
        "--database",
        database.name,
        "--collection",
        "flights",
        "--dimensions",
        "384",
    )
    err = capsys.readouterr().err
    assert code == 0
    assert f"have {DIMS}-dimensional vectors at 'embedding', not 384" in err


def test_index_cli_unreachable_server(capsys):
    port = _free_port()
    code = cli(
        f"mongodb://user:s3cret@127.0.0.1:{port}", "status", "--store", "x", "--timeout", "0.5"
    )
    captured = capsys.readouterr()
    assert code == 2
    assert "cannot talk to MongoDB" in captured.err
    assert "s3cret" not in captured.err + captured.out


def _child_search(store, queue):
    try:
        store.search(query_vector(16), 3)
        queue.put("searched without reopening")
    except IndexNotReadyError as err:
        store.open(DIMS)
        queue.put(("reopened", str(err), len(store.search(query_vector(16), 3))))
    except Exception as err:  # reported to the parent, which fails the test
        queue.put(repr(err))


def test_store_opened_before_fork_refuses_and_reopens_in_child(store):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_search, args=(store, queue))
    child.start()
    try:
        result = queue.get(timeout=60)
    finally:
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
    assert result[0] == "reopened", result
    assert "forked process" in result[1]
    assert result[2] == 3
    assert len(store.search(query_vector(16), 3)) == 3  # the parent's client still works


@pytest.mark.parametrize("mode", ["scan", "auto"])
def test_scan_mode_refuses_a_collection_above_its_bound(
    mongo_uri, database, index, monkeypatch, caplog, mode
):
    """Scan lists every matching id and scores every vector per lookup: above the bound the
    store refuses to open, naming mode=atlas and `flink-rag index create`; mode=auto does not
    pick scan silently."""
    monkeypatch.setattr(mongodb_scan_search, "MAX_SCAN_DOCUMENTS", N_DOCS // 2)
    vs = VectorStore(settings(mongo_uri, database, mode=mode))
    with caplog.at_level(logging.WARNING), pytest.raises(ConfigError) as refused:
        vs.open(DIMS)
    assert "'flink-rag.store.flights.mode' = 'atlas'" in str(refused.value)
    assert "flink-rag index create" in str(refused.value)
    if mode == "auto":
        assert "mode=auto found no search index" in caplog.text


def test_a_scan_whose_filter_matches_too_much_is_a_row_error(store, monkeypatch):
    """The collection grew past the bound after open: the lookup fetches at most bound+1 ids and
    fails its row (a narrower filter on another row still works)."""
    monkeypatch.setattr(mongodb_scan_search, "MAX_SCAN_DOCUMENTS", 10)
    with pytest.raises(ProviderError, match="mode' = 'atlas'") as failure:
        store.search(query_vector(1), 3)
    assert not failure.value.retryable
    assert len(store.search(query_vector(1), 3, {"seats": 4, "carrier": "LH"})) <= 3


# -- the stand-in's own search: exact integers, builds that re-read only what was written ----

BIG = 2**53  # the first integer above which doubles skip integers


def _standin_only(mongo_uri):
    if os.environ.get("MONGODB_URI"):
        pytest.skip("checks the local stand-in's own search index")


def _wait_ready(coll, name):
    deadline = time.monotonic() + 60
    while True:
        found = list(coll.list_search_indexes(name))
        if found and found[0]["status"] == "READY":
            return
        if time.monotonic() > deadline:
            pytest.fail(f"index {name} not READY after 60 s: {found}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def numbers(database):
    """Vectors with integer, long and double values around 2^53 in a filter field."""
    coll = database["numbers"]
    values = {
        "big": Int64(BIG),
        "big+1": Int64(BIG + 1),
        "big+2": Int64(BIG + 2),
        "max": Int64(2**63 - 1),
        "min": Int64(-(2**63)),
        "five-int": 5,
        "five-double": 5.0,
        "half": 5.5,
        "huge-double": 1e300,
        "big-double": float(BIG),  # the double 2^53: equal to the long 2^53 only
    }
    coll.insert_many(
        [{"_id": k, "v": [1.0, float(i + 1)], "n": v} for i, (k, v) in enumerate(values.items())]
    )
    definition = {
        "fields": [
            {"type": "vector", "path": "v", "numDimensions": 2, "similarity": "cosine"},
            {"type": "filter", "path": "n"},
        ]
    }
    coll.create_search_index(
        SearchIndexModel(definition=definition, name="n_index", type="vectorSearch")
    )
    _wait_ready(coll, "n_index")
    return coll


def _matching(coll, condition) -> set[str]:
    stage = {
        "index": "n_index",
        "path": "v",
        "queryVector": [1.0, 1.0],
        "limit": 100,
        "exact": True,
    }
    return {
        hit["_id"]
        for hit in coll.aggregate([{"$vectorSearch": {**stage, "filter": {"n": condition}}}])
    }


def test_integer_filters_are_exact_above_2_pow_53(mongo_uri, numbers):
    _standin_only(mongo_uri)
    # As doubles, 2^53 and 2^53+1 are one value: the filter must tell them apart.
    assert _matching(numbers, Int64(BIG + 1)) == {"big+1"}
    assert _matching(numbers, Int64(BIG)) == {"big", "big-double"}
    assert _matching(numbers, float(BIG)) == {"big", "big-double"}
    assert _matching(numbers, {"$gt": Int64(BIG)}) == {"big+1", "big+2", "max", "huge-double"}
    assert _matching(numbers, {"$gte": Int64(BIG + 1), "$lt": Int64(BIG + 2)}) == {"big+1"}
    assert _matching(numbers, {"$in": [Int64(BIG + 2), Int64(2**63 - 1)]}) == {"big+2", "max"}
    assert _matching(numbers, {"$ne": Int64(BIG + 1)}) == {
        "big",
        "big+2",
        "max",
        "min",
        "five-int",
        "five-double",
        "half",
        "huge-double",
        "big-double",
    }
    assert _matching(numbers, {"$gt": Int64(2**63 - 1)}) == {"huge-double"}
    assert _matching(numbers, {"$lt": Int64(-(2**63))}) == set()


def test_numbers_of_different_types_compare_by_value(mongo_uri, numbers):
    _standin_only(mongo_uri)
    assert _matching(numbers, 5) == {"five-int", "five-double"}
    assert _matching(numbers, 5.0) == {"five-int", "five-double"}
    assert _matching(numbers, Int64(5)) == {"five-int", "five-double"}
    assert _matching(numbers, {"$gt": 5}) == {
        "half",
        "big",
        "big+1",
        "big+2",
        "max",
        "huge-double",
        "big-double",
    }
    assert _matching(numbers, {"$gt": 4.5, "$lt": 5.25}) == {"five-int", "five-double"}
    assert _matching(numbers, {"$gte": 5.5, "$lte": 5.5}) == {"half"}
    assert _matching(numbers, {"$lte": 5.9}) == {"min", "five-int", "five-double", "half"}
    assert _matching(numbers, {"$lt": -1e300}) == set()
    assert _matching(numbers, {"$gt": -1e300}) == set(_matching(numbers, {"$exists": True}))


def _ready_lines(mongo_uri, namespace: str) -> list[str]:
    log = Stack().state.log_file("mongo")
    return [
        line
        for line in log.read_text().splitlines()
        if " READY: " in line and f" on {namespace} " in line
    ]


def test_a_build_re_reads_only_documents_written_while_it_ran(mongo_uri, database):
    """A build's own upserts are no writes: re-reading them took the collection's write lock
    for a second pass over every document after each build."""
    _standin_only(mongo_uri)
    coll = database["rebuilt"]
    coll.insert_many([{"_id": i, "v": [1.0, float(i)]} for i in range(500)])
    definition = {
        "fields": [{"type": "vector", "path": "v", "numDimensions": 2, "similarity": "euclidean"}]
    }
    coll.create_search_index(SearchIndexModel(definition=definition, name="r", type="vectorSearch"))
    _wait_ready(coll, "r")
    namespace = f"{database.name}.rebuilt"
    deadline = time.monotonic() + 30
    while not _ready_lines(mongo_uri, namespace):
        if time.monotonic() > deadline:
            pytest.fail(f"no READY line for {namespace} in the stand-in's log")
        time.sleep(0.05)
    assert "500 documents in" in _ready_lines(mongo_uri, namespace)[-1]
    assert "(0 written during the build re-read)" in _ready_lines(mongo_uri, namespace)[-1]
    # And the index still serves what was built.
    stage = {"index": "r", "path": "v", "queryVector": [1.0, 250.0], "limit": 1, "exact": True}
    assert [hit["_id"] for hit in coll.aggregate([{"$vectorSearch": stage}])] == [250]
