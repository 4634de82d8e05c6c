"""What one fault run writes and reads, all private to it: the data set, the flights it
cancels, its topics and its database; and the job's flink-rag options and SQL parameters."""

from __future__ import annotations

import argparse
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any


@dataclass
class Plan:
    """What one run writes and reads: its flights, topics and database (all private)."""

    run_id: str
    data: Any
    cancelled: list[dict]
    expected: int  # affected passengers
    names: dict[str, str]  # CRM topics
    events_topic: str
    recs_topic: str
    dead_topic: str
    database: str


def make_plan(args: argparse.Namespace) -> Plan:
    from flink_rag.airline import dataset

    run_id = uuid.uuid4().hex[:8]
    data = dataset.generate(seed=23, bookings_per_flight=4, days=max(3, args.passengers // 1000))
    by_flight = Counter(b["flight_id"] for b in data.bookings if b.get("status") == "CONFIRMED")
    cancelled, expected = [], 0
    for f in data.flights:
        if expected >= args.passengers:
            break
        if by_flight.get(f["flight_id"]):
            cancelled.append(f)
            expected += by_flight[f["flight_id"]]
    names = {k: f"faults{run_id}_{k}" for k in ("customers", "bookings", "flight_inventory")}
    events_topic, recs_topic, dead_topic = (f"faults{run_id}_{k}" for k in ("ev", "recs", "dead"))
    return Plan(
        run_id, data, cancelled, expected, names, events_topic, recs_topic, dead_topic,
        f"flink_rag_faults_{run_id}",
    )  # fmt: skip


def load(plan: Plan, bootstrap: str, mongodb_uri: str) -> None:
    from flink_rag.airline import kafka_io
    from flink_rag_bench import contenders
    from flink_rag_bench.fault_scenario.documents import load_documents

    load_documents(mongodb_uri, plan.database, plan.data, contenders.DIMENSIONS)
    kafka_io.load_dataset(
        bootstrap,
        plan.data,
        topics=tuple(plan.names),
        names={
            **plan.names,
            "flight_events": plan.events_topic,
            "rebooking_recommendations": plan.recs_topic,
            "rebooking_dead_letter": plan.dead_topic,
        },
    )


def job_options(
    args: argparse.Namespace, plan: Plan, server: Any, llm: Any, cache_dir: str
) -> dict[str, str]:
    """The job's flink-rag options: embeddings straight from the load server (the cuts are
    the LLM's), the LLM through its proxy, both stores scanned in the run's database."""
    from flink_rag_bench import contenders

    return {
        "flink-rag.embed.provider": "openai",
        "flink-rag.embed.base-url": server.base_url,
        "flink-rag.embed.model": contenders.EMBED_MODEL,
        "flink-rag.embed.cache-dir": cache_dir,
        "flink-rag.llm.base-url": f"http://{llm.listen}/v1",
        "flink-rag.llm.model": contenders.CHAT_MODEL,
        "flink-rag.llm.concurrency": str(args.concurrency),
        "flink-rag.llm.timeout": "10",
        "flink-rag.llm.cache-dir": cache_dir,
        "flink-rag.store.flights.database": plan.database,
        "flink-rag.store.flights.mode": "scan",
        "flink-rag.store.flights.timeout": "5",
        "flink-rag.store.policies.database": plan.database,
        "flink-rag.store.policies.mode": "scan",
        "flink-rag.store.policies.timeout": "5",
    }


def sql_params(plan: Plan, bootstrap: str) -> dict[str, object]:
    from flink_rag.airline import rebooking

    return rebooking.sql_params(
        bootstrap,
        group_id=f"g{plan.run_id}",
        topics={
            "EVENT_TOPIC": plan.events_topic,
            "BOOKING_TOPIC": plan.names["bookings"],
            "CUSTOMER_TOPIC": plan.names["customers"],
            "FLIGHT_TOPIC": plan.names["flight_inventory"],
            "RECOMMENDATION_TOPIC": plan.recs_topic,
            "DEAD_LETTER_TOPIC": plan.dead_topic,
        },
    )
