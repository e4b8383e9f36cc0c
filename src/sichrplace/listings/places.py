"""Place names: the key a city or district is filtered, counted and completed by.

A key is the folded name (kit/german.fold: case, umlaut spelling, Unicode form and
punctuation do not matter), with "Sankt" written "st", and for cities the official long
names that people search by their short name mapped to it: "Frankfurt am Main", "Frankfurt
a. M." and "Frankfurt/Main" all have the key of "Frankfurt". Places that share a short name
with a bigger one keep their own key: "Frankfurt (Oder)" is "frankfurt oder", and "Halle
(Westf.)" is not Halle (Saale).
"""

from __future__ import annotations

from functools import lru_cache

from sichrplace.kit.german import fold

# Short name -> official or common long forms, written as people write them (folded below).
CITY_ALIASES: dict[str, tuple[str, ...]] = {
    "Frankfurt": (
        "Frankfurt am Main", "Frankfurt a. M.", "Frankfurt a.M.", "Frankfurt/Main",
        "Frankfurt (Main)", "Frankfurt a. Main",
    ),
    "Offenbach": ("Offenbach am Main", "Offenbach a. M.", "Offenbach/Main"),
    "Halle": ("Halle (Saale)", "Halle/Saale", "Halle an der Saale", "Halle a. d. Saale"),
    "Freiburg": ("Freiburg im Breisgau", "Freiburg i. Br.", "Freiburg (Breisgau)"),
    "Mülheim": ("Mülheim an der Ruhr", "Mülheim a. d. Ruhr", "Mülheim/Ruhr"),
    "Ludwigshafen": ("Ludwigshafen am Rhein", "Ludwigshafen/Rhein"),
    "Brandenburg": ("Brandenburg an der Havel", "Brandenburg/Havel"),
    "Weiden": ("Weiden in der Oberpfalz", "Weiden i. d. OPf."),
    "Kempten": ("Kempten (Allgäu)", "Kempten/Allgäu"),
    "Landsberg": ("Landsberg am Lech",),
    "Neumarkt": ("Neumarkt in der Oberpfalz", "Neumarkt i. d. OPf."),
    "Rothenburg": ("Rothenburg ob der Tauber", "Rothenburg o. d. T."),
}  # fmt: skip


@lru_cache(maxsize=8192)
def name_key(name: str) -> str:
    """The folded name with "Sankt" as "st" (no aliases): what a completion prefix and a
    district are compared as."""
    words = fold(name).split(" ")
    return " ".join("st" if word == "sankt" else word for word in words)


_CITY_KEYS: dict[str, str] = {
    name_key(long): name_key(short) for short, longs in CITY_ALIASES.items() for long in longs
}


@lru_cache(maxsize=4096)
def city_key(city: str) -> str:
    """The key of a city name ("MÜNCHEN", "Muenchen" -> "munchen"; "Frankfurt am Main" ->
    "frankfurt"). A key is its own key, so a facet's value can be sent back as a filter."""
    key = name_key(city)
    return _CITY_KEYS.get(key, key)


def district_key(district: str) -> str:
    """The key of a district (Stadtteil) name ("Sankt Pauli", "St. Pauli" -> "st pauli")."""
    return name_key(district)
