"""The whole sample data set, generated from one seed, and its JSONL files.

Same seed and knobs -> byte-identical files. Each generator gets its own
`random.Random` derived from the seed, so changing one knob (say, bookings per
flight) does not reshuffle unrelated data such as departure minutes.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from flink_rag.airline.bookings import build_bookings
from flink_rag.airline.chunking import policy_sections
from flink_rag.airline.crm import build_customers
from flink_rag.airline.events import build_events
from flink_rag.airline.network import AIRPORTS
from flink_rag.airline.schedule import build_schedule

DEFAULT_SEED = 2026
DEFAULT_START = dt.date(2026, 11, 22)
DEFAULT_DAYS = 3
DEFAULT_BOOKINGS_PER_FLIGHT = 4
CUSTOMERS_PER_BOOKING = 0.75  # some customers hold several bookings

# file stem -> (record list attribute, key field)
FILES: dict[str, tuple[str, str]] = {
    "airports": ("airports", "iata"),
    "flight_inventory": ("flights", "flight_id"),
    "customers": ("customers", "customer_id"),
    "bookings": ("bookings", "booking_id"),
    "policy_sections": ("policies", "section_id"),
    "flight_events": ("events", "event_id"),
}


@dataclass
class Dataset:
    seed: int
    airports: list[dict] = field(default_factory=list)
    flights: list[dict] = field(default_factory=list)
    customers: list[dict] = field(default_factory=list)
    bookings: list[dict] = field(default_factory=list)
    policies: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    def flight(self, flight_id: str) -> dict:
        for f in self.flights:
            if f["flight_id"] == flight_id:
                return f
        raise KeyError(f"no flight {flight_id!r} in the sample data")

    def bookings_on(self, flight_id: str) -> list[dict]:
        return [b for b in self.bookings if b["flight_id"] == flight_id]

    def records(self, stem: str) -> list[dict]:
        return getattr(self, FILES[stem][0])


def _rng(seed: int, part: str) -> random.Random:
    # String seeds hash deterministically (sha512), unlike hash() of a tuple.
    return random.Random(f"{seed}:{part}")


def generate(
    seed: int = DEFAULT_SEED,
    bookings_per_flight: int = DEFAULT_BOOKINGS_PER_FLIGHT,
    days: int = DEFAULT_DAYS,
    start: dt.date = DEFAULT_START,
    events: int = 5,
) -> Dataset:
    """Generate the sample airline data set."""
    if bookings_per_flight < 0 or days < 1:
        raise ValueError("bookings_per_flight must be >= 0 and days >= 1")
    flights = build_schedule(_rng(seed, "schedule"), start, days)
    n_customers = max(1, int(len(flights) * bookings_per_flight * CUSTOMERS_PER_BOOKING))
    customers = build_customers(_rng(seed, "crm"), n_customers)
    bookings = build_bookings(_rng(seed, "bookings"), flights, customers, bookings_per_flight)
    return Dataset(
        seed=seed,
        airports=[
            {"iata": a.iata, "name": a.name, "city": a.city, "country": a.country, "eu": a.eu}
            for a in AIRPORTS
        ],
        flights=flights,
        customers=customers,
        bookings=bookings,
        policies=policy_sections(),
        events=build_events(_rng(seed, "events"), flights, events),
    )


def dumps(record: dict) -> str:
    """The one JSON encoding used for files and Kafka values (stable key order)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def write_files(data: Dataset, directory: str | Path) -> dict[str, Path]:
    """Write one `<stem>.jsonl` per record kind; returns stem -> path."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for stem in FILES:
        path = out / f"{stem}.jsonl"
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            for record in data.records(stem):
                fh.write(dumps(record) + "\n")
        paths[stem] = path
    return paths
