"""Checks on the sample data and on the pipeline's recommendations (pure functions)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flink_rag.airline.dataset import Dataset
from flink_rag.airline.rebooking import REASONS


def alternatives(data: Dataset, flight: Mapping, cabin: str | None = None) -> list[dict]:
    """Later flights on the same route with a free seat (in `cabin` if given, else in any
    cabin): the inventory part of the grounded rule (`serves`), not a copy of it."""
    trip = {k: flight[k] for k in ("origin", "destination", "departure_ts")}
    return [
        f
        for f in data.flights
        if any(
            serves({**trip, "cabin": c}, f) for c in ([cabin] if cabin is not None else f["cabins"])
        )
    ]


def pick_flight(data: Dataset, min_alternatives: int = 3) -> dict:
    """A flight worth cancelling in a demo: booked passengers, and for each booked cabin
    at least `min_alternatives` later flights on the route with seats in that cabin."""
    for flight in data.flights:
        booked = data.bookings_on(flight["flight_id"])
        if booked and all(
            len(alternatives(data, flight, b["cabin"])) >= min_alternatives for b in booked
        ):
            return flight
    raise ValueError("no flight in the data set has enough later alternatives")


# "Grounded", written once: the recommended flight was retrieved, the answer cites policy
# passages and only ones retrieved for this passenger, the flight exists in the inventory,
# serves the passenger's route, departs later than the disrupted flight and has a seat in the
# booked cabin. Each rule is (reason code, message, holds(answer, trip, flight)); `answer`
# holds the answer's `recommended_flight_id` and `citations` and what was retrieved for the
# row (`candidates`, `policy_ids`), `trip` the passenger's origin, destination, departure_ts
# and cabin, `flight` the inventory record of the recommended flight (None if unknown). The
# SQL check in sql/rebooking.sql (view `checked`) uses the same codes in the same order; the
# test tests/flink/test_grounded_rule.py runs it on generated cases and compares with these.
GROUNDED_RULES: tuple[tuple[str, str, Callable[[Mapping, Mapping, Any], bool]], ...] = (
    (
        "not_a_candidate",
        "recommended flight was not among the retrieved candidates",
        lambda answer, trip, flight: (
            answer.get("recommended_flight_id") in (answer.get("candidates") or [])
        ),
    ),
    (
        "citation_not_retrieved",
        "the answer cites no policy passage, or one not retrieved for this passenger",
        lambda answer, trip, flight: cites_only_retrieved(
            answer.get("citations"), answer.get("policy_ids")
        ),
    ),
    (
        "unknown_recommended_flight",
        "recommended flight does not exist",
        lambda answer, trip, flight: flight is not None,
    ),
    (
        "wrong_route",
        "recommended flight does not serve the passenger's route",
        lambda answer, trip, flight: (
            (flight["origin"], flight["destination"]) == (trip["origin"], trip["destination"])
        ),
    ),
    (
        "not_later",
        "recommended flight does not depart later than the disrupted one",
        lambda answer, trip, flight: (
            flight["departure_ts"] is not None
            and trip["departure_ts"] is not None
            and flight["departure_ts"] > trip["departure_ts"]
        ),
    ),
    (
        "no_seat",
        "recommended flight has no free {cabin} seat",
        lambda answer, trip, flight: (
            ((flight["cabins"].get(trip["cabin"]) or {}).get("seats_left") or 0) > 0
        ),
    ),
)


def cites_only_retrieved(citations: list | None, policy_ids: list | None) -> bool:
    """At least one citation, and every one the id of a passage retrieved for the row: a
    forged id, or a real passage another passenger's lookup found, is not grounded."""
    retrieved = set(policy_ids or [])
    return bool(citations) and all(c is not None and c in retrieved for c in citations or [])


# The rules about the inventory record alone: what the flights lookup filter of
# sql/rebooking.sql asks MongoDB for (tests/flink/test_grounded_rule.py compares them).
INVENTORY_RULES = ("wrong_route", "not_later", "no_seat")


def serves(trip: Mapping, flight: Mapping) -> bool:
    """The flight serves the trip's route, departs later and has a seat in its cabin."""
    return all(
        holds({}, trip, flight) for code, _, holds in GROUNDED_RULES if code in INVENTORY_RULES
    )


def grounded_problem(answer: Mapping, trip: Mapping, flight: Mapping | None) -> str | None:
    """The first grounded rule the answer breaks (its reason code), or None."""
    for code, _, holds in GROUNDED_RULES:
        if not holds(answer, trip, flight):
            return code
    return None


def recommendation_problems(rec: Mapping, data: Dataset) -> list[str]:
    """Why a recommendation is not grounded in the data (empty list = grounded)."""
    booking = next((b for b in data.bookings if b["booking_id"] == rec.get("booking_id")), None)
    if booking is None:
        return [f"unknown booking {rec.get('booking_id')!r}"]
    flights = {f["flight_id"]: f for f in data.flights}
    rec_id = rec.get("recommended_flight_id")
    chosen = flights.get(rec_id)
    if chosen is None:
        return [f"recommended flight {rec_id!r} does not exist"]
    disrupted = flights[booking["flight_id"]]
    trip = {
        "origin": booking["origin"],
        "destination": booking["destination"],
        "departure_ts": disrupted["departure_ts"],
        "cabin": booking["cabin"],
    }
    return [
        message.format(cabin=booking["cabin"])
        for _, message, holds in GROUNDED_RULES
        if not holds(answer_of(rec), trip, chosen)
    ]


def answer_of(rec: Mapping) -> dict:
    """The `answer` of the grounded rules from a record of the recommendations topic: what
    it cites, and what the row retrieved (its provenance: the passages its prompt held)."""
    return {
        "recommended_flight_id": rec.get("recommended_flight_id"),
        "candidates": rec.get("candidates"),
        "citations": rec.get("citations"),
        "policy_ids": (rec.get("provenance") or {}).get("ids"),
    }


def reason_problem(rec: Mapping) -> str | None:
    """Why a recommendation's reason is not the sentence sql/rebooking.sql builds (None: it is):
    "Rebook on <flight> (<origin> to <destination>, departs <time>, <n> <cabin> seats left):
    <one of rebooking.REASONS>." A person reads it; free text from a small model is not."""
    reason = rec.get("reason") or ""
    rec_id = rec.get("recommended_flight_id")
    head = f"Rebook on {rec_id} ("
    if reason.startswith(head) and any(reason.endswith(f"): {r}.") for r in REASONS.values()):
        return None
    return f"reason {reason!r} is not the sentence built from the answer"
