"""The airline's rebooking job: `sql/rebooking.sql`, its placeholder values and topics.

Submitting, explaining and reading the outputs are generic (flink_rag.jobs); this module binds
them to the rebooking file and its topics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flink_rag.jobs import minicluster
from flink_rag.jobs.output import OutputReader
from flink_rag.jobs.output import Outputs as Outputs  # the type of what the reader folds
from flink_rag.sql import files as sql_files

SQL_FILE = "rebooking.sql"
# The event source and the consumer group whose committed offsets it resumes from.
EVENTS_TABLE = "flight_events_raw"
EVENTS_GROUP_ID = "flink-rag-rebooking"
RECOMMENDATION_TOPIC = "rebooking_recommendations"
DEAD_LETTER_TOPIC = "rebooking_dead_letter"
MIN_DELAY_MINUTES = 180
CANDIDATES = 5
CANDIDATE_BUDGET_TOKENS = 1800  # UTF-8 bytes: the whole prompt; ~750 tokens of SmolLM2
# UTF-8 bytes of policy passages: the largest stored passage (a 200-token chunk with its
# metadata, under 800 bytes) fits, so every prompt holds one to cite, often two.
POLICY_BUDGET_TOKENS = 800
# How long event-driven state lives without access (duplicate check, first-version filters).
STATE_HORIZON = "7 d"
# The joins' CRM and inventory sides: one row per key, kept (practically) for good.
TABLE_STATE_TTL = "3650 d"
# The reasons the model chooses from, by code (an enum in the answer schema: no free text,
# so the answer always closes within max-tokens), and the words the sentence a person reads
# gives each. `seat` is true of every grounded answer; the others are offered only to
# passengers they apply to.
REASONS = {
    "seat": "a later departure on the same route with a seat in the booked cabin",
    "assistance": "suits the special assistance needed",
    "loyalty": "keeps the loyalty tier priority",
}


# placeholder -> topic
TOPICS: dict[str, str] = {
    "EVENT_TOPIC": "flight_events",
    "BOOKING_TOPIC": "bookings",
    "CUSTOMER_TOPIC": "customers",
    "FLIGHT_TOPIC": "flight_inventory",
    "RECOMMENDATION_TOPIC": RECOMMENDATION_TOPIC,
    "DEAD_LETTER_TOPIC": DEAD_LETTER_TOPIC,
}


def sql_params(
    kafka_bootstrap: str,
    *,
    group_id: str | None = None,
    events_startup_mode: str | None = None,
    events_startup_timestamp: int | None = None,
    topics: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """Placeholder values of rebooking.sql (addresses and topics), plus per-run options of
    the event source, which reach the job as dynamic table options (flink_rag.sql.files), not
    as placeholders: `group_id` replaces the file's group (EVENTS_GROUP_ID), and
    `events_startup_mode=timestamp` with a timestamp reads only events written from then on
    (the demo). `topics` overrides entries of TOPICS (tests use their own topics). The
    constants above are literals in the SQL (tests/unit/test_sql_constants.py)."""
    events: dict[str, object] = {}
    if group_id is not None:
        events["properties.group.id"] = group_id
    if events_startup_mode is not None:
        events["scan.startup.mode"] = events_startup_mode
    if events_startup_timestamp is not None:
        events["scan.startup.timestamp-millis"] = events_startup_timestamp
    params: dict[str, object] = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        **TOPICS,
        **(topics or {}),
    }
    if events:
        params[sql_files.TABLE_OPTIONS] = {EVENTS_TABLE: events}
    return params


def submit(
    params: Mapping[str, object],
    *,
    register: Callable[[Any], None] | None = None,
    options: Mapping[str, str] | None = None,
    table_options: Mapping[str, str] | None = None,
) -> Any:
    """rebooking.sql on a local mini-cluster (see `minicluster.submit`); returns its JobClient."""
    return minicluster.submit(
        SQL_FILE, params, register=register, options=options, table_options=table_options
    )


def explain(
    params: Mapping[str, object],
    *,
    register: Callable[[Any], None] | None = None,
    options: Mapping[str, str] | None = None,
) -> str:
    """The optimized plan of the rebooking statement set, with each node's changelog mode."""
    return minicluster.explain(SQL_FILE, params, register=register, options=options)


def output_reader(
    bootstrap: str,
    group_id: str,
    recommendation_topic: str = RECOMMENDATION_TOPIC,
    dead_letter_topic: str = DEAD_LETTER_TOPIC,
) -> OutputReader:
    """A reader of the job's two output topics (default: the demo's)."""
    return OutputReader(bootstrap, group_id, recommendation_topic, dead_letter_topic)
