"""Atlas-mode paths of index admin and VectorStore, against an in-memory fake collection.

The fake answers the few calls these modules make (list/create/update search indexes,
aggregate) the way Atlas does, so the atlas branch is covered without a cluster; the live
test runs the same flow against a real one.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import OperationFailure

from flink_rag.connectors import mongodb_index, mongodb_store
from flink_rag.connectors.errors import (
    DimensionMismatchError,
    FilterError,
    IndexNotReadyError,
    ProviderError,
)
from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.mongodb_index import (
    create_vector_index,
    describe,
    search_supported,
    vector_index_definition,
    wait_until_ready,
)
from flink_rag.connectors.mongodb_store import VectorStore
from flink_rag.connectors.settings import StoreSettings

pytestmark = pytest.mark.unit

DEFINITION = vector_index_definition("embedding", 4, "cosine", ["carrier", "seats"])


class FakeDatabase:
    name = "flink_rag"

    def __init__(self):
        self.created: list[str] = []

    def create_collection(self, name):
        self.created.append(name)

    def __getitem__(self, name: str) -> Any:
        raise AssertionError("atlas mode must not touch the scan descriptors")


class FakeCollection:
    """Atlas's answers for one collection; `statuses` are returned by successive listings."""

    def __init__(self, indexes=None, statuses=None, results=None, list_error=None, agg_error=None):
        self.name = "flights"
        self.database = FakeDatabase()
        self.indexes: dict[str, dict[str, Any]] = dict(indexes or {})
        self.statuses = list(statuses or [])
        self.results = list(results or [])
        self.list_error = list_error
        self.agg_error = agg_error
        self.created: list[dict[str, Any]] = []
        self.updated: list[tuple[str, dict[str, Any]]] = []
        self.pipelines: list[list[dict[str, Any]]] = []
        self.missing_collection = False

    def list_search_indexes(self, name=None):
        if self.list_error:
            raise self.list_error
        found = self.indexes.get(name)
        if found is None:
            return iter([])
        if self.statuses and name != "__flink_rag_probe__":
            status = self.statuses.pop(0)
            found = {**found, "status": status, "queryable": status == "READY"}
        return iter([found])

    def create_search_index(self, model):
        if self.missing_collection:
            self.missing_collection = False
            raise failure(26, "Collection flink_rag.flights does not exist")
        self.created.append(model.document)
        doc = model.document
        self.indexes[doc["name"]] = {
            "name": doc["name"],
            "status": "PENDING",
            "queryable": False,
            "latestDefinition": doc["definition"],
        }

    def update_search_index(self, name, definition):
        self.updated.append((name, definition))
        self.indexes[name]["latestDefinition"] = definition

    def aggregate(self, pipeline):
        self.pipelines.append(pipeline)
        if self.agg_error:
            raise self.agg_error
        return iter(self.results)


class FakeClient:
    def __init__(self, collection: FakeCollection):
        self.collection = collection
        self.closed = False

    def __getitem__(self, name):
        return {"flights": self.collection}

    def close(self):
        self.closed = True


def ready_index(name="flights_vector_index", definition=DEFINITION, status="READY"):
    return {
        name: {
            "name": name,
            "type": "vectorSearch",
            "status": status,
            "queryable": status == "READY",
            "latestDefinition": definition,
        }
    }


def failure(code: int, message: str = "server says no") -> OperationFailure:
    return OperationFailure(message, code=code, details={"errmsg": message, "code": code})


# -- index admin ----------------------------------------------------------------------------


def test_definition_has_vector_and_filter_fields():
    assert DEFINITION == {
        "fields": [
            {"type": "vector", "path": "embedding", "numDimensions": 4, "similarity": "cosine"},
            {"type": "filter", "path": "carrier"},
            {"type": "filter", "path": "seats"},
        ]
    }


def test_definition_spells_dot_product_like_atlas():
    definition = vector_index_definition("e", 8, "dotproduct", ["a", "a", " "])
    assert definition["fields"][0]["similarity"] == "dotProduct"
    assert definition["fields"][1:] == [{"type": "filter", "path": "a"}]


