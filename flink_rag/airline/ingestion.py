"""Start the airline's streaming ingestion: `sql/ingest_policies.sql` and
`sql/ingest_flights.sql` as one Flink job, their Kafka Connect sinks, and the vector indexes.

Nothing here writes to MongoDB: the SQL writes `<store>_vectors` topics, the MongoDB sink
connector writes the collections. This module fills placeholders, submits the job, creates
the sinks (`flink-rag store sink create` does the same from a shell), waits until the
collections have caught up, and creates each store's vector index.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flink_rag.airline.dataset import Dataset
from flink_rag.connectors.errors import FlinkRagError
from flink_rag.connectors.settings import StoreSettings, section
from flink_rag.jobs import minicluster
from flink_rag.sql import files as sql_files
from flink_rag.stores import sink as store_sink
from flink_rag.udfs.config import JOB_PARAMETERS

# store -> (SQL file, source topic)
STORES: dict[str, tuple[str, str]] = {
    "policies": ("ingest_policies.sql", "policy_sections"),
    "flights": ("ingest_flights.sql", "flight_inventory"),
}
CATCH_UP_TIMEOUT_S = 300.0
STABLE_S = 3.0  # no new documents and no lag for this long = caught up
INDEX_READY_TIMEOUT_S = 300.0


class IngestError(FlinkRagError):
    """The ingestion job, its sink or the index did not come up."""


@dataclass(frozen=True)
class Caught:
    store: str
    documents: int
    seconds: float


def topics(store: str) -> dict[str, str]:
    vectors = store_sink.vectors_topic(store)
    return {"VECTOR_TOPIC": vectors, "DEAD_LETTER_TOPIC": f"{vectors}_dead_letter"}


def sql_params(store: str, kafka_bootstrap: str, source_topic: str | None = None) -> dict:
    source = source_topic or STORES[store][1]
    key = "POLICY_TOPIC" if store == "policies" else "FLIGHT_TOPIC"
    return {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, key: source, **topics(store)}


def store_settings(store: str, env: Mapping[str, str] | None = None) -> StoreSettings:
    """The store profile the ingest SQL declares with its per-key `SET`s."""
    options = {}
    for statement in sql_files.split_statements(sql_files.read(STORES[store][0])):
        kv = sql_files.parse_set(statement)
        if kv is not None:
            options[kv[0].removeprefix(f"{JOB_PARAMETERS}.")] = kv[1]
    return StoreSettings.from_options(store, section(options, f"flink-rag.store.{store}."), env)


def submit(
    kafka_bootstrap: str,
    stores: Iterable[str] = tuple(STORES),
    *,
    register: Callable[[Any], None] | None = None,
    options: Mapping[str, str] | None = None,
    source_topics: Mapping[str, str] | None = None,
) -> Any:
    """Run the stores' ingest SQL as one streaming job (one Python worker, one model);
    returns its JobClient."""
    files = [
        (STORES[s][0], sql_params(s, kafka_bootstrap, (source_topics or {}).get(s))) for s in stores
    ]
    return minicluster.submit_together(files, register=register, options=options)


def create_sink(store: str, connect_url: str, settings: StoreSettings) -> dict:
    """The store's MongoDB sink connector (idempotent), waited for until RUNNING."""
    vectors = store_sink.vectors_topic(store)
    spec = store_sink.SinkSpec(
        store=store,
        topic=vectors,
        database=settings.database,
        collection=settings.collection,
        dead_letter=store_sink.dead_letter_topic(vectors),
    )
    client = store_sink.ConnectClient(connect_url)
    client.put_config(spec.name, store_sink.connector_config(spec))
    deadline = time.monotonic() + 60
    while True:
        status = client.status(spec.name) or {}
        tasks = status.get("tasks") or []
        if tasks and all(t["state"] == "RUNNING" for t in tasks):
            return status
        failed = [t for t in tasks if t["state"] == "FAILED"]
        if failed or time.monotonic() > deadline:
            reason = (failed[0].get("trace") or "").splitlines()[:1] if failed else ["timeout"]
            raise IngestError(
                f"sink connector {spec.name} is not running ({reason[0][:200]}); see "
                "`flink-rag store sink status --store " + store + "` and the Connect log"
            )
        time.sleep(0.5)


