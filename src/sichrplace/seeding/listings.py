"""Realistic demo listings for seeding and benchmarks: a fast, deterministic row generator.

    from sichrplace.seeding.listings import SEED_COLUMNS, generate_listings
    rows = generate_listings(1_000_000, owner_ids=landlords, seed=42, now=fixed_now)
    # COPY listings (SEED_COLUMNS) FROM STDIN ... write each tuple

No database work per row: the bulk seeder streams the tuples into COPY. The same
(n, owner_ids, seed, now) always gives the same rows. Cities follow a skewed, roughly
population-like distribution with real centre coordinates (jittered by a city radius) and
cold rents per m² near each city's market level; titles and descriptions are German and name
the listing's amenities. Generated columns (warm rent, location, full text) are left to
Postgres.
"""

from __future__ import annotations

import math
import random
import uuid
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any, TypeVar

from sichrplace.listings.fulltext import derived_columns
from sichrplace.listings.vocabulary import AMENITIES, ENERGY_CLASSES

SEED_COLUMNS: tuple[str, ...] = (
    "id", "owner_id", "title", "description", "street", "house_number", "postal_code", "city",
    "city_key", "latitude", "longitude", "geocode_status", "cold_rent_cents", "utilities_cents",
    "deposit_cents", "rooms", "size_sqm", "furnished", "pets_allowed", "available_from",
    "amenities", "energy_class", "status", "view_count", "created_at", "updated_at",
    "district", "district_key", "search_extra", "wbs_required", "show_exact_address",
)  # fmt: skip
# Types to dump SEED_COLUMNS with, in order (psycopg `copy.set_types`, text COPY: the server
# parses them into the columns' own types, e.g. float8 text into numeric rooms).
SEED_PG_TYPES: tuple[str, ...] = (
    "uuid", "uuid", "text", "text", "text", "text", "text", "text", "text", "float8",
    "float8", "text", "int4", "int4", "int4", "float8", "float8", "bool", "bool", "date",
    "text[]", "text", "text", "int8", "timestamptz", "timestamptz", "text", "text", "text",
    "bool", "bool",
)  # fmt: skip