@pytest.mark.parametrize("dims", [0, 8193, 2.5, True])
def test_definition_rejects_bad_dimensions(dims):
    with pytest.raises(mongodb_index.ConfigError, match="dimensions"):
        vector_index_definition("e", dims, "cosine")


@pytest.mark.parametrize("code", [59, 115, 40324, 31082, 6047401])
def test_search_unsupported_codes(code):
    assert search_supported(FakeCollection(list_error=failure(code))) is False


def test_search_listing_forbidden_is_an_error():
    with pytest.raises(IndexNotReadyError, match="listSearchIndexes privilege"):
        search_supported(FakeCollection(list_error=failure(13, "not authorized")))


def test_create_on_atlas_uses_a_vector_search_model():
    coll = FakeCollection()
    info = create_vector_index(coll, "idx", "embedding", 4, "cosine", ["carrier", "seats"])
    assert coll.created == [{"name": "idx", "type": "vectorSearch", "definition": DEFINITION}]
    assert (info.mode, info.status, info.ready) == ("atlas", "PENDING", False)
    assert info.filter_fields == ("carrier", "seats")


def test_create_on_missing_collection_creates_it_first():
    coll = FakeCollection()
    coll.missing_collection = True
    create_vector_index(coll, "idx", "embedding", 4, "cosine", ["carrier", "seats"])
    assert coll.database.created == ["flights"]
    assert [doc["name"] for doc in coll.created] == ["idx"]


def test_create_other_server_errors_propagate():
    coll = FakeCollection()
    coll.create_search_index = lambda model: (_ for _ in ()).throw(failure(8, "bad definition"))
    with pytest.raises(OperationFailure, match="bad definition"):
        create_vector_index(coll, "idx", "embedding", 4)


def test_create_same_definition_is_a_no_op():
    coll = FakeCollection(indexes=ready_index("idx"))
    info = create_vector_index(coll, "idx", "embedding", 4, "cosine", ["carrier", "seats"])
    assert coll.created == [] and coll.updated == []
    assert info.ready


def test_create_changed_definition_updates():
    coll = FakeCollection(indexes=ready_index("idx"))
    create_vector_index(coll, "idx", "embedding", 4, "cosine", ["carrier"])
    assert coll.updated == [("idx", vector_index_definition("embedding", 4, "cosine", ["carrier"]))]


def test_wait_until_ready_polls_through_build(monkeypatch):
    monkeypatch.setattr(mongodb_index.time, "sleep", lambda s: None)
    coll = FakeCollection(indexes=ready_index("idx"), statuses=["PENDING", "BUILDING", "READY"])
    info = wait_until_ready(coll, "idx", timeout_s=60)
    assert info.ready
    assert coll.statuses == []


def test_wait_until_ready_fails_fast_on_failed(monkeypatch):
    monkeypatch.setattr(mongodb_index.time, "sleep", lambda s: None)
    coll = FakeCollection(indexes=ready_index("idx"), statuses=["PENDING", "FAILED", "READY"])
    with pytest.raises(IndexNotReadyError, match="FAILED"):
        wait_until_ready(coll, "idx", timeout_s=60)


def test_wait_until_ready_times_out_with_state():
    coll = FakeCollection(indexes=ready_index("idx", status="BUILDING"))
    with pytest.raises(IndexNotReadyError, match="is still BUILDING after 0 s"):
        wait_until_ready(coll, "idx", timeout_s=0)


def test_describe_reads_atlas_definition():
    info = describe(FakeCollection(indexes=ready_index("idx")), "idx")
    assert info is not None
    assert (info.mode, info.path, info.dimensions, info.similarity) == (
        "atlas",
        "embedding",
        4,
        "cosine",
    )


def test_describe_index_without_vector_field():
    coll = FakeCollection(indexes=ready_index("idx", definition={"fields": []}))
    with pytest.raises(IndexNotReadyError, match="no vector field"):
        describe(coll, "idx")


# -- VectorStore in atlas mode --------------------------------------------------------------


