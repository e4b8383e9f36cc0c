"""Request mixes for `sichrplace bench search`, and the SQL each uncached request runs.

Popular shapes (cached scenarios) are the landing pages of the biggest cities; the uncached
mixes draw cities by the same skewed weights as the seeded data and add the filters people
combine (rent cap, rooms, amenities, full text, map box, "near me").
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg import sql as psql

from sichrplace.search.params import filter_params, search_params, to_filters, to_query
from sichrplace.search.plans import stats as advice
from sichrplace.search.plans.grid import GeoGrid, sample_percent
from sichrplace.search.plans.words import WordStats
from sichrplace.search.repository import facets, pages, stats
from sichrplace.search.repository.where import Statement, text_via_lookup
from sichrplace.search.schemas import SearchQuery
from sichrplace.seeding.listings import CITIES

API = "/api/v1"
_WORDS = ("Balkon", "Einbauküche", "Altbau", "Garten", "Terrasse", "Aufzug", "ruhig",
          "hell", "Fußbodenheizung", "Stellplatz", "möbliert", "Badewanne", "Dachterrasse",
          "saniert")  # fmt: skip
_AMENITY_COMBOS = (("balcony",), ("elevator",), ("balcony", "fitted_kitchen"), ("garden",),
                   ("dishwasher", "washing_machine"), ("parking",), ("terrace",))  # fmt: skip
_WEIGHTS = list(accumulate(c[1] for c in CITIES))


@dataclass(frozen=True)
class Request:
    """One request of a mix: query parameters of /search/* (or a whole path)."""

    path: str
    params: dict[str, Any]


def _city(rng: random.Random) -> tuple[Any, ...]:
    r = rng.random() * _WEIGHTS[-1]
    for city, bound in zip(CITIES, _WEIGHTS, strict=True):
        if r < bound:
            return city
    return CITIES[-1]


def _near(rng: random.Random, city: tuple[Any, ...]) -> tuple[float, float]:
    """A point within the city's radius (km) of its centre."""
    _, _, lat, lng, radius, *_ = city
    d = rng.random() * radius / 111.32
    a = rng.random() * 2 * math.pi
    return round(lat + d * math.cos(a), 5), round(
        lng + d * math.sin(a) / math.cos(math.radians(lat)), 5
    )


def popular_search() -> list[Request]:
    out: list[Request] = []
    for city in CITIES[:8]:
        out.append(Request(f"{API}/search/listings", {"city": city[0]}))
        out.append(Request(f"{API}/search/listings", {"city": city[0], "sort": "rent_asc"}))
        out.append(Request(f"{API}/search/listings", {"city": city[0], "max_rent": 100_000}))
    out.append(Request(f"{API}/search/listings", {}))
    return out


def popular_facets() -> list[Request]:
    out = [Request(f"{API}/search/facets", {"city": c[0]}) for c in CITIES[:12]]
    out.append(Request(f"{API}/search/facets", {}))
    return out


def _varied(rng: random.Random) -> dict[str, Any]:
    city = _city(rng)
    p: dict[str, Any] = {}
    shape = rng.random()
    if shape < 0.08:  # map view: a neighbourhood-sized box
        lat, lng = _near(rng, city)
        dlat, dlng = rng.uniform(0.005, 0.02), rng.uniform(0.008, 0.03)
        p["bbox"] = f"{lng - dlng:.5f},{lat - dlat:.5f},{lng + dlng:.5f},{lat + dlat:.5f}"
    elif shape < 0.12:  # postal code
        p["postal_code"] = f"{rng.randint(city[6], city[7]):05d}"
    else:
        p["city"] = city[0]
    if rng.random() < 0.5:
        p["max_rent"] = rng.choice((60_000, 80_000, 100_000, 120_000, 150_000, 200_000))
        if rng.random() < 0.2:
            p["rent_type"] = "cold"
    if rng.random() < 0.2:
        p["min_rent"] = rng.choice((30_000, 50_000))
    if rng.random() < 0.4:
        p["min_rooms"] = rng.choice((1, 2, 2.5, 3, 4))
    if rng.random() < 0.15:
        p["min_size"] = rng.choice((40, 60, 80))
    if rng.random() < 0.1:
        p["furnished"] = "true"
    if rng.random() < 0.15:
        p["pets_allowed"] = "true"
    if rng.random() < 0.2:
        p["amenities"] = ",".join(rng.choice(_AMENITY_COMBOS))
    if rng.random() < 0.1:
        day = datetime.now(UTC).date() + timedelta(days=rng.randint(0, 90))
        p["available_from"] = day.isoformat()
    if rng.random() < 0.15:
        p["q"] = rng.choice(_WORDS)
    return p


def _newer_filters(rng: random.Random, p: dict[str, Any]) -> dict[str, Any]:
    """The filters added after the mix was first measured, drawn from their own generator so
    the rest of the mix stays the same request for request."""
    if rng.random() < 0.05:
        p["max_size"] = rng.choice((50, 70, 90))
        if float(p.get("min_size", 0)) > p["max_size"]:
            del p["max_size"]
    if rng.random() < 0.05:
        p["energy_class_max"] = rng.choice(("B", "C", "D"))
    if rng.random() < 0.03:
        p["wbs_required"] = rng.choice(("true", "false"))
    return p


def uncached_search(n: int, seed: int = 1) -> list[Request]:
    rng = random.Random(seed)
    newer = random.Random(seed + 1000)
    out = []
    for _ in range(n):
        p = _newer_filters(newer, _varied(rng))
        if "q" not in p and rng.random() < 0.35:
            p["sort"] = rng.choice(("rent_asc", "rent_desc"))
        out.append(Request(f"{API}/search/listings", p))
    return out


def geo_radius(n: int, seed: int = 2) -> list[Request]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        lat, lng = _near(rng, _city(rng))
        p: dict[str, Any] = {"lat": lat, "lng": lng, "radius_km": rng.choice((1, 2, 3, 5, 10))}
        p["sort"] = "distance" if rng.random() < 0.7 else "newest"
        if rng.random() < 0.3:
            p["max_rent"] = rng.choice((80_000, 120_000, 150_000))
        out.append(Request(f"{API}/search/listings", p))
    return out


def uncached_facets(n: int, seed: int = 3) -> list[Request]:
    rng = random.Random(seed)
    newer = random.Random(seed + 1000)
    out = []
    for _ in range(n):
        p = _newer_filters(newer, _varied(rng))
        if rng.random() < 0.5:
            p.pop("q", None)
        out.append(Request(f"{API}/search/facets", p))
    return out


def suggest(n: int, seed: int = 4) -> list[Request]:
    """What people type into the search box: the first 1-6 characters of a seeded city,
    district or postal code (cities drawn by their weight), sometimes in lower case or with
    the umlaut spelt out."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        city = _city(rng)
        name, districts, low, high = city[0], city[8], city[6], city[7]
        shape = rng.random()
        if shape < 0.5 or not districts:
            text = name
        elif shape < 0.8:
            text = rng.choice(districts)
        else:
            text = f"{rng.randint(low, high):05d}"
        if rng.random() < 0.3:
            text = text.lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae")
        prefix = text[: rng.randint(1, min(6, len(text)))]
        out.append(Request(f"{API}/search/suggest", {"q": prefix}))
    return out


def listing_detail(ids: Sequence[str]) -> list[Request]:
    return [Request(f"{API}/listings/{i}", {}) for i in ids]


def path_of(request: Request) -> str:
    return request.path + ("?" + urlencode(request.params) if request.params else "")


def paths(requests: Sequence[Request]) -> list[str]:
    return [path_of(r) for r in requests]


# --- the same requests as SQL, for the pgbench ceiling ---------------------------------------

_BIND = re.compile(r"(?<![:\w]):(\w+)")


def render(statement: Statement) -> str:
    """The statement with its values inlined as SQL literals (pgbench runs plain SQL)."""

    def literal(match: re.Match[str]) -> str:
        value = statement.params[match.group(1)]
        if isinstance(value, list):
            return psql.Literal(value).as_string() + "::text[]"
        return psql.Literal(value).as_string()

    return _BIND.sub(literal, statement.sql)


class Plans:
    """What an API process uses to pick plans (the density grid, the word statistics and the
    lexemes of search texts), read the same way over one connection."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        rows = conn.execute(render(stats.density_statement())).fetchall()
        percent = sample_percent(sum(n for _, _, n in rows))
        sample = conn.execute(render(stats.density_sample_statement(percent))).fetchall()
        self.grid = GeoGrid.from_rows(rows, [(key, bytes(record)) for key, record in sample])
        row = conn.execute(render(stats.word_stats_statement())).fetchone()
        self.words = WordStats.from_row(*row) if row else None
        self._lexemes: dict[str, tuple[str, ...]] = {}

    def text_direct(self, query: SearchQuery) -> bool:
        """words.WordAdvice.direct_is_cheaper for a first page, over this connection."""
        f = query.filters
        if f.q is None or self.words is None or not text_via_lookup(f):
            return False
        if f.q not in self._lexemes:
            statement = stats.lexemes_statement(f.q)
            row = self.conn.execute(render(statement)).fetchone()
            self._lexemes[f.q] = tuple(row[0] or ()) if row else ()
        need = advice.matches_needed(query.sort, True, query.limit)
        return advice.text_direct(self.words, self._lexemes[f.q], f, need, self.grid)


def search_sql(request: Request, plans: Plans | None) -> list[str]:
    """The SQL the API runs for an uncached /search/listings request (first page)."""
    query = to_query(search_params(request.params))
    if query.sort == "distance":
        return [render(pages.distance_statement(query, None))]
    direct = plans is not None and plans.text_direct(query)
    if query.sort != "relevance":
        grid = plans.grid if plans and advice.wants_grid(query) else None
        statement = pages.keyset_statement(
            query,
            None,
            radius_via_index=not advice.walk_radius(query, grid),
            text_direct=direct,
            collect=advice.collect_rent_range(query, grid),
        )
        return [render(statement)]
    statement = pages.relevance_first_statement(query, limit=query.limit + 1, text_direct=direct)
    return [render(statement)]


def facets_sql(request: Request) -> list[str]:
    filters = to_filters(filter_params(request.params))
    return [render(facets.facets_statement(filters))]
