"""A labelled retrieval set where exact tokens matter, generated deterministically.

Airline records that read almost alike (flight notices, bookings, fare rules) and differ in a
code: a flight number, a booking reference, a fare basis, a passenger's name. Flight numbers
and fare bases come in families a character apart, as real schedules and fare tables do. A
query names one record by its code, the way an agent or a support chat does ("can passengers
of LH4821 rebook?"), so meaning alone ranks many near neighbours level with it. A few policy
passages are asked about in other words, with no shared term, which full text alone misses.
Each query has exactly one relevant document.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

CARRIERS = ("LH", "BA", "AF", "KL", "UA", "DL", "IB", "AY")
CITIES = (
    "Frankfurt", "London", "Paris", "Amsterdam", "Chicago", "Atlanta", "Madrid", "Helsinki",
    "Munich", "Boston", "Rome", "Vienna",
)  # fmt: skip
FIRST = ("Anna", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas")
LAST = (
    "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quintero", "Rossi",
    "Schmidt", "Tanaka", "Varga", "Weber",
)  # fmt: skip
CABINS = ("economy", "premium economy", "business")
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
POLICIES = (
    (
        "pets",
        "Dogs and cats up to 8 kg may travel in the cabin in a ventilated carrier "
        "that fits under the seat; heavier animals travel in the hold.",
        "Can I bring my small dog with me on board?",
    ),
    (
        "infants",
        "Children under two years fly on an adult's lap and pay ten percent of "
        "the adult fare; a bassinet can be reserved on long-haul flights.",
        "How much does a baby's ticket cost?",
    ),
    (
        "wheelchair",
        "Passengers with reduced mobility receive assistance from check-in to "
        "the aircraft door if they ask for it 48 hours before departure.",
        "I cannot walk far; will someone help me get to the plane?",
    ),
    (
        "baggage",
        "Delayed suitcases are delivered to the address given in the property "
        "irregularity report; keep receipts for essentials bought meanwhile.",
        "My luggage did not arrive, what should I do?",
    ),
    (
        "compensation",
        "When a flight is overbooked and a traveller is denied boarding, "
        "compensation between 250 and 600 euros is paid depending on distance.",
        "They would not let me on the full plane, am I owed money?",
    ),
    (
        "oxygen",
        "Portable oxygen concentrators approved by the airline may be used on "
        "board; bring a doctor's certificate and batteries for 150% of the flight time.",
        "Is my breathing machine allowed during the trip?",
    ),
    (
        "minors",
        "Children aged 5 to 11 travelling alone are escorted by staff; the "
        "service must be booked and paid at the time of reservation.",
        "My 8-year-old daughter is flying by herself, how does that work?",
    ),
    (
        "sports",
        "Golf bags, skis and bicycles count as one piece of checked luggage "
        "when packed in a dedicated case; surfboards need prior approval.",
        "Can I take my bike along as luggage?",
    ),
)


@dataclass(frozen=True)
class Query:
    text: str
    relevant: str  # the _id of the one relevant document
    kind: str  # flight | booking | fare | name | policy


def _code(rng: random.Random, letters: int, digits: int) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(letters)) + "".join(
        rng.choice("0123456789") for _ in range(digits)
    )


FAMILY_OFFSETS = (0, 1, 2, 3, 10, 11, 12, 13)
MARKETS = ("DE", "FR", "US", "GB", "IT", "ES", "NL", "AT")


def build(docs_per_kind: int = 64, queries_per_kind: int = 13, seed: int = 7, family: int = 8):
    """(documents, queries): 3 × docs_per_kind records plus the policy passages; 4 ×
    queries_per_kind coded queries (flight, booking, fare, name) plus one per policy. Flight
    numbers and fare bases come in families of `family` (at most 8) a character apart."""
    if not 1 <= family <= len(FAMILY_OFFSETS):
        raise ValueError(f"family must be from 1 to {len(FAMILY_OFFSETS)}, got {family}")
    rng = random.Random(seed)
    docs: list[dict[str, str]] = []
    flights, bookings, fares = [], [], []
    seen: set[str] = set()

    def unique(make) -> str:
        while True:
            value = make()
            if value not in seen:
                seen.add(value)
                return value

    # Flights come in families, as schedules do: one route, numbers a digit apart (LH4820,
    # LH4821, ..., LH4833), the notices alike but for the number and the time.
    for i in range(docs_per_kind):
        if i % family == 0:
            carrier = rng.choice(CARRIERS)
            base = unique(
                lambda c=carrier: f"{c}{rng.randint(10, 99) * 100 + rng.randint(0, 8) * 10}"
            )
            a, b = rng.sample(CITIES, 2)
        code = f"{base[:2]}{int(base[2:]) + FAMILY_OFFSETS[i % family]}"
        hour = f"{rng.randint(5, 22):02d}:{rng.choice(('05', '20', '35', '50'))}"
        text = (
            f"Flight {code} from {a} to {b}: departure moved to {hour}. Passengers may rebook "
            "free of charge onto the next departure or request a refund."
        )
        docs.append({"_id": f"flight-{i}", "content": text, "kind": "flight"})
        flights.append((f"flight-{i}", code, a, b))
    for i in range(docs_per_kind):
        pnr = unique(lambda: _code(rng, 4, 2))
        name = unique(lambda: f"{rng.choice(FIRST)} {rng.choice(LAST)}")
        flight = rng.choice(flights)[1]
        text = (
            f"Booking {pnr} for {name}: {rng.randint(1, 4)} passengers on flight {flight}, "
            f"{rng.choice(CABINS)} class, seat change requested after the schedule change."
        )
        docs.append({"_id": f"booking-{i}", "content": text, "kind": "booking"})
        bookings.append((f"booking-{i}", pnr, name))
    # Fare bases in families too: one fare, its markets (YLOWDE, YLOWFR, YLOWUS, ...).
    for i in range(docs_per_kind):
        if i % family == 0:
            stem = unique(lambda: rng.choice("YBMHQ") + _code(rng, 3, 0))
            cabin = rng.choice(CABINS)
        fare = stem + MARKETS[i % family]
        text = (
            f"Fare basis {fare} ({cabin} class): changes cost "
            f"{rng.choice((0, 50, 75, 100, 150))} euros, refundable "
            f"{rng.choice(('before departure', 'never', 'within 24 hours'))}; "
            "name changes are not allowed."
        )
        docs.append({"_id": f"fare-{i}", "content": text, "kind": "fare"})
        fares.append((f"fare-{i}", fare))
    for topic, text, _ in POLICIES:
        docs.append({"_id": f"policy-{topic}", "content": text, "kind": "policy"})

    queries: list[Query] = []
    for doc_id, code, _, _ in rng.sample(flights, queries_per_kind):
        queries.append(Query(f"Can passengers of flight {code} still rebook?", doc_id, "flight"))
    for doc_id, pnr, _ in rng.sample(bookings, queries_per_kind):
        queries.append(Query(f"What happened to booking {pnr}?", doc_id, "booking"))
    for doc_id, fare in rng.sample(fares, queries_per_kind):
        queries.append(Query(f"What are the change fees of fare {fare}?", doc_id, "fare"))
    for doc_id, _, name in rng.sample(bookings, queries_per_kind):
        queries.append(Query(f"Seat change for {name}", doc_id, "name"))
    for topic, _, question in POLICIES:
        queries.append(Query(question, f"policy-{topic}", "policy"))
    return docs, queries