def make_store(monkeypatch, coll: FakeCollection, **options) -> tuple[VectorStore, FakeClient]:
    client = FakeClient(coll)
    monkeypatch.setattr(mongodb_store, "open_client", lambda settings: client)
    base = {"filter-fields": "carrier", "fields": "carrier", **options}
    settings = StoreSettings.from_options("flights", base, {})
    return VectorStore(settings, RecordingMetrics()), client


def test_store_atlas_search_runs_the_pipeline(monkeypatch):
    results = [
        {"_id": "a", "score": 0.9, "content": "A", "carrier": "LH"},
        {"_id": 7, "score": 0.8, "content": None, "carrier": "BA"},
    ]
    coll = FakeCollection(indexes=ready_index(), results=results)
    store, _ = make_store(monkeypatch, coll, **{"min-score": "0.5"})
    assert store.open(expected_dimensions=4).mode == "atlas"
    hits = store.search([0.1, 0.2, 0.3, 0.4], 2, '{"carrier": {"$in": ["LH", "BA"]}}')
    assert [(h.id, h.score, h.content, h.metadata) for h in hits] == [
        ("a", 0.9, "A", {"carrier": "LH"}),
        ("7", 0.8, None, {"carrier": "BA"}),
    ]
    (pipeline,) = coll.pipelines
    search = pipeline[0]["$vectorSearch"]
    assert search["filter"] == {"carrier": {"$in": ["LH", "BA"]}}
    assert (search["limit"], search["numCandidates"], search["index"]) == (
        2,
        40,
        "flights_vector_index",
    )
    assert pipeline[-1] == {"$match": {"score": {"$gte": 0.5}}}


def test_store_atlas_exact_and_num_candidates_options(monkeypatch):
    coll = FakeCollection(indexes=ready_index())
    store, _ = make_store(monkeypatch, coll, exact="true")
    store.open(4)
    store.search([1.0, 0.0, 0.0, 0.0], 3)
    search = coll.pipelines[0][0]["$vectorSearch"]
    assert search["exact"] is True and "numCandidates" not in search


def test_store_atlas_not_ready_index(monkeypatch):
    coll = FakeCollection(indexes=ready_index(status="BUILDING"))
    store, client = make_store(monkeypatch, coll)
    with pytest.raises(IndexNotReadyError, match=r"is BUILDING .* wait until it is READY"):
        store.open(4)
    assert client.closed


def test_store_atlas_dimension_mismatch_at_open(monkeypatch):
    store, client = make_store(monkeypatch, FakeCollection(indexes=ready_index()))
    with pytest.raises(DimensionMismatchError, match="has 4 dimensions but the embedder produces"):
        store.open(expected_dimensions=1536)
    assert client.closed


def test_store_atlas_wrong_query_dimension_never_reaches_the_server(monkeypatch):
    coll = FakeCollection(indexes=ready_index())
    store, _ = make_store(monkeypatch, coll)
    store.open()
    with pytest.raises(DimensionMismatchError, match="5 dimensions but the index has 4"):
        store.search([0.1] * 5, 2)
    assert coll.pipelines == []


def test_store_atlas_server_dimension_error_is_translated(monkeypatch):
    # e.g. the index was rebuilt with another size after open()
    err = failure(8, "vector field is indexed with 3 dimensions but queried with 4")
    store, _ = make_store(monkeypatch, FakeCollection(indexes=ready_index(), agg_error=err))
    store.open(4)
    with pytest.raises(
        DimensionMismatchError, match=r"index has 3 dimensions .* query vector has 4"
    ):
        store.search([0.1] * 4, 2)


def test_store_atlas_server_error_is_a_provider_error(monkeypatch):
    err = failure(2, "bad thing near mongodb+srv://user:pw@cluster.example")
    store, _ = make_store(monkeypatch, FakeCollection(indexes=ready_index(), agg_error=err))
    store.open(4)
    with pytest.raises(ProviderError) as raised:
        store.search([0.1] * 4, 2)
    assert "pw@" not in str(raised.value)
    assert store.metrics.counters["lookup_errors"] == 1