# (city, weight, lat, lng, radius km, cold rent EUR/m², lowest PLZ, highest PLZ, districts)
CITIES: tuple[tuple[str, float, float, float, float, float, int, int, tuple[str, ...]], ...] = (
    ("Berlin", 20, 52.5200, 13.4050, 9.0, 14.5, 10115, 14199,
     ("Prenzlauer Berg", "Kreuzberg", "Friedrichshain", "Neukölln", "Charlottenburg",
      "Schöneberg", "Moabit", "Pankow", "Wedding", "Steglitz")),
    ("Hamburg", 11, 53.5511, 9.9937, 8.0, 13.5, 20095, 22769,
     ("Eimsbüttel", "Altona", "Winterhude", "Ottensen", "Barmbek", "St. Pauli", "Eppendorf")),
    ("München", 9, 48.1351, 11.5820, 6.5, 21.0, 80331, 81929,
     ("Schwabing", "Maxvorstadt", "Haidhausen", "Sendling", "Giesing", "Neuhausen", "Bogenhausen")),
    ("Köln", 6, 50.9375, 6.9603, 6.0, 13.0, 50667, 51149,
     ("Ehrenfeld", "Nippes", "Sülz", "Deutz", "Lindenthal", "Südstadt")),
    ("Frankfurt am Main", 5, 50.1109, 8.6821, 5.5, 16.5, 60306, 60599,
     ("Sachsenhausen", "Bornheim", "Nordend", "Bockenheim", "Westend", "Gallus")),
    ("Stuttgart", 4, 48.7758, 9.1829, 4.5, 15.5, 70173, 70629,
     ("Stuttgart-West", "Bad Cannstatt", "Degerloch", "Vaihingen", "Feuerbach")),
    ("Düsseldorf", 4, 51.2277, 6.7735, 5.0, 13.5, 40210, 40629,
     ("Pempelfort", "Bilk", "Flingern", "Oberkassel", "Derendorf")),
    ("Leipzig", 4, 51.3397, 12.3731, 5.5, 8.0, 4103, 4357,
     ("Plagwitz", "Connewitz", "Gohlis", "Südvorstadt", "Reudnitz", "Lindenau")),
    ("Dresden", 3, 51.0504, 13.7373, 5.5, 8.0, 1067, 1328,
     ("Neustadt", "Striesen", "Blasewitz", "Löbtau", "Pieschen")),
    ("Hannover", 3, 52.3759, 9.7320, 5.0, 10.0, 30159, 30669, ("List", "Linden", "Südstadt")),
    ("Nürnberg", 3, 49.4521, 11.0767, 4.5, 11.5, 90402, 90491, ("Gostenhof", "St. Johannis")),
    ("Dortmund", 3, 51.5136, 7.4653, 5.5, 8.5, 44135, 44388, ("Kreuzviertel", "Hörde")),
    ("Essen", 3, 51.4556, 7.0116, 5.5, 8.5, 45127, 45359, ("Rüttenscheid", "Holsterhausen")),
    ("Bremen", 2, 53.0793, 8.8017, 5.5, 9.5, 28195, 28779, ("Findorff", "Schwachhausen")),
    ("Duisburg", 2, 51.4344, 6.7623, 5.0, 7.0, 47051, 47279, ()),
    ("Bochum", 1.5, 51.4818, 7.2162, 4.5, 7.5, 44787, 44894, ()),
    ("Wuppertal", 1.5, 51.2562, 7.1508, 4.5, 7.0, 42103, 42399, ("Elberfeld", "Barmen")),
    ("Bonn", 1.5, 50.7374, 7.0982, 4.0, 12.0, 53111, 53229, ("Poppelsdorf", "Beuel")),
    ("Münster", 1.5, 51.9607, 7.6261, 4.0, 12.0, 48143, 48167, ("Kreuzviertel",)),
    ("Karlsruhe", 1.5, 49.0069, 8.4037, 4.0, 11.5, 76131, 76229, ("Südweststadt",)),
    ("Mannheim", 1.5, 49.4875, 8.4660, 4.0, 10.5, 68159, 68309, ("Neckarstadt",)),
    ("Augsburg", 1.2, 48.3705, 10.8978, 4.0, 11.5, 86150, 86199, ()),
    ("Freiburg im Breisgau", 1.2, 47.9990, 7.8421, 3.5, 14.0, 79098, 79117, ("Wiehre",)),
    ("Heidelberg", 1.0, 49.3988, 8.6724, 3.0, 13.5, 69115, 69126, ("Neuenheim", "Altstadt")),
    ("Mainz", 1.0, 49.9929, 8.2473, 3.5, 12.5, 55116, 55131, ("Neustadt",)),
    ("Potsdam", 1.0, 52.3906, 13.0645, 4.0, 12.0, 14467, 14482, ("Babelsberg",)),
    ("Regensburg", 1.0, 49.0134, 12.1016, 3.0, 11.5, 93047, 93059, ()),
    ("Kiel", 1.0, 54.3233, 10.1228, 4.0, 10.0, 24103, 24159, ()),
    ("Rostock", 0.8, 54.0924, 12.0991, 4.0, 8.5, 18055, 18147, ()),
    ("Erfurt", 0.8, 50.9848, 11.0299, 3.5, 8.0, 99084, 99099, ()),
    ("Göttingen", 0.7, 51.5413, 9.9158, 3.0, 10.0, 37073, 37085, ()),
    ("Würzburg", 0.7, 49.7913, 9.9534, 3.0, 10.5, 97070, 97084, ()),
    ("Jena", 0.5, 50.9271, 11.5892, 2.5, 9.5, 7743, 7749, ()),
    ("Gießen", 0.4, 50.5841, 8.6784, 2.5, 9.0, 35390, 35398, ()),
)  # fmt: skip
_CITY_CUM = list(accumulate(c[1] for c in CITIES))
T = TypeVar("T")

STREETS = (
    "Hauptstraße", "Bahnhofstraße", "Schulstraße", "Gartenstraße", "Bergstraße", "Lindenstraße",
    "Kirchstraße", "Waldstraße", "Ringstraße", "Goethestraße", "Schillerstraße", "Mozartstraße",
    "Friedrichstraße", "Parkstraße", "Rosenweg", "Am Markt", "Kastanienallee", "Birkenweg",
    "Mühlenweg", "Feldstraße", "Sonnenstraße", "Beethovenstraße", "Lessingstraße",
    "Heinrich-Heine-Straße", "Blumenstraße", "Jahnstraße", "Kantstraße", "Uhlandstraße",
    "Wilhelmstraße", "Luisenstraße", "Am Stadtpark", "Eichendorffstraße", "Poststraße",
)  # fmt: skip

