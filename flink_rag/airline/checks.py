"""Checks on the sample data and on the pipeline's recommendations (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping

from flink_rag.airline.dataset import Dataset


def alternatives(data: Dataset, flight: Mapping, cabin: str | None = None) -> list[dict]:
    """Later flights on the same route with a free seat (in `cabin` if given)."""
    return [
        f
        for f in data.flights
        if f["origin"] == flight["origin"]
        and f["destination"] == flight["destination"]
        and f["departure_ts"] > flight["departure_ts"]
        and (
            f["seats_left"] > 0
            if cabin is None
            else f["cabins"].get(cabin, {}).get("seats_left", 0) > 0
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


def recommendation_problems(rec: Mapping, data: Dataset) -> list[str]:
    """Why a recommendation is not grounded in the data (empty list = grounded)."""
    booking = next((b for b in data.bookings if b["booking_id"] == rec.get("booking_id")), None)
    if booking is None:
        return [f"unknown booking {rec.get('booking_id')!r}"]
    flights = {f["flight_id"]: f for f in data.flights}
    chosen = flights.get(rec.get("recommended_flight_id"))
    if chosen is None:
        return [f"recommended flight {rec.get('recommended_flight_id')!r} does not exist"]
    disrupted = flights[booking["flight_id"]]
    problems = []
    if rec["recommended_flight_id"] not in (rec.get("candidates") or []):
        problems.append("recommended flight was not among the retrieved candidates")
    if (chosen["origin"], chosen["destination"]) != (booking["origin"], booking["destination"]):
        problems.append("recommended flight does not serve the passenger's route")
    if chosen["departure_ts"] <= disrupted["departure_ts"]:
        problems.append("recommended flight does not depart later than the disrupted one")
    if chosen["cabins"].get(booking["cabin"], {}).get("seats_left", 0) <= 0:
        problems.append(f"recommended flight has no free {booking['cabin']} seat")
    return problems