def test_store_filter_is_checked_before_any_call(monkeypatch):
    coll = FakeCollection(indexes=ready_index())
    store, _ = make_store(monkeypatch, coll)
    store.open(4)
    with pytest.raises(FilterError):
        store.search([0.1] * 4, 2, '{"seats": {"$where": 1}}')
    with pytest.raises(FilterError, match="'content'"):
        store.search([0.1] * 4, 2, {"content": "x"})
    assert coll.pipelines == []


def test_store_pickles_without_its_connection(monkeypatch):
    import pickle

    store, _ = make_store(monkeypatch, FakeCollection(indexes=ready_index()))
    fresh = pickle.loads(pickle.dumps(store))
    assert fresh.settings == store.settings and fresh.index is None
    store.open(4)
    shipped = pickle.loads(pickle.dumps(store))
    assert shipped.index is None  # must open() again where it runs
    with pytest.raises(IndexNotReadyError, match="before open"):
        shipped.search([0.1] * 4, 1)


# -- Atlas back-pressure: an overloaded $vectorSearch is a wait within the row's deadline ----


class OverloadedCollection(FakeCollection):
    """Answers `overloads` aggregations with Atlas's overload error, then with `results`."""

    def __init__(self, overloads: int, error: OperationFailure, **kwargs):
        super().__init__(indexes=ready_index(), **kwargs)
        self.overloads, self.error = overloads, error

    def aggregate(self, pipeline):
        self.pipelines.append(pipeline)
        if len(self.pipelines) <= self.overloads:
            raise self.error
        return iter(self.results)


class PolicyClock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def with_fake_clock(store: VectorStore) -> PolicyClock:
    import dataclasses

    clock = PolicyClock()
    store.policy = dataclasses.replace(store.policy, clock=lambda: clock.now, sleep=clock.sleep)
    return clock


@pytest.mark.parametrize(
    "error",
    [
        failure(489, "search is overloaded"),
        OperationFailure("shed", 463, {"errmsg": "shed", "errorLabels": ["SystemOverloadedError"]}),
    ],
    ids=["489", "load-shedding-label"],
)
def test_an_overloaded_search_delays_the_row_and_is_counted(monkeypatch, error):
    coll = OverloadedCollection(3, error, results=[{"_id": "a", "score": 0.9, "carrier": "LH"}])
    store, _ = make_store(monkeypatch, coll)
    store.open(4)
    clock = with_fake_clock(store)
    hits = store.search([0.1] * 4, 1)
    assert [h.id for h in hits] == ["a"]
    assert len(coll.pipelines) == 4
    assert store.metrics.counters["lookup_back_pressure_waits"] == 3
    assert "lookup_errors" not in store.metrics.counters
    assert 0 < clock.now < store.policy.deadline_s


def test_an_overload_that_outlasts_the_deadline_is_a_row_error_saying_what_to_do(monkeypatch):
    coll = OverloadedCollection(10**9, failure(489, "search is overloaded"))
    store, _ = make_store(monkeypatch, coll, **{"outage-wait": "20", "timeout": "5"})
    store.open(4)
    clock = with_fake_clock(store)
    with pytest.raises(ProviderError) as raised:
        store.search([0.1] * 4, 1)
    message = str(raised.value)
    assert "overloaded (code 489)" in message
    assert "flink-rag.store.flights.outage-wait" in message
    assert "flink-rag.store.flights.concurrency" in message
    assert f"{len(coll.pipelines)} attempt(s)" in message
    assert clock.now < 20.0 + 5.0
    assert store.metrics.counters["lookup_back_pressure_waits"] == len(coll.pipelines) - 1
    assert store.metrics.counters["lookup_errors"] == 1


def test_an_ordinary_refusal_is_not_waited_for(monkeypatch):
    coll = OverloadedCollection(10**9, failure(2, "bad pipeline"))
    store, _ = make_store(monkeypatch, coll)
    store.open(4)
    with_fake_clock(store)
    with pytest.raises(ProviderError, match="refused the lookup"):
        store.search([0.1] * 4, 1)
    assert len(coll.pipelines) == 1