# (weight, rooms): one-room flats and twos dominate German rental stock.
_ROOMS = (
    (18, 1.0),
    (5, 1.5),
    (30, 2.0),
    (7, 2.5),
    (22, 3.0),
    (4, 3.5),
    (9, 4.0),
    (4, 5.0),
    (1, 6.0),
)
_ROOMS_CUM = list(accumulate(w for w, _ in _ROOMS))
_ENERGY_WEIGHTS = (5, 8, 15, 20, 20, 14, 9, 6, 3)
_ENERGY_CUM = list(accumulate(_ENERGY_WEIGHTS))
_AMENITY_P = {
    "balcony": 0.55, "garden": 0.15, "elevator": 0.35, "parking": 0.3, "dishwasher": 0.4,
    "washing_machine": 0.3, "fitted_kitchen": 0.6, "cellar": 0.5, "wheelchair_accessible": 0.05,
    "terrace": 0.1, "guest_toilet": 0.2, "bathtub": 0.45, "floor_heating": 0.15,
    "storage_room": 0.25, "bicycle_storage": 0.3,
}  # fmt: skip
_AMENITY_PHRASE = {
    "balcony": "einen sonnigen Balkon", "garden": "einen Garten zur Mitbenutzung",
    "elevator": "einen Aufzug", "parking": "einen Tiefgaragenstellplatz",
    "dishwasher": "eine Spülmaschine", "washing_machine": "eine Waschmaschine",
    "fitted_kitchen": "eine moderne Einbauküche", "cellar": "ein Kellerabteil",
    "wheelchair_accessible": "einen barrierefreien Zugang", "terrace": "eine große Terrasse",
    "guest_toilet": "ein Gäste-WC", "bathtub": "ein Bad mit Badewanne",
    "floor_heating": "Fußbodenheizung", "storage_room": "einen Abstellraum",
    "bicycle_storage": "einen Fahrradkeller",
}  # fmt: skip
# Title feature, best first: the first amenity a listing has names it.
_TITLE_FEATURE = (
    ("terrace", "mit Dachterrasse"), ("garden", "mit Garten"), ("balcony", "mit Balkon"),
    ("fitted_kitchen", "mit Einbauküche"), ("floor_heating", "mit Fußbodenheizung"),
    ("elevator", "mit Aufzug"), ("parking", "mit Stellplatz"),
)  # fmt: skip
_ADJECTIVES = (
    "Hell", "Gemütlich", "Modern", "Saniert", "Charmant", "Ruhig", "Großzügig", "Neuwertig",
    "Renoviert", "Schön", "Stilvoll", "Sonnig",
)  # fmt: skip
_CLOSINGS = (
    "Gute Anbindung an den ÖPNV, Einkaufsmöglichkeiten in der Nähe.",
    "Supermarkt, Bäcker und Straßenbahn sind in wenigen Minuten zu Fuß erreichbar.",
    "Ruhige Seitenstraße, Parks und Cafés in unmittelbarer Umgebung.",
    "Kitas, Schulen und Ärzte befinden sich im Viertel.",
    "Besichtigungen nach Vereinbarung.",
)
_STATUSES = ("active",) * 90 + ("reserved",) * 4 + ("rented",) * 4 + ("archived",) * 2
_DEPOSIT_FACTORS = (3,) * 70 + (2,) * 20 + (1,) * 8 + (0,) * 2


def _german_list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " und " + items[-1]


def _rooms_label(rooms: float) -> str:
    return f"{rooms:g}".replace(".", ",")


def _pick(r: Callable[[], float], seq: Sequence[T]) -> T:
    return seq[int(r() * len(seq))]


def _title(
    r: Callable[[], float], rooms: float, amenities: list[str], furnished: bool, place: str
) -> str:
    if rooms == 1.0 and r() < 0.5:
        noun, ending = "1-Zimmer-Apartment", "es"
    else:
        noun, ending = f"{_rooms_label(rooms)}-Zimmer-Wohnung", "e"
    adjective = "Möbliert" if furnished and r() < 0.5 else _pick(r, _ADJECTIVES)
    owned = set(amenities)
    feature = next((text for key, text in _TITLE_FEATURE if key in owned), None)
    tail = feature if feature and r() < 0.7 else f"in {place}"
    return f"{adjective}{ending} {noun} {tail}"


def _description(
    r: Callable[[], float],
    rooms: float,
    size: float,
    place: str,
    amenities: list[str],
    furnished: bool,
    pets: bool,
    available: date | None,
) -> str:
    parts = [
        f"Diese {_pick(r, _ADJECTIVES).lower()}e {_rooms_label(rooms)}-Zimmer-Wohnung mit ca. "
        f"{size:.0f} m² Wohnfläche liegt in {place}."
    ]
    if amenities:
        phrases = [_AMENITY_PHRASE[a] for a in amenities]
        parts.append(f"Die Wohnung verfügt über {_german_list(phrases)}.")
    if furnished:
        parts.append("Sie wird vollständig möbliert vermietet.")
    parts.append("Haustiere sind willkommen." if pets else "Haustiere bitte nach Absprache.")
    parts.append(f"Bezugsfrei ab {available:%d.%m.%Y}." if available else "Ab sofort verfügbar.")
    parts.append(_pick(r, _CLOSINGS))
    return " ".join(parts)


