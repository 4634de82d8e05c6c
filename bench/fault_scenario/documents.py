"""Flight and policy documents for the fault scenario, with the load server's vectors.

The load server embeds a text deterministically, so documents stored with those vectors are
found by EMBED -> VECTOR_LOOKUP_JSON as if a real model had embedded both sides.
"""

from __future__ import annotations

from typing import Any

FLIGHT_FILTER_FIELDS = ["origin", "destination", "departure_ts", "seats_left", "cabins"]


def load_documents(mongodb_uri: str, database: str, data: Any, dimensions: int) -> None:
    """Write `flights` and `policies` into `database` with scan-mode vector indexes."""
    import pymongo

    from flink_rag.connectors.mongodb_index import create_vector_index
    from flink_rag_bench import fake_responses as fake

    client: pymongo.MongoClient = pymongo.MongoClient(mongodb_uri)
    try:
        db = client[database]
        flights = []
        for f in data.flights:
            content = (
                f"Flight {f['flight_number']} {f['origin']}-{f['destination']} "
                f"departs {f['departure_time']}"
            )
            flights.append(
                {
                    "_id": f["flight_id"],
                    "content": content,
                    "embedding": fake.embedding_vector(content, dimensions).tolist(),
                    "origin": f["origin"],
                    "destination": f["destination"],
                    "departure_ts": f["departure_ts"],
                    "departure_time": f["departure_time"],
                    "arrival_time": f.get("arrival_time"),
                    "seats_left": f["seats_left"],
                    "cabins": [c for c, inv in f["cabins"].items() if inv["seats_left"] > 0],
                }
            )
        policies = [
            {
                "_id": p["section_id"],
                "doc_id": p.get("doc_id", p["section_id"]),
                "title": p.get("title", ""),
                "section": p.get("section", ""),
                "content": p["text"],
                "embedding": fake.embedding_vector(p["text"], dimensions).tolist(),
            }
            for p in data.policies
        ]
        for name, docs, filters in (
            ("flights", flights, FLIGHT_FILTER_FIELDS),
            ("policies", policies, ["doc_id"]),
        ):
            db[name].drop()  # a rerun into the same database starts from these documents only
            db[name].insert_many(docs)
            create_vector_index(
                db[name], f"{name}_vector_index", "embedding", dimensions, "cosine", filters,
                mode="scan",
            )  # fmt: skip
    finally:
        client.close()


def drop(mongodb_uri: str, database: str) -> None:
    import pymongo

    client: pymongo.MongoClient = pymongo.MongoClient(mongodb_uri)
    try:
        client.drop_database(database)
    finally:
        client.close()
