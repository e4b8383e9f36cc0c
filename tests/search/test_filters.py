"""Every contract filter and sort of GET /search/listings against a brute-force reference."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.search.conftest import BYPASS, SEARCH, Flat, Insert, random_flats
from tests.search.helpers import matches, walk

# Every test here runs against both search backends (search/backends/).
pytestmark = pytest.mark.usefixtures("search_backend")

CENTER = (47.2, 15.3)
IN_TEN_DAYS = (date.today() + timedelta(days=10)).isoformat()

FILTERS: list[dict[str, Any]] = [
    {},
    {"postal_code": "10115"},
    {"min_rent": 70_000},
    {"max_rent": 100_000},
    {"min_rent": 60_000, "max_rent": 130_000, "rent_type": "cold"},
    {"min_rent": 60_000, "max_rent": 130_000, "rent_type": "warm"},
    {"min_rooms": 2},
    {"max_rooms": 2.5},
    {"min_rooms": 1.5, "max_rooms": 3},
    {"min_size": 62.25},
    {"max_size": 62.25},
    {"min_size": 45, "max_size": 95.5},
    {"wbs_required": "true"},
    {"wbs_required": "false"},
    {"energy_class_max": "C"},
    {"energy_class_max": "a+"},
    {"furnished": "true"},
    {"furnished": "false"},
    {"pets_allowed": "true"},
    {"amenities": "balcony"},
    {"amenities": "balcony,elevator"},
    {"available_from": IN_TEN_DAYS},
    {"lat": CENTER[0], "lng": CENTER[1], "radius_km": 3.5},
    {"bbox": f"{CENTER[1] - 0.05},{CENTER[0] - 0.04},{CENTER[1] + 0.06},{CENTER[0] + 0.03}"},
    {"max_rent": 150_000, "min_rooms": 2, "pets_allowed": "false", "amenities": "cellar"},
]


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["id"] for i in items]


@pytest.mark.parametrize("params", FILTERS, ids=lambda p: ",".join(p) or "none")
async def test_filter_matches_brute_force(
    client: httpx.AsyncClient, insert_flats: Insert, city: str, params: dict[str, Any]
) -> None:
    # Random data each run, but data the filter matches: a set where nothing matches (one
    # run in a few hundred for the rarer combinations) would test nothing; the next seed then.
    seed = hash(city) & 0xFFFF
    flats = random_flats(city, 70, seed=seed, center=CENTER)
    while not any(matches(f, params) for f in flats):
        assert seed < (hash(city) & 0xFFFF) + 50, "no seed gives data the filter matches"
        seed += 1
        flats = random_flats(city, 70, seed=seed, center=CENTER)
    await insert_flats(flats)

    items = await walk(client, {"city": city, **params}, limit=9)

    expected = {str(f.id) for f in flats if matches(f, params)}
    assert len(_ids(items)) == len(set(_ids(items))), "an item came twice"
    assert set(_ids(items)) == expected
    assert expected, "the filter matched nothing: the test data does not exercise it"


def _order(flats: list[Flat], sort: str, rent_type: str = "warm") -> list[str]:
    def rent(f: Flat) -> int:
        return f.cold if rent_type == "cold" else f.warm

    if sort == "newest":
        ordered = sorted(flats, key=lambda f: (f.created_at, f.id), reverse=True)
    elif sort == "rent_asc":
        ordered = sorted(flats, key=lambda f: (rent(f), f.id))
    else:
        ordered = sorted(flats, key=lambda f: (rent(f), f.id), reverse=True)
    return [str(f.id) for f in ordered]


@pytest.mark.parametrize(
    ("sort", "rent_type"),
    [("newest", "warm"), ("rent_asc", "warm"), ("rent_desc", "warm"), ("rent_asc", "cold"),
     ("rent_desc", "cold")],
)  # fmt: skip
async def test_sort_orders_with_id_tie_break(
    client: httpx.AsyncClient, insert_flats: Insert, city: str, sort: str, rent_type: str
) -> None:
    flats = random_flats(city, 50, seed=7, center=CENTER)
    await insert_flats(flats)
    active = [f for f in flats if f.status == "active"]

    items = await walk(client, {"city": city, "sort": sort, "rent_type": rent_type}, limit=6)

    assert _ids(items) == _order(active, sort, rent_type)


async def test_default_sort_is_newest_and_items_have_the_projection(
    client: httpx.AsyncClient, insert_flats: Insert, city: str
) -> None:
    flats = random_flats(city, 12, seed=3, center=CENTER)
    await insert_flats(flats)

    resp = await client.get(SEARCH, params={"city": city.upper()}, headers=BYPASS)

    assert resp.status_code == 200
    items = resp.json()["items"]
    assert _ids(items) == _order([f for f in flats if f.status == "active"], "newest")
    by_id = {str(f.id): f for f in flats}
    first = items[0]
    flat = by_id[first["id"]]
    assert first["warm_rent_cents"] == flat.warm
    assert first["cold_rent_cents"] == flat.cold
    assert first["city"] == city
    assert first["amenities"] == flat.amenities
    assert "distance_km" not in first
    assert "rank" not in first
    assert set(first) >= {"id", "title", "postal_code", "rooms", "size_sqm", "latitude",
                          "longitude", "created_at", "available_from", "thumbnail_url"}  # fmt: skip


async def test_only_active_listings_are_found(
    client: httpx.AsyncClient, insert_flats: Insert, city: str
) -> None:
    statuses = ("active", "reserved", "rented", "archived")
    flats = random_flats(city, 4, seed=1, center=CENTER)
    for flat, status in zip(flats, statuses, strict=True):
        flat.status = status
    await insert_flats(flats)

    items = await walk(client, {"city": city})

    assert _ids(items) == [str(flats[0].id)]


async def test_distance_sort_reports_distances_in_order(
    client: httpx.AsyncClient, insert_flats: Insert, city: str
) -> None:
    flats = random_flats(city, 40, seed=11, center=CENTER)
    for flat in flats:
        flat.show_exact_address = True  # distances to the metre (else to the half km)
    await insert_flats(flats)
    lat, lng = CENTER[0] + 0.01, CENTER[1] - 0.02

    items = await walk(client, {"city": city, "lat": lat, "lng": lng, "sort": "distance"}, limit=7)

    active = [f for f in flats if f.status == "active"]
    assert {i["id"] for i in items} == {str(f.id) for f in active}
    distances = [i["distance_km"] for i in items]
    assert distances == sorted(distances)
    # equal distances (same building) come in id order
    for a, b in itertools.pairwise(items):
        if a["distance_km"] == b["distance_km"]:
            assert uuid.UUID(a["id"]) < uuid.UUID(b["id"])


async def test_limit_bounds_the_page(
    client: httpx.AsyncClient, insert_flats: Insert, city: str
) -> None:
    await insert_flats(random_flats(city, 40, seed=5, center=CENTER))

    resp = await client.get(SEARCH, params={"city": city, "limit": 4}, headers=BYPASS)
    default = await client.get(SEARCH, params={"city": city}, headers=BYPASS)

    assert len(resp.json()["items"]) == 4
    assert resp.json()["next_cursor"]
    assert len(default.json()["items"]) == 20