def generate_listings(
    n: int,
    *,
    owner_ids: Sequence[uuid.UUID],
    seed: int = 0,
    now: datetime | None = None,
) -> Iterator[tuple[Any, ...]]:
    """`n` listing rows as tuples in SEED_COLUMNS order (deterministic for equal arguments)."""
    if not owner_ids:
        raise ValueError("owner_ids must name at least one landlord")
    rng = random.Random(seed)
    r, gauss = rng.random, rng.gauss
    now = now or datetime(2026, 11, 1, tzinfo=UTC)
    today = now.date()
    n_owners, city_total, rooms_total = len(owner_ids), _CITY_CUM[-1], _ROOMS_CUM[-1]
    amenity_p = [(a, _AMENITY_P[a]) for a in AMENITIES]
    year = 365 * 86400
    for _ in range(n):
        name, _w, lat0, lng0, radius, per_sqm, plz_lo, plz_hi, districts = CITIES[
            bisect(_CITY_CUM, r() * city_total)
        ]
        rooms = _ROOMS[bisect(_ROOMS_CUM, r() * rooms_total)][1]
        size = round(max(14.0, rooms * 23 + 10 + gauss(0, 9)), 2)
        furnished = r() < 0.12
        pets = r() < 0.35
        scale = 0.7 + rooms * 0.12
        amenities = [a for a, p in amenity_p if r() < p * scale]
        # Market noise, plus premiums for furnished flats and good buildings.
        factor = math.exp(gauss(0, 0.15)) * (1.15 if furnished else 1.0)
        factor *= 1 + 0.02 * sum(a in amenities for a in ("elevator", "floor_heating", "terrace"))
        cold = max(150, round(size * per_sqm * factor / 5) * 5) * 100
        utilities = round(size * (2.2 + 1.6 * r()) / 5) * 5 * 100
        deposit = cold * _pick(r, _DEPOSIT_FACTORS)
        energy = None
        if r() >= 0.1:
            energy = ENERGY_CLASSES[bisect(_ENERGY_CUM, r() * _ENERGY_CUM[-1])]
        available = None if r() < 0.15 else today + timedelta(days=int(r() * 120))
        place, district = name, None
        if districts and r() < 0.7:
            district = _pick(r, districts)
            place = f"{name.split(' ')[0]}-{district}"  # "Frankfurt-Bornheim"
        # Clamped normal jitter around the centre (km -> degrees).
        spread = radius / 2 / 111.32
        dlat = max(-2.5, min(2.5, gauss(0, 1))) * spread
        dlng = max(-2.5, min(2.5, gauss(0, 1))) * spread / math.cos(math.radians(lat0))
        created = now - timedelta(seconds=r() * year)
        updated = min(now, created + timedelta(seconds=r() * 30 * 86400))
        number = str(1 + int(r() * 149)) + (_pick(r, "abc") if r() < 0.08 else "")
        # In the order the tuple drew them before: equal seeds give the rows they gave.
        listing_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        owner_id = owner_ids[int(r() * n_owners)]
        title = _title(r, rooms, amenities, furnished, place)
        description = _description(r, rooms, size, place, amenities, furnished, pets, available)
        derived = derived_columns(
            {"title": title, "description": description, "city": name, "district": district}
        )
        yield (
            listing_id,
            owner_id,
            title,
            description,
            _pick(r, STREETS),
            number,
            f"{plz_lo + int(r() * (plz_hi - plz_lo + 1)):05d}",
            name,
            derived["city_key"],
            round(lat0 + dlat, 6),
            round(lng0 + dlng, 6),
            "ok",
            cold,
            utilities,
            deposit,
            rooms,
            size,
            furnished,
            pets,
            available,
            amenities,
            energy,
            _pick(r, _STATUSES),
            min(100_000, int(5 * (rng.paretovariate(1.3) - 1))),  # a few listings get most views
            created,
            updated,
            district,
            derived["district_key"],
            derived["search_extra"],
            # About one flat in 25 needs a Wohnberechtigungsschein; decided by the id, so the
            # random stream (and every other column of every row) stays as it was.
            listing_id.int % 25 == 0,
            # About three landlords in ten show the exact address (from the id's upper half,
            # independent of the WBS flag): the rest show a ~500 m cell.
            (listing_id.int >> 64) % 10 < 3,
        )
