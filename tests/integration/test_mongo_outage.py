"""A MongoDB outage between real parts (VectorStore -> toxiproxy -> MongoDB stand-in): within
the store's `outage-wait` a lookup waits and then answers as before; without it, the same cut
is a ProviderError (the control)."""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from urllib.parse import urlsplit

import numpy as np
import pymongo
import pytest
from slow_mongo_proxy import SlowAggregateProxy

from flink_rag.connectors.errors import ProviderError
from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.mongodb_store import VectorStore
from flink_rag.connectors.settings import StoreSettings
from flink_rag.local.session import shared_stack
from flink_rag.stores.index_cli import add_arguments, run
from flink_rag_bench.fault_scenario.toxiproxy import Toxiproxy

pytestmark = pytest.mark.integration

DIMS = 4
CUT_S = 6.0


@pytest.fixture(scope="module")
def proxied():
    """(real URI, proxy, database name) with a small indexed collection."""
    with shared_stack(["mongo"]) as endpoints, Toxiproxy() as toxiproxy:
        uri = endpoints.mongodb_uri
        name = f"flink_rag_outage_{uuid.uuid4().hex[:8]}"
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        rng = np.random.default_rng(3)
        client[name].docs.insert_many(
            [
                {"_id": f"d{i}", "embedding": rng.normal(size=DIMS).tolist(), "content": f"{i}"}
                for i in range(20)
            ]
        )
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        old = os.environ.get("MONGODB_URI")
        os.environ["MONGODB_URI"] = uri
        try:
            args = ["create", "--store", "docs", "--database", name, "--dimensions", str(DIMS)]
            args += ["--wait", "60"]
            assert run(parser.parse_args(args)) == 0
        finally:
            if old is None:
                os.environ.pop("MONGODB_URI", None)
            else:
                os.environ["MONGODB_URI"] = old
        proxy = toxiproxy.proxy("mongo", urlsplit(uri).netloc)
        try:
            yield uri, proxy, name
        finally:
            client.drop_database(name)
            client.close()


def _store(proxy, database: str, wait: float) -> VectorStore:
    options = {
        "database": database,
        "collection": "docs",
        "index": "docs_vector_index",
        "timeout": "2",
        "outage-wait": str(wait),
    }
    uri = f"mongodb://{proxy.listen}/?directConnection=true"
    settings = StoreSettings.from_options("docs", options, {"MONGODB_URI": uri})
    store = VectorStore(settings, RecordingMetrics())
    store.open(expected_dimensions=DIMS)
    return store


def test_a_lookup_during_an_outage_waits_and_answers(proxied):
    _, proxy, database = proxied
    store = _store(proxy, database, wait=60.0)
    query = np.ones(DIMS)
    try:
        before = [h.id for h in store.search(query, 3)]
        answer: list = []
        proxy.disable()
        try:
            worker = threading.Thread(target=lambda: answer.append(store.search(query, 3)))
            worker.start()
            time.sleep(CUT_S)
        finally:
            proxy.enable()
        worker.join(timeout=60)
        assert not worker.is_alive()
    finally:
        store.close()
    assert [h.id for h in answer[0]] == before
    assert store.metrics.counters["lookup_outage_retries"] > 0
    assert max(store.metrics.values["lookup_outage_wait_ms"]) >= CUT_S * 1000 * 0.5


def test_without_the_wait_the_same_cut_is_a_provider_error(proxied):
    _, proxy, database = proxied
    store = _store(proxy, database, wait=0.0)
    try:
        proxy.disable()
        try:
            with pytest.raises(ProviderError, match="MongoDB"):
                store.search(np.ones(DIMS), 3)
        finally:
            proxy.enable()
    finally:
        store.close()