def wait_caught_up(
    collection: Any,
    kafka_bootstrap: str,
    store: str,
    minimum: int,
    written_before: int = 0,
    timeout_s: float = CATCH_UP_TIMEOUT_S,
) -> Caught:
    """Until the job has written >= `minimum` records to the vectors topic since it held
    `written_before`, the collection holds >= `minimum` documents, the sink has no lag, and
    the count has not moved for STABLE_S seconds."""
    started = time.monotonic()
    group = f"connect-{store_sink.connector_name(store)}"
    topic = store_sink.vectors_topic(store)
    last, since = -1, time.monotonic()
    while True:
        count = collection.count_documents({})
        lag = store_sink.lag(kafka_bootstrap, group, topic)
        written = (store_sink.topic_size(kafka_bootstrap, topic) or 0) - written_before
        if count != last or lag or written < minimum:
            last, since = count, time.monotonic()
        elif count >= minimum and time.monotonic() - since >= STABLE_S:
            return Caught(store, count, time.monotonic() - started)
        if time.monotonic() - started > timeout_s:
            raise IngestError(
                f"{store}: {count} documents in MongoDB after {timeout_s:.0f}s (expected "
                f">= {minimum}, {written} written by the job, sink lag {lag}); check the "
                f"ingestion job's log and `flink-rag store sink status --store {store}`"
            )
        time.sleep(0.5)


def create_index(collection: Any, settings: StoreSettings, timeout_s: float) -> int:
    """Create the store's vector index from the stored vectors' length; wait for READY."""
    from flink_rag.connectors import mongodb_index

    dims = mongodb_index.sample_dimensions(collection, settings.path)
    if dims is None:
        raise IngestError(
            f"no document in {settings.collection} has a vector at {settings.path!r}; check "
            f"the dead-letter topic {topics(settings.name)['DEAD_LETTER_TOPIC']} for EMBED errors"
        )
    mongodb_index.create_vector_index(
        collection,
        settings.index,
        settings.path,
        dims,
        settings.similarity,
        settings.filter_fields,
        mode=settings.mode,
    )
    mongodb_index.wait_until_ready(collection, settings.index, timeout_s, mode=settings.mode)
    return dims


def start(
    kafka_bootstrap: str,
    mongodb_uri: str,
    data: Dataset,
    say: Callable[[str], None],
    options: dict[str, str] | None,
) -> tuple[Any, dict[str, int]]:
    """Sinks (Kafka Connect), the streaming ingestion job, caught-up collections, indexes: the
    running job and the documents per store, for the demo's data set."""
    from pymongo import MongoClient

    from flink_rag.local.connect import connect_url

    minimum = {
        "policies": len(data.policies),  # at least one chunk per section
        "flights": sum(1 for f in data.flights if f["status"] == "SCHEDULED"),
    }
    settings = {store: store_settings(store) for store in STORES}
    for store, profile in settings.items():
        create_sink(store, connect_url(), profile)
        say(f"sink connector for {store} is RUNNING ({store}_vectors -> MongoDB {store})")

    before = {
        store: store_sink.topic_size(kafka_bootstrap, store_sink.vectors_topic(store)) or 0
        for store in settings
    }
    job = submit(kafka_bootstrap, options=options)
    say(f"ingestion job {job.get_job_id()} started (policies, flights)")
    ingested: dict[str, int] = {}
    client: Any = MongoClient(mongodb_uri, serverSelectionTimeoutMS=10_000)
    try:
        for store, profile in settings.items():
            coll = client[profile.database][profile.collection]
            caught = wait_caught_up(coll, kafka_bootstrap, store, minimum[store], before[store])
            dims = create_index(coll, profile, INDEX_READY_TIMEOUT_S)
            ingested[store] = caught.documents
            say(f"{store}: {caught.documents} documents in MongoDB ({dims} dims), index READY")
    except BaseException:
        job.cancel().result()
        raise
    finally:
        client.close()
    return job, ingested
