"""Bookings (PNRs) with fare class, cabin, segments and special assistance."""

from __future__ import annotations

import random

from flink_rag.airline.schedule import sell_seats

# Fare class letter -> (cabin, fare family). Families drive the rebooking policy.
FARE_CLASSES: dict[str, tuple[str, str]] = {
    "Y": ("economy", "FLEX"),
    "B": ("economy", "FLEX"),
    "M": ("economy", "STANDARD"),
    "H": ("economy", "STANDARD"),
    "K": ("economy", "LIGHT"),
    "L": ("economy", "LIGHT"),
    "E": ("premium", "STANDARD"),
    "G": ("premium", "FLEX"),
    "J": ("business", "FLEX"),
    "C": ("business", "FLEX"),
    "Z": ("business", "SAVER"),
}
_CLASS_WEIGHTS: dict[str, tuple[int, ...]] = {
    # weights over FARE_CLASSES order, per cabin mix available on the aircraft
    "economy": (4, 6, 14, 14, 18, 18, 0, 0, 0, 0, 0),
    "premium": (0, 0, 0, 0, 0, 0, 6, 3, 0, 0, 0),
    "business": (0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 4),
}
_CABIN_MIX = {"economy": 80, "premium": 8, "business": 12}

SPECIAL_ASSISTANCE: tuple[str, ...] = ("WCHR", "BLND", "DEAF", "UMNR", "MEDA", "PETC")
_PNR_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I/O/0/1: read aloud on the phone


def _pnr(rng: random.Random, taken: set[str]) -> str:
    while True:
        pnr = "".join(rng.choice(_PNR_ALPHABET) for _ in range(6))
        if pnr not in taken:
            taken.add(pnr)
            return pnr


def build_bookings(
    rng: random.Random, flights: list[dict], customers: list[dict], per_flight: int
) -> list[dict]:
    """`per_flight` single-passenger bookings on every flight; sells their seats.

    Other passengers (not in the sample) fill a random share of each cabin, a few
    flights sell out, but the sampled bookings always fit.
    """
    taken: set[str] = set()
    bookings: list[dict] = []
    classes = list(FARE_CLASSES)
    for flight in flights:
        cabins = [c for c in _CABIN_MIX if c in flight["cabins"]]
        mine: dict[str, int] = dict.fromkeys(cabins, 0)
        for _ in range(per_flight):
            cabin = rng.choices(cabins, weights=[_CABIN_MIX[c] for c in cabins])[0]
            fare_class = rng.choices(classes, weights=_CLASS_WEIGHTS[cabin])[0]
            customer = rng.choice(customers)
            assistance = rng.choice(SPECIAL_ASSISTANCE) if rng.random() < 0.06 else None
            mine[cabin] += 1
            bookings.append(
                {
                    "booking_id": _pnr(rng, taken),
                    "customer_id": customer["customer_id"],
                    "flight_id": flight["flight_id"],
                    "origin": flight["origin"],
                    "destination": flight["destination"],
                    "cabin": cabin,
                    "fare_class": fare_class,
                    "fare_family": FARE_CLASSES[fare_class][1],
                    "segments": [
                        {
                            "flight_id": flight["flight_id"],
                            "origin": flight["origin"],
                            "destination": flight["destination"],
                            "cabin": cabin,
                            "fare_class": fare_class,
                        }
                    ],
                    "special_assistance": assistance,
                    "passengers": 1,
                    "status": "CONFIRMED",
                }
            )
        for cabin in cabins:
            capacity = flight["cabins"][cabin]["capacity"]
            free = capacity - mine[cabin]
            sold_out = rng.random() < 0.08
            others = free if sold_out else int(free * rng.uniform(0.45, 0.97))
            sell_seats(flight, cabin, mine[cabin] + others)
    return bookings
