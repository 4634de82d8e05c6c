"""Flight disruption events (cancellations, long delays) and deliberately bad ones."""

from __future__ import annotations

import datetime as dt
import json
import random

from flink_rag.airline.schedule import iso_utc

EVENT_TYPES: tuple[str, ...] = ("CANCELLATION", "DELAY")
_REASONS: tuple[str, ...] = (
    "technical fault on the aircraft",
    "crew shortage",
    "air traffic control strike",
    "severe weather at the destination",
    "airport closure after snowfall",
)
LONG_DELAY_MINUTES = 180  # from here on a delay entitles passengers to rebooking


def event_time_before(flight: dict, minutes: int) -> str:
    dep = dt.datetime.fromtimestamp(flight["departure_ts"] / 1000, tz=dt.UTC)
    return iso_utc(dep - dt.timedelta(minutes=minutes))


def make_event(
    event_id: str,
    flight: dict,
    kind: str = "CANCELLATION",
    reason: str = "technical fault on the aircraft",
    delay_minutes: int | None = None,
    notice_minutes: int = 120,
) -> dict:
    """One disruption event, `notice_minutes` before the scheduled departure."""
    if kind not in EVENT_TYPES:
        raise ValueError(f"event type must be one of {EVENT_TYPES}, got {kind!r}")
    return {
        "event_id": event_id,
        "flight_id": flight["flight_id"],
        "type": kind,
        "reason": reason,
        "delay_minutes": delay_minutes if kind == "DELAY" else None,
        "event_time": event_time_before(flight, notice_minutes),
    }


def build_events(rng: random.Random, flights: list[dict], count: int) -> list[dict]:
    """`count` plausible disruptions on distinct flights, ordered by event time."""
    chosen = rng.sample(flights, min(count, len(flights)))
    events = []
    for n, flight in enumerate(chosen, start=1):
        kind = rng.choices(EVENT_TYPES, weights=(2, 1))[0]
        delay = rng.randrange(LONG_DELAY_MINUTES, 480, 15) if kind == "DELAY" else None
        events.append(
            make_event(
                f"EV{n:05d}",
                flight,
                kind,
                rng.choice(_REASONS),
                delay,
                rng.randrange(30, 300, 5),
            )
        )
    return sorted(events, key=lambda e: (e["event_time"], e["event_id"]))


def malformed_events(flight: dict) -> list[tuple[str, str]]:
    """(raw Kafka value, dead-letter reason) pairs a pipeline must not crash on.

    `flight` is a real flight, used for the duplicate case.
    """
    good = make_event("EVBAD-DUP", flight)
    unknown = dict(good, event_id="EVBAD-UNKNOWN", flight_id="XX9999-2026-01-01")
    no_flight = {k: v for k, v in good.items() if k != "flight_id"}
    no_flight["event_id"] = "EVBAD-NOFLIGHT"
    bad_type = dict(good, event_id="EVBAD-TYPE", type="TELEPORTED")
    dumps = json.dumps
    return [
        ('{"event_id": "EVBAD-JSON", "flight_id": ', "bad_json"),
        ("not json at all", "bad_json"),
        (dumps(no_flight), "missing_field"),
        (dumps(unknown), "unknown_flight"),
        (dumps(bad_type), "unknown_event_type"),
        (dumps(good), "ok"),
        (dumps(good), "duplicate_event"),
    ]
