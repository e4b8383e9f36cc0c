"""Geo radius against a brute-force haversine (property test), German full text, facets."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sichrplace.listings.places import city_key
from tests.search.conftest import BYPASS, FACETS, SEARCH, Flat, Insert, haversine_m, random_flats
from tests.search.helpers import matches, walk

# Every test here runs against both search backends (search/backends/).
pytestmark = pytest.mark.usefixtures("search_backend")

GEO_CENTER = (-33.5, -150.25)  # open ocean: nothing else lives here


@pytest.fixture
async def geo_flats(insert_flats: Insert, city: str) -> list[Flat]:
    flats = random_flats(city, 150, seed=123, center=GEO_CENTER, spread_km=40)
    for flat in flats:
        # Exact coordinates in the items, to check distances against (tests/search/
        # test_address_privacy.py has the rounded ones).
        flat.status, flat.show_exact_address = "active", True
    await insert_flats(flats)
    return flats


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    dlat=st.floats(-0.4, 0.4),
    dlng=st.floats(-0.4, 0.4),
    radius_km=st.floats(0.5, 60),
    sort=st.sampled_from(["distance", "newest", "rent_asc"]),
)
async def test_radius_matches_haversine(
    client: httpx.AsyncClient,
    geo_flats: list[Flat],
    city: str,
    dlat: float,
    dlng: float,
    radius_km: float,
    sort: str,
) -> None:
    lat, lng = GEO_CENTER[0] + dlat, GEO_CENTER[1] + dlng
    params = {"city": city, "lat": lat, "lng": lng, "radius_km": radius_km, "sort": sort}

    items = await walk(client, params, limit=50)

    found = {i["id"] for i in items}
    radius_m = radius_km * 1000
    for flat in geo_flats:
        assert flat.lat is not None
        assert flat.lng is not None
        d = haversine_m(lat, lng, flat.lat, flat.lng)
        if abs(d - radius_m) < 0.5:  # sphere vs. haversine rounding: too close to call
            continue
        assert (str(flat.id) in found) == (d < radius_m), (d, radius_m)
    for item in items:
        assert item["distance_km"] <= radius_km + 0.0005  # rounded to metres
        expected = haversine_m(lat, lng, item["latitude"], item["longitude"]) / 1000
        assert item["distance_km"] == pytest.approx(expected, abs=0.002)
    if sort == "distance":
        assert [i["distance_km"] for i in items] == sorted(i["distance_km"] for i in items)


async def test_radius_without_other_filters_finds_the_cluster(
    client: httpx.AsyncClient, geo_flats: list[Flat]
) -> None:
    lat, lng = GEO_CENTER
    params = {"lat": lat, "lng": lng, "radius_km": 12, "sort": "distance"}

    items = await walk(client, params, limit=100)

    expected = {str(f.id) for f in geo_flats if matches(f, params)}
    assert expected
    assert expected <= {i["id"] for i in items}


@pytest.mark.parametrize(
    ("query", "found"),
    [("Balkon", True), ("Balkone", True), ("balkon hell", True), ("Tiefgarage", False),
     ('"sonnigen Balkon"', False), ("Balkon -Aufzug", True), ("Balkon -hell", False)],
)  # fmt: skip
async def test_german_full_text(
    client: httpx.AsyncClient, insert_flats: Insert, city: str, query: str, found: bool
) -> None:
    flat, other = random_flats(city, 2, seed=2)
    flat.status = other.status = "active"
    flat.title = "Helle Dreizimmerwohnung"
    flat.description = "Die Wohnung hat zwei große Balkone und liegt ruhig."
    other.title, other.description = "Wohnung", "Mit Stellplatz."
    await insert_flats([flat, other])

    resp = await client.get(SEARCH, params={"city": city, "q": query}, headers=BYPASS)

    assert resp.status_code == 200
    ids = [i["id"] for i in resp.json()["items"]]
    assert ids == ([str(flat.id)] if found else [])


def _expected_facets(flats: list[Flat], params: dict[str, Any]) -> dict[str, Counter[str]]:
    hits = [f for f in flats if matches(f, params)]
    bounds = (50_000, 75_000, 100_000, 150_000, 200_000)
    labels = ("0-500", "500-750", "750-1000", "1000-1500", "1500-2000", "2000+")

    def bucket(f: Flat) -> str:
        rent = f.cold if params.get("rent_type") == "cold" else f.warm
        return labels[sum(rent >= b for b in bounds)]

    def rooms(f: Flat) -> str:
        return str(int(f.rooms)) if f.rooms == int(f.rooms) else str(float(f.rooms))

    return {
        "city": Counter(city_key(f.city) for f in hits),  # "ae" folds as "ä" does
        "rooms": Counter(rooms(f) for f in hits),
        "rent_bucket": Counter(bucket(f) for f in hits),
        "amenity": Counter(a for f in hits for a in f.amenities),
    }


@pytest.mark.parametrize(
    "params",
    [{}, {"max_rent": 120_000}, {"rent_type": "cold", "min_rooms": 2}, {"amenities": "balcony"},
     {"lat": 10.0, "lng": 20.0, "radius_km": 5}],
)  # fmt: skip
async def test_facets_match_brute_force(
    client: httpx.AsyncClient, insert_flats: Insert, city: str, params: dict[str, Any]
) -> None:
    flats = random_flats(city, 80, seed=random.randint(0, 9999), center=(10.0, 20.0))
    await insert_flats(flats)

    resp = await client.get(FACETS, params={"city": city, **params}, headers=BYPASS)

    assert resp.status_code == 200, resp.text
    body = resp.json()
    expected = _expected_facets(flats, params)
    assert body["total"] == sum(expected["city"].values()) > 0
    for facet in ("city", "rooms", "amenity"):
        got = {e["value"]: e["count"] for e in body[facet] if e["count"]}
        assert got == dict(expected[facet]), facet
    assert [b["value"] for b in body["rent_bucket"]] == [
        "0-500", "500-750", "750-1000", "1000-1500", "1500-2000", "2000+"
    ]  # fmt: skip
    got_buckets = {b["value"]: b["count"] for b in body["rent_bucket"] if b["count"]}
    assert got_buckets == dict(expected["rent_bucket"])
    assert body["city"][0]["label"] == city
    assert body["rent_type"] == params.get("rent_type", "warm")