def test_a_slow_lookup_is_not_an_outage_and_costs_at_most_two_calls(proxied):
    """The server answers a lookup after 1.2x the timeout (12 s with 10 s, scaled to 2.4 s with
    2 s) while its heartbeats stay fast: a read timeout, not an outage. The lookup fails after
    at most 2 calls (pymongo's one retryable-read retry) instead of being re-sent for the
    whole outage-wait (the old loop: ~14 calls in 120 s)."""
    uri, _, database = proxied
    slow = SlowAggregateProxy(_host_port(uri), delay_s=0.0)
    options = {"database": database, "collection": "docs", "index": "docs_vector_index",
               "timeout": "2", "outage-wait": "30"}  # fmt: skip
    env = {"MONGODB_URI": f"mongodb://127.0.0.1:{slow.port}/?directConnection=true"}
    store = VectorStore(StoreSettings.from_options("docs", options, env), RecordingMetrics())
    try:
        store.open(expected_dimensions=DIMS)
        assert len(store.search(np.ones(DIMS), 3)) == 3  # through the proxy, not slow yet
        slow.delay_s, slow.aggregates = 2.4, 0
        with pytest.raises(ProviderError) as failure:
            store.search(np.ones(DIMS), 3)
    finally:
        store.close()
        slow.close()
    print(f"slow lookup: {slow.aggregates} call(s)")
    assert 1 <= slow.aggregates <= 2, slow.aggregates
    assert "lookup_outage_retries" not in store.metrics.counters
    assert "timeout" in str(failure.value).lower()


def _host_port(uri: str) -> tuple[str, int]:
    parts = urlsplit(uri)
    return parts.hostname or "127.0.0.1", parts.port or 27017


def _direct_store(uri: str, database: str, **changes: str) -> VectorStore:
    options = {"database": database, "collection": "docs", "index": "docs_vector_index",
               "timeout": "2", "outage-wait": "30", **changes}  # fmt: skip
    store = VectorStore(StoreSettings.from_options("docs", options, {"MONGODB_URI": uri}),
                        RecordingMetrics())  # fmt: skip
    store.open(expected_dimensions=DIMS)
    return store


def test_an_overloaded_search_delays_the_lookup_and_answers(proxied):
    """The stand-in answers the next 3 `$vectorSearch` calls with Atlas's overload error 489:
    the lookup waits them out (back-pressure, like a 429) and answers as before."""
    uri, _, database = proxied
    admin = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    store = _direct_store(uri, database)
    try:
        before = [h.id for h in store.search(np.ones(DIMS), 3)]
        admin.admin.command("standInOverload", 3)
        after = [h.id for h in store.search(np.ones(DIMS), 3)]
        left = admin.admin.command("standInOverload", 0)["was"]
    finally:
        store.close()
        admin.close()
    assert after == before
    assert left == 0  # all three refusals were spent by this lookup
    assert store.metrics.counters["lookup_back_pressure_waits"] == 3
    assert "lookup_errors" not in store.metrics.counters


def test_an_overload_that_outlasts_the_deadline_is_a_row_error(proxied):
    """Overloaded for good: the lookup ends by outage-wait + timeout (2 s + 2 s here) with an
    error that says what to do; the refusals it used are counted by the stand-in."""
    uri, _, database = proxied
    admin = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    store = _direct_store(uri, database, **{"outage-wait": "2"})
    refusals = 1_000_000
    try:
        admin.admin.command("standInOverload", refusals)
        started = time.monotonic()
        with pytest.raises(ProviderError) as failure:
            store.search(np.ones(DIMS), 3)
        elapsed = time.monotonic() - started
        used = refusals - admin.admin.command("standInOverload", 0)["was"]
    finally:
        admin.admin.command("standInOverload", 0)
        store.close()
        admin.close()
    message = str(failure.value)
    assert elapsed < 2.0 + 2.0 + 1.5, elapsed
    assert used >= 2 and store.metrics.counters["lookup_back_pressure_waits"] == used - 1
    assert "overloaded (code 489)" in message and f"{used} attempt(s)" in message
    assert "flink-rag.store.docs.outage-wait" in message
