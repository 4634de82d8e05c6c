"""Airports (real IATA codes) and a hub-and-spoke route network.

The network is fixed data, not random: the same routes exist for every seed, so
tests and the demo can name a route and find flights on it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Airport:
    iata: str
    name: str
    city: str
    country: str
    eu: bool  # departures from here fall under EU261-style compensation


@dataclass(frozen=True)
class Route:
    carrier: str
    origin: str
    destination: str
    block_minutes: int
    daily_frequency: int
    long_haul: bool


AIRPORTS: tuple[Airport, ...] = (
    Airport("FRA", "Frankfurt am Main", "Frankfurt", "DE", True),
    Airport("MUC", "Munich", "Munich", "DE", True),
    Airport("LHR", "London Heathrow", "London", "GB", False),
    Airport("CDG", "Paris Charles de Gaulle", "Paris", "FR", True),
    Airport("AMS", "Amsterdam Schiphol", "Amsterdam", "NL", True),
    Airport("BER", "Berlin Brandenburg", "Berlin", "DE", True),
    Airport("HAM", "Hamburg", "Hamburg", "DE", True),
    Airport("DUS", "Duesseldorf", "Duesseldorf", "DE", True),
    Airport("VIE", "Vienna", "Vienna", "AT", True),
    Airport("ZRH", "Zurich", "Zurich", "CH", False),
    Airport("MAD", "Madrid Barajas", "Madrid", "ES", True),
    Airport("BCN", "Barcelona El Prat", "Barcelona", "ES", True),
    Airport("FCO", "Rome Fiumicino", "Rome", "IT", True),
    Airport("MXP", "Milan Malpensa", "Milan", "IT", True),
    Airport("LIS", "Lisbon Humberto Delgado", "Lisbon", "PT", True),
    Airport("DUB", "Dublin", "Dublin", "IE", True),
    Airport("CPH", "Copenhagen Kastrup", "Copenhagen", "DK", True),
    Airport("ARN", "Stockholm Arlanda", "Stockholm", "SE", True),
    Airport("OSL", "Oslo Gardermoen", "Oslo", "NO", False),
    Airport("HEL", "Helsinki Vantaa", "Helsinki", "FI", True),
    Airport("WAW", "Warsaw Chopin", "Warsaw", "PL", True),
    Airport("PRG", "Prague Vaclav Havel", "Prague", "CZ", True),
    Airport("BUD", "Budapest Ferenc Liszt", "Budapest", "HU", True),
    Airport("ATH", "Athens Eleftherios Venizelos", "Athens", "GR", True),
    Airport("EDI", "Edinburgh", "Edinburgh", "GB", False),
    Airport("MAN", "Manchester", "Manchester", "GB", False),
    Airport("NCE", "Nice Cote d'Azur", "Nice", "FR", True),
    Airport("JFK", "New York John F. Kennedy", "New York", "US", False),
    Airport("ORD", "Chicago O'Hare", "Chicago", "US", False),
    Airport("DXB", "Dubai International", "Dubai", "AE", False),
    Airport("SIN", "Singapore Changi", "Singapore", "SG", False),
)

AIRPORTS_BY_IATA: dict[str, Airport] = {a.iata: a for a in AIRPORTS}

# Hub -> operating carrier (IATA airline code).
HUBS: dict[str, str] = {"FRA": "LH", "MUC": "LH", "LHR": "BA", "CDG": "AF", "AMS": "KL"}

# Spokes each hub serves (both directions). Long-haul spokes are marked below.
HUB_SPOKES: dict[str, tuple[str, ...]] = {
    "FRA": (
        "BER",
        "HAM",
        "VIE",
        "ZRH",
        "MAD",
        "BCN",
        "FCO",
        "LIS",
        "CPH",
        "WAW",
        "ATH",
        "JFK",
        "ORD",
        "DXB",
        "SIN",
    ),
    "MUC": ("BER", "HAM", "DUS", "VIE", "ZRH", "FCO", "MXP", "BUD", "PRG", "NCE", "JFK"),
    "LHR": ("EDI", "MAN", "DUB", "MAD", "BCN", "NCE", "ARN", "OSL", "JFK", "ORD", "DXB"),
    "CDG": ("NCE", "MAD", "BCN", "FCO", "LIS", "DUB", "HEL", "JFK", "SIN"),
    "AMS": ("MAN", "EDI", "CPH", "ARN", "OSL", "HEL", "PRG", "BUD", "JFK", "DXB"),
}

LONG_HAUL: frozenset[str] = frozenset({"JFK", "ORD", "DXB", "SIN"})

# Approximate block times in minutes from each hub, used for both directions.
_BLOCK_FROM_HUB: dict[str, int] = {
    "FRA": 0,
    "MUC": 60,
    "LHR": 95,
    "CDG": 80,
    "AMS": 70,
    "BER": 70,
    "HAM": 65,
    "DUS": 55,
    "VIE": 80,
    "ZRH": 60,
    "MAD": 150,
    "BCN": 125,
    "FCO": 120,
    "MXP": 80,
    "LIS": 175,
    "DUB": 115,
    "CPH": 90,
    "ARN": 125,
    "OSL": 115,
    "HEL": 150,
    "WAW": 100,
    "PRG": 65,
    "BUD": 95,
    "ATH": 180,
    "EDI": 85,
    "MAN": 75,
    "NCE": 100,
    "JFK": 510,
    "ORD": 555,
    "DXB": 385,
    "SIN": 735,
}


def _block_minutes(a: str, b: str) -> int:
    # Block times come from a table of times to FRA; between two other airports
    # they are estimated from both legs. Good enough for a plausible timetable.
    if "FRA" in (a, b):
        return _BLOCK_FROM_HUB[b if a == "FRA" else a]
    if a in LONG_HAUL or b in LONG_HAUL:
        return max(_BLOCK_FROM_HUB[a], _BLOCK_FROM_HUB[b]) + 15
    return max(55, int(0.75 * (_BLOCK_FROM_HUB[a] + _BLOCK_FROM_HUB[b])) // 5 * 5)


def routes() -> list[Route]:
    """All directed routes, in a stable order (hub by hub, outbound then inbound)."""
    out: list[Route] = []
    hubs = list(HUBS)
    for hub in hubs:
        carrier = HUBS[hub]
        for other in hubs:
            if other != hub and HUBS[other] != carrier:
                out.append(Route(carrier, hub, other, _block_minutes(hub, other), 3, False))
        for spoke in HUB_SPOKES[hub]:
            long_haul = spoke in LONG_HAUL
            freq = 1 if long_haul else 2 if spoke in ("ATH", "LIS", "HEL", "NCE") else 3
            minutes = _block_minutes(hub, spoke)
            out.append(Route(carrier, hub, spoke, minutes, freq, long_haul))
            out.append(Route(carrier, spoke, hub, minutes, freq, long_haul))
    # FRA<->MUC is a domestic shuttle of the same carrier.
    out.append(Route("LH", "FRA", "MUC", 55, 4, False))
    out.append(Route("LH", "MUC", "FRA", 55, 4, False))
    return out
