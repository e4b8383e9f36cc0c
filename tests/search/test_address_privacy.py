"""Address privacy in search, from both backends: items never carry a street, house number or
owner id; coordinates are the centre of a ~500 m cell (the same point for two listings in one
cell) unless the landlord shows the exact address; switching that reaches search at once
(the in-process index through its change feed, the cached pages through the write's bump)."""

from __future__ import annotations

import httpx
import pytest

from sichrplace.listings.rules import approximate_point
from sichrplace.platform.db.engines import Database
from tests.search.conftest import SEARCH, Flat, Insert, Landlord, random_flats, wait_for_replica
from tests.search.helpers import walk

pytestmark = pytest.mark.usefixtures("search_backend")

API = "/api/v1"
CENTER = (52.52, 13.40)
PRIVATE_KEYS = {"street", "house_number", "owner_id"}


def _flats(city: str) -> list[Flat]:
    flats = random_flats(city, 6, seed=14, center=CENTER, spread_km=3)
    for flat in flats:
        flat.status = "active"
    # Two houses next door to each other: one cell, one point shown.
    flats[1].lat, flats[1].lng = 52.51630, 13.43760
    flats[2].lat, flats[2].lng = 52.51641, 13.43779
    flats[3].show_exact_address = True
    return flats


async def test_search_items_show_cells_not_addresses(
    client: httpx.AsyncClient, insert_flats: Insert, city: str
) -> None:
    flats = _flats(city)
    await insert_flats(flats)

    items = {i["id"]: i for i in await walk(client, {"city": city})}

    assert set(items) == {str(f.id) for f in flats}
    for flat in flats:
        item = items[str(flat.id)]
        assert not PRIVATE_KEYS & set(item), item
        assert flat.lat is not None
        assert flat.lng is not None
        if flat.show_exact_address:
            assert (item["latitude"], item["longitude"]) == (flat.lat, flat.lng)
        else:
            shown = (item["latitude"], item["longitude"])
            assert shown == approximate_point(flat.lat, flat.lng)
            assert shown != (flat.lat, flat.lng)
    same_cell = [items[str(f.id)] for f in flats[1:3]]
    assert (same_cell[0]["latitude"], same_cell[0]["longitude"]) == (
        same_cell[1]["latitude"],
        same_cell[1]["longitude"],
    )


async def test_distances_of_rounded_listings_are_half_kilometres(
    client: httpx.AsyncClient, insert_flats: Insert, city: str
) -> None:
    flats = _flats(city)
    await insert_flats(flats)
    params = {"city": city, "lat": CENTER[0], "lng": CENTER[1], "radius_km": 20}

    items = await walk(client, {**params, "sort": "distance"})

    exact = {str(f.id) for f in flats if f.show_exact_address}
    assert len(items) == len(flats)
    for item in items:
        if item["id"] not in exact:
            assert (item["distance_km"] * 2).is_integer(), item
            assert approximate_point(item["latitude"], item["longitude"]) == (
                item["latitude"],
                item["longitude"],
            )
    distances = [i["distance_km"] for i in items]
    assert distances == sorted(distances)  # still nearest first


async def test_showing_the_exact_address_reaches_search(
    client: httpx.AsyncClient, insert_flats: Insert, city: str, landlord: Landlord, db: Database
) -> None:
    flat = _flats(city)[1]
    await insert_flats([flat])
    assert flat.lat is not None
    assert flat.lng is not None

    async def shown() -> tuple[float, float]:
        # Through the cache (no bypass): the write must have dropped the cached page.
        r = await client.get(SEARCH, params={"city": city})
        assert r.status_code == 200
        (item,) = r.json()["items"]
        return item["latitude"], item["longitude"]

    assert await shown() == approximate_point(flat.lat, flat.lng)
    url = f"{API}/listings/{flat.id}"
    r = await client.patch(url, json={"show_exact_address": True}, headers=landlord.headers)
    assert r.status_code == 200, r.text
    await wait_for_replica(db)
    assert await shown() == (flat.lat, flat.lng)
    r = await client.patch(url, json={"show_exact_address": False}, headers=landlord.headers)
    assert r.status_code == 200, r.text
    await wait_for_replica(db)
    assert await shown() == approximate_point(flat.lat, flat.lng)
