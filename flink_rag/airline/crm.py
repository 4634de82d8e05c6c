"""CRM customers: contact data, loyalty tier, preferences and free-text notes."""

from __future__ import annotations

import random

LOYALTY_TIERS: tuple[str, ...] = ("NONE", "SILVER", "GOLD", "PLATINUM")
_TIER_WEIGHTS = (60, 22, 13, 5)

_FIRST = (
    "Anna",
    "Ben",
    "Chiara",
    "David",
    "Elena",
    "Felix",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Karin",
    "Liam",
    "Maya",
    "Noah",
    "Olivia",
    "Pablo",
    "Quentin",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "William",
    "Xenia",
    "Yusuf",
    "Zoe",
    "Amelie",
    "Bruno",
    "Clara",
    "Dmitri",
)
_LAST = (
    "Schmidt",
    "Rossi",
    "Dubois",
    "Garcia",
    "Jansen",
    "Kowalski",
    "Nielsen",
    "O'Brien",
    "Papadopoulos",
    "Silva",
    "Novak",
    "Lindqvist",
    "Fischer",
    "Moreau",
    "Bianchi",
    "Smith",
    "Virtanen",
    "Horvath",
    "Andersen",
    "Costa",
    "Weber",
    "Martin",
    "Lopez",
    "Meyer",
)
_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pl", "sv")
_NOTES = (
    "Travels with a small dog in the cabin.",
    "Prefers morning flights; commutes weekly for work.",
    "Complained about a missed connection last month.",
    "Corporate account; company policy allows economy only on flights under 4 hours.",
    "Usually flies with family of four.",
    "Needs to arrive before 18:00 for connecting train.",
    "Frequent flyer on this route; flexible on time, not on date.",
    "Asked to be contacted by SMS rather than email.",
    "Celebrating an anniversary on this trip.",
    "",
)


def build_customers(rng: random.Random, count: int) -> list[dict]:
    """`count` customers with ids C000001..; names and emails are fictitious."""
    customers = []
    for i in range(1, count + 1):
        first = rng.choice(_FIRST)
        last = rng.choice(_LAST)
        tier = rng.choices(LOYALTY_TIERS, weights=_TIER_WEIGHTS)[0]
        handle = f"{first}.{last}".lower().replace("'", "")
        customers.append(
            {
                "customer_id": f"C{i:06d}",
                "name": f"{first} {last}",
                "email": f"{handle}.{i}@example.com",
                "phone": f"+49 555 {rng.randrange(1000000, 9999999)}",
                "loyalty_tier": tier,
                "preferences": {
                    "seat": rng.choice(("aisle", "window", "any")),
                    "meal": rng.choice(("standard", "vegetarian", "vegan", "gluten-free")),
                    "language": rng.choice(_LANGUAGES),
                    "contact": rng.choice(("email", "sms", "app")),
                },
                "notes": rng.choice(_NOTES),
            }
        )
    return customers
