"""Keyset pagination: walking the cursors returns every match exactly once, even while new
listings are inserted between pages (some sorting before, some after the cursor)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sichrplace.search.repository import pages
from tests.search.conftest import BYPASS, SEARCH, Insert, random_flats

# Every test here runs against both search backends (search/backends/).
pytestmark = pytest.mark.usefixtures("search_backend")

CENTER = (-41.3, 174.8)
WORDS = "Helle Wohnung mit Balkon und Garten nahe dem Park"


async def _walk_while_inserting(
    client: httpx.AsyncClient,
    insert_flats: Insert,
    city: str,
    params: dict[str, Any],
    *,
    limit: int,
) -> tuple[list[str], list[str]]:
    """Walk all pages; after each page insert 3 new matching listings. Returns (seen ids,
    ids inserted during the walk)."""
    rng = random.Random(99)
    seen: list[str] = []
    inserted: list[str] = []
    cursor: str | None = None
    for page in range(100):
        query = dict(params, limit=limit)
        if cursor:
            query["cursor"] = cursor
        resp = await client.get(SEARCH, params=query, headers=BYPASS)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, inserted
        fresh = random_flats(city, 3, seed=1000 + page, center=CENTER)
        now = datetime.now(UTC)
        for flat in fresh:
            flat.status = "active"
            flat.description = WORDS
            # new rows land on both sides of the cursor: very old/new, cheap/expensive, near/far
            flat.created_at = now - timedelta(days=rng.choice((0, 60)))
            flat.cold = rng.choice((1_000, 999_000))
        await insert_flats(fresh)
        inserted += [str(f.id) for f in fresh]
    raise AssertionError("walk did not end")


SORTS = [
    {"sort": "newest"},
    {"sort": "rent_asc"},
    {"sort": "rent_desc"},
    {"sort": "rent_asc", "rent_type": "cold"},
    {"sort": "distance", "lat": CENTER[0], "lng": CENTER[1]},
    {"sort": "distance", "lat": CENTER[0], "lng": CENTER[1], "radius_km": 6},
    {"q": "Balkon"},  # relevance
    {"q": "Balkon", "sort": "newest"},
    # full text checked after the indexed filters (repository/where.py text_via_lookup)
    {"q": "Balkon", "min_rooms": 2},
    {"q": "Balkon", "sort": "rent_asc", "max_rent": 900_000},
    # relevance near a point: the items carry a distance as well as a rank
    {"q": "Balkon", "lat": CENTER[0], "lng": CENTER[1], "radius_km": 6},
]


@pytest.mark.parametrize("params", SORTS, ids=lambda p: "-".join(str(v) for v in p.values()))
async def test_cursor_walk_is_exactly_once_under_inserts(
    client: httpx.AsyncClient, insert_flats: Insert, city: str, params: dict[str, Any]
) -> None:
    flats = random_flats(city, 60, seed=42, center=CENTER, spread_km=5)
    for flat in flats:
        flat.description = WORDS if flat.rooms > 1 else "Ohne Freisitz."
    await insert_flats(flats)
    base = {"city": city, **params}
    expected = {
        str(f.id)
        for f in flats
        if f.status == "active" and ("q" not in params or f.rooms > 1)
        and ("radius_km" not in params or _within(f.lat, f.lng, 6))
        and ("min_rooms" not in params or f.rooms >= params["min_rooms"])
    }  # fmt: skip

    seen, inserted = await _walk_while_inserting(client, insert_flats, city, base, limit=5)

    assert len(seen) == len(set(seen)), "a listing was returned twice"
    assert expected <= set(seen), f"missed {len(expected - set(seen))} listings"
    assert set(seen) <= expected | set(inserted)
    assert inserted, "nothing was inserted during the walk"


def _within(lat: float | None, lng: float | None, km: float) -> bool:
    from tests.search.conftest import haversine_m

    return lat is not None and lng is not None and haversine_m(*CENTER, lat, lng) <= km * 1000


@pytest.mark.parametrize("extra", [{}, {"min_size": 1}], ids=["text", "text-after-filters"])
async def test_relevance_walk_crosses_the_window_exactly_once(
    client: httpx.AsyncClient,
    insert_flats: Insert,
    city: str,
    monkeypatch: pytest.MonkeyPatch,
    extra: dict[str, Any],
) -> None:
    # A window of 7 makes the walk go through both tiers (newest 7 by rank, then the rest).
    monkeypatch.setattr(pages, "RELEVANCE_WINDOW", 7)
    flats = random_flats(city, 40, seed=8, center=CENTER)
    for i, flat in enumerate(flats):
        flat.status = "active"
        flat.title = "Balkon-Wohnung" if i % 4 == 0 else "Wohnung"
        flat.description = "Balkon. " * (1 + i % 3)
    await insert_flats(flats)

    seen, inserted = await _walk_while_inserting(
        client, insert_flats, city, {"city": city, "q": "Balkon", **extra}, limit=4
    )

    assert len(seen) == len(set(seen))
    assert {str(f.id) for f in flats} <= set(seen)
    assert set(seen) <= {str(f.id) for f in flats} | set(inserted)


async def test_relevance_ranks_title_matches_first(
    client: httpx.AsyncClient, insert_flats: Insert, city: str
) -> None:
    flats = random_flats(city, 6, seed=9, center=CENTER)
    for flat in flats:
        flat.status = "active"
        flat.title, flat.description = "Altbauwohnung", "Mit Balkon."
    flats[4].title = "Wohnung mit Balkon"
    await insert_flats(flats)

    resp = await client.get(SEARCH, params={"city": city, "q": "balkon"}, headers=BYPASS)

    items = resp.json()["items"]
    assert items[0]["id"] == str(flats[4].id)
    assert items[0]["rank"] > items[1]["rank"] > 0
    assert len(items) == 6


async def test_cursor_is_bound_to_its_query(
    client: httpx.AsyncClient, insert_flats: Insert, city: str
) -> None:
    await insert_flats(random_flats(city, 12, seed=4, center=CENTER))
    first = await client.get(SEARCH, params={"city": city, "limit": 3}, headers=BYPASS)
    cursor = first.json()["next_cursor"]
    assert cursor

    other_filter = await client.get(
        SEARCH, params={"city": city, "limit": 3, "max_rent": 1, "cursor": cursor}, headers=BYPASS
    )
    other_sort = await client.get(
        SEARCH, params={"city": city, "sort": "rent_asc", "cursor": cursor}, headers=BYPASS
    )
    other_limit = await client.get(
        SEARCH, params={"city": city, "limit": 5, "cursor": cursor}, headers=BYPASS
    )

    for resp in (other_filter, other_sort):
        assert resp.status_code == 422
        assert resp.json()["errors"][0]["field"] == "cursor"
    assert other_limit.status_code == 200  # the page size may change between pages
