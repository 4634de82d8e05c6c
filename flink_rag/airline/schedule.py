"""Scheduled flights with aircraft, cabins and seat inventory.

Times are UTC. A flight carries both an ISO string (for people and prompts) and
epoch milliseconds (`departure_ts`, the field vector-lookup filters compare on).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from flink_rag.airline.network import AIRPORTS_BY_IATA, Route, routes

CABINS: tuple[str, ...] = ("economy", "premium", "business")


@dataclass(frozen=True)
class Aircraft:
    code: str
    name: str
    seats: dict[str, int]  # cabin -> capacity; a cabin the type lacks is absent


SHORT_HAUL_FLEET: tuple[Aircraft, ...] = (
    Aircraft("320", "Airbus A320", {"economy": 150, "business": 18}),
    Aircraft("321", "Airbus A321", {"economy": 170, "business": 24}),
    Aircraft("E90", "Embraer E190", {"economy": 88, "business": 12}),
)
LONG_HAUL_FLEET: tuple[Aircraft, ...] = (
    Aircraft("359", "Airbus A350-900", {"economy": 224, "premium": 24, "business": 48}),
    Aircraft("77W", "Boeing 777-300ER", {"economy": 250, "premium": 40, "business": 52}),
)

# First departure hour (UTC) of each daily slot, by how many slots the route has.
_SLOT_HOURS: dict[int, tuple[int, ...]] = {
    1: (10,),
    2: (7, 16),
    3: (6, 11, 17),
    4: (6, 10, 14, 19),
}


def flight_id(carrier: str, number: int, day: dt.date) -> str:
    return f"{carrier}{number}-{day.isoformat()}"


def iso_utc(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_millis(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def _flight_numbers(all_routes: list[Route]) -> dict[tuple[int, int], int]:
    """(route index, slot) -> flight number; stable, unique per carrier."""
    next_number: dict[str, int] = {}
    numbers: dict[tuple[int, int], int] = {}
    for i, route in enumerate(all_routes):
        base = 400 if route.long_haul else 1000
        key = f"{route.carrier}{'L' if route.long_haul else 'S'}"
        for slot in range(route.daily_frequency):
            n = next_number.get(key, base)
            numbers[(i, slot)] = n
            next_number[key] = n + 1
    return numbers


def build_schedule(rng: random.Random, start: dt.date, days: int) -> list[dict]:
    """Flights for `days` days from `start`, ordered by day, route and slot.

    Seats left start at capacity; bookings.py subtracts the sold seats.
    """
    all_routes = routes()
    numbers = _flight_numbers(all_routes)
    flights: list[dict] = []
    for d in range(days):
        day = start + dt.timedelta(days=d)
        for i, route in enumerate(all_routes):
            fleet = LONG_HAUL_FLEET if route.long_haul else SHORT_HAUL_FLEET
            for slot, hour in enumerate(_SLOT_HOURS[route.daily_frequency]):
                aircraft = fleet[(i + slot) % len(fleet)]
                minute = rng.choice((0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55))
                dep = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)
                arr = dep + dt.timedelta(minutes=route.block_minutes)
                number = numbers[(i, slot)]
                flights.append(
                    {
                        "flight_id": flight_id(route.carrier, number, day),
                        "flight_number": f"{route.carrier}{number}",
                        "carrier": route.carrier,
                        "origin": route.origin,
                        "destination": route.destination,
                        "origin_city": AIRPORTS_BY_IATA[route.origin].city,
                        "destination_city": AIRPORTS_BY_IATA[route.destination].city,
                        "departure_time": iso_utc(dep),
                        "arrival_time": iso_utc(arr),
                        "departure_ts": epoch_millis(dep),
                        "arrival_ts": epoch_millis(arr),
                        "aircraft": aircraft.name,
                        "long_haul": route.long_haul,
                        "cabins": {
                            cabin: {"capacity": cap, "seats_left": cap}
                            for cabin, cap in aircraft.seats.items()
                        },
                        "seats_left": sum(aircraft.seats.values()),
                        "status": "SCHEDULED",
                    }
                )
    return flights


def sell_seats(flight: dict, cabin: str, n: int) -> None:
    """Take `n` seats of `cabin` off the inventory (never below zero)."""
    inv = flight["cabins"][cabin]
    take = min(n, inv["seats_left"])
    inv["seats_left"] -= take
    flight["seats_left"] = sum(c["seats_left"] for c in flight["cabins"].values())
