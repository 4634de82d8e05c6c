"""Sample airline data: determinism, referential integrity, scale knob."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from flink_rag.airline import dataset
from flink_rag.airline.bookings import FARE_CLASSES
from flink_rag.airline.crm import LOYALTY_TIERS
from flink_rag.airline.events import malformed_events
from flink_rag.airline.network import AIRPORTS_BY_IATA, HUBS, routes

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def data() -> dataset.Dataset:
    return dataset.generate(seed=11, bookings_per_flight=3, days=2)


def _digests(directory) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def test_same_seed_gives_byte_identical_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    dataset.write_files(dataset.generate(seed=5, bookings_per_flight=2), a)
    dataset.write_files(dataset.generate(seed=5, bookings_per_flight=2), b)
    assert _digests(a) == _digests(b)
    assert len(_digests(a)) == len(dataset.FILES)


def test_other_seed_gives_other_data():
    a = dataset.generate(seed=1, bookings_per_flight=2)
    b = dataset.generate(seed=2, bookings_per_flight=2)
    assert [x["booking_id"] for x in a.bookings] != [x["booking_id"] for x in b.bookings]
    # the timetable's shape is fixed data: same flight ids for every seed
    assert [f["flight_id"] for f in a.flights] == [f["flight_id"] for f in b.flights]


def test_files_are_jsonl_with_one_record_per_line(tmp_path, data):
    paths = dataset.write_files(data, tmp_path)
    lines = paths["bookings"].read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(data.bookings)
    assert json.loads(lines[0]) == data.bookings[0]


def test_routes_use_real_airports_and_a_hub():
    for r in routes():
        assert r.origin in AIRPORTS_BY_IATA and r.destination in AIRPORTS_BY_IATA
        assert r.origin != r.destination
        assert r.origin in HUBS or r.destination in HUBS
    assert len(AIRPORTS_BY_IATA) >= 30


def test_flights_are_unique_well_formed_and_ordered_in_time(data):
    ids = [f["flight_id"] for f in data.flights]
    assert len(ids) == len(set(ids))
    for f in data.flights:
        number, day = f["flight_id"].split("-", 1)
        assert number == f["flight_number"] and dt.date.fromisoformat(day)
        assert f["arrival_ts"] > f["departure_ts"]
        assert f["departure_time"].startswith(day)
        assert (
            dt.datetime.fromisoformat(f["departure_time"]).timestamp() * 1000 == f["departure_ts"]
        )


def test_seat_inventory_is_consistent_and_never_negative(data):
    sold_out = 0
    for f in data.flights:
        for inv in f["cabins"].values():
            assert 0 <= inv["seats_left"] <= inv["capacity"]
            sold_out += inv["seats_left"] == 0
        assert f["seats_left"] == sum(c["seats_left"] for c in f["cabins"].values())
    assert sold_out > 0  # some cabins sell out, so the seats_left filter matters


def test_every_booking_points_to_a_customer_and_a_flight_it_fits(data):
    customers = {c["customer_id"] for c in data.customers}
    flights = {f["flight_id"]: f for f in data.flights}
    pnrs = [b["booking_id"] for b in data.bookings]
    assert len(pnrs) == len(set(pnrs))
    for b in data.bookings:
        assert b["customer_id"] in customers
        flight = flights[b["flight_id"]]
        assert (b["origin"], b["destination"]) == (flight["origin"], flight["destination"])
        assert b["cabin"] in flight["cabins"]
        assert FARE_CLASSES[b["fare_class"]][0] == b["cabin"]
        assert [s["flight_id"] for s in b["segments"]] == [b["flight_id"]]


def test_customers_have_contact_and_tier(data):
    for c in data.customers:
        assert c["loyalty_tier"] in LOYALTY_TIERS
        assert "@" in c["email"] and c["phone"].startswith("+")
    assert {c["loyalty_tier"] for c in data.customers} == set(LOYALTY_TIERS)


def test_scale_knob_sets_bookings_per_flight():
    small = dataset.generate(seed=3, bookings_per_flight=1, days=1)
    large = dataset.generate(seed=3, bookings_per_flight=5, days=1)
    assert len(small.bookings) == len(small.flights)
    assert len(large.bookings) == 5 * len(large.flights)
    assert len(large.customers) > len(small.customers)
    for f in large.flights:
        assert len(large.bookings_on(f["flight_id"])) == 5


def test_events_point_to_known_flights(data):
    flights = {f["flight_id"]: f for f in data.flights}
    assert data.events
    for e in data.events:
        flight = flights[e["flight_id"]]
        assert e["type"] in ("CANCELLATION", "DELAY")
        assert (e["delay_minutes"] is None) == (e["type"] == "CANCELLATION")
        assert e["event_time"] < flight["departure_time"]


def test_malformed_events_cover_every_dead_letter_reason(data):
    cases = malformed_events(data.flights[0])
    reasons = [reason for _, reason in cases]
    assert {"bad_json", "missing_field", "unknown_flight", "duplicate_event"} <= set(reasons)
    bad = [raw for raw, reason in cases if reason == "bad_json"]
    for raw in bad:
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
