"""Ingestion runner: run `sql/ingest_<kind>.sql`, upsert its rows into MongoDB, set up the index.

Flink 2.3 has no MongoDB sink in the pip package (and Maven Central has no
flink-sql-connector-mongodb for 2.x), so the SQL ends in a bounded SELECT whose
rows this runner upserts with pymongo: `ReplaceOne({_id}, doc, upsert=True)` in
batches, keyed by the document id, so a re-run leaves the document count unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flink_rag.airline import flink_job
from flink_rag.connectors.errors import FlinkRagError
from flink_rag.connectors.settings import StoreSettings, section
from flink_rag.sql import files as sql_files

KINDS: dict[str, str] = {"policies": "policy_docs", "flights": "flight_inventory"}
BATCH_SIZE = 256
INDEX_READY_TIMEOUT_S = 300.0

Register = Callable[[Any], None]


@dataclass(frozen=True)
class IngestResult:
    kind: str
    collection: str
    rows: int
    upserted: int
    modified: int
    documents: int  # documents in the collection afterwards
    dimensions: int | None
    index: str


class IngestError(FlinkRagError):
    """Ingestion produced no usable rows or could not write them."""


def sql_name(kind: str) -> str:
    if kind not in KINDS:
        raise IngestError(f"unknown ingestion {kind!r}; choose one of {', '.join(KINDS)}")
    return f"ingest_{kind}.sql"


def sql_params(kind: str, kafka_bootstrap: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "POLICY_TOPIC": KINDS["policies"],
        "FLIGHT_TOPIC": KINDS["flights"],
    }


def store_settings(kind: str, env: Mapping[str, str] | None = None) -> StoreSettings:
    """The store profile the ingest SQL declares with its `SET` statements."""
    options = {}
    for statement in sql_files.split_statements(sql_files.read(sql_name(kind))):
        kv = sql_files.parse_set(statement)
        if kv is not None:
            options[kv[0]] = kv[1]
    return StoreSettings.from_options(
        kind, section(options, f"pipeline.global-job-parameters.flink-rag.store.{kind}."), env
    )


def to_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """A result row as a MongoDB document: embedding as a list of floats, NULLs dropped."""
    doc = {k: v for k, v in row.items() if v is not None}
    if "embedding" in doc:
        doc["embedding"] = [float(x) for x in doc["embedding"]]
    return doc


def batches(rows: Iterable[Mapping[str, Any]], size: int = BATCH_SIZE) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(to_document(row))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def upsert(collection: Any, docs: list[dict]) -> tuple[int, int]:
    """Replace-or-insert by _id; returns (inserted, modified)."""
    from pymongo import ReplaceOne

    result = collection.bulk_write(
        [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs], ordered=False
    )
    return result.upserted_count, result.modified_count


def _rows(table_result: Any) -> Iterator[dict]:
    # Collected rows carry no field names; take them from the result's schema.
    names = table_result.get_resolved_schema().get_column_names()
    with table_result.collect() as results:
        for row in results:
            yield dict(zip(names, row, strict=True))


def run(
    kind: str,
    kafka_bootstrap: str,
    mongodb_uri: str,
    *,
    register: Register | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
    index_timeout_s: float = INDEX_READY_TIMEOUT_S,
) -> IngestResult:
    """Run one ingestion end to end. `register` defines the SQL functions (EMBED, ...);
    by default `sql/functions.sql` is run."""
    from pymongo import MongoClient

    from flink_rag.connectors import mongodb_index

    settings = store_settings(kind)
    # Batch mode: the read is bounded, and the keep-latest dedup then yields final rows only.
    t_env = flink_job.table_env(streaming=False)
    if register is None:
        flink_job.run_file(t_env, "functions.sql", {})
    else:
        register(t_env)
    progress(f"ingest {kind}: running {sql_name(kind)}")
    result = flink_job.run_file(t_env, sql_name(kind), sql_params(kind, kafka_bootstrap))

    client: Any = MongoClient(mongodb_uri, serverSelectionTimeoutMS=10_000)
    try:
        coll = client[settings.database][settings.collection]
        rows = upserted = modified = 0
        dims: int | None = None
        for batch in batches(_rows(result)):
            embedded = [d for d in batch if d.get("embedding")]
            if dims is None and embedded:
                dims = len(embedded[0]["embedding"])
            ins, mod = upsert(coll, batch)
            rows, upserted, modified = rows + len(batch), upserted + ins, modified + mod
            progress(f"ingest {kind}: {rows} rows written to {settings.collection}")
        if rows == 0:
            raise IngestError(
                f"ingest {kind}: the SQL returned no rows; load the data first "
                f"(topic {KINDS[kind]!r} on {kafka_bootstrap} is empty?)"
            )
        if dims is None:
            raise IngestError(
                f"ingest {kind}: EMBED returned NULL for every row; check the embedding "
                "provider settings (flink-rag.embed.*) and the task manager log"
            )
        mongodb_index.create_vector_index(
            coll,
            settings.index,
            settings.path,
            dims,
            settings.similarity,
            settings.filter_fields,
            mode=settings.mode,
        )
        mongodb_index.wait_until_ready(coll, settings.index, index_timeout_s, mode=settings.mode)
        documents = coll.count_documents({})
    finally:
        client.close()
    progress(f"ingest {kind}: {documents} documents, index {settings.index} READY")
    return IngestResult(
        kind, settings.collection, rows, upserted, modified, documents, dims, settings.index
    )
