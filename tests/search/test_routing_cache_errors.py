"""Where search reads come from (replica, primary fallback, read-your-writes), the cache, and
the 422 answers for invalid input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from sichrplace.app import parts_of_app
from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database, ReplicaState
from sichrplace.platform.db.routing import mark_recent_write
from sichrplace.search.parts import SEARCH as SEARCH_PARTS
from tests.search.conftest import (
    BYPASS,
    FACETS,
    SEARCH,
    Insert,
    Landlord,
    random_flats,
    wait_until_loaded,
)


@pytest.fixture
def frozen_replica_state(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplicaState]:
    """Stop the monitor from overwriting a state the test sets (the replica itself stays up)."""

    async def keep(self: Database = db) -> ReplicaState:
        return self.replica_state

    saved = (db.replica_state.reachable, db.replica_state.lag_seconds, db.replica_state.error)
    monkeypatch.setattr(db, "check_replica", keep)
    yield db.replica_state
    db.replica_state.reachable, db.replica_state.lag_seconds, db.replica_state.error = saved


@pytest.mark.parametrize("path", [SEARCH, FACETS])
async def test_search_reads_from_the_replica(
    client: httpx.AsyncClient, insert_flats: Insert, city: str, path: str
) -> None:
    flats = random_flats(city, 5, seed=1)
    flats[0].status = "active"
    await insert_flats(flats)

    resp = await client.get(path, params={"city": city}, headers=BYPASS)

    assert resp.status_code == 200
    assert resp.headers["X-DB-Target"] == "replica"


@pytest.mark.parametrize("trouble", ["down", "lagging"])
@pytest.mark.parametrize("path", [SEARCH, FACETS])
async def test_search_falls_back_to_the_primary(
    client: httpx.AsyncClient,
    insert_flats: Insert,
    city: str,
    frozen_replica_state: ReplicaState,
    trouble: str,
    path: str,
) -> None:
    flats = random_flats(city, 5, seed=2)
    flats[0].status = "active"
    await insert_flats(flats)
    if trouble == "down":
        frozen_replica_state.reachable = False
        frozen_replica_state.error = "test"
    else:
        frozen_replica_state.lag_seconds = 3600.0

    resp = await client.get(path, params={"city": city}, headers=BYPASS)

    assert resp.status_code == 200
    assert resp.headers["X-DB-Target"] == "primary"
    if path == SEARCH:
        assert str(flats[0].id) in {i["id"] for i in resp.json()["items"]}


@pytest.mark.parametrize("path", [SEARCH, FACETS])
async def test_author_reads_own_writes_from_the_primary(
    app: FastAPI,
    client: httpx.AsyncClient,
    insert_flats: Insert,
    landlord: Landlord,
    redis: aioredis.Redis,
    city: str,
    path: str,
) -> None:
    # With the facet index loaded: it must not answer the author (it follows the replica).
    await wait_until_loaded(parts_of_app(app).get(SEARCH_PARTS).facet_index)
    await insert_flats(random_flats(city, 3, seed=3))
    await mark_recent_write(redis, landlord.id, 5)

    author = await client.get(path, params={"city": city}, headers=BYPASS | landlord.headers)
    anonymous = await client.get(path, params={"city": city}, headers=BYPASS)

    assert author.headers["X-DB-Target"] == "primary"
    assert anonymous.headers["X-DB-Target"] == "replica"


async def _until_hit(
    client: httpx.AsyncClient, path: str, params: dict[str, Any]
) -> httpx.Response:
    # Another test's listing write may bump the domain between two requests: retry a little.
    for _ in range(5):
        resp = await client.get(path, params=params)
        if resp.headers["X-Cache"] == "hit":
            return resp
    raise AssertionError("never served from the cache")


@pytest.mark.parametrize("path", [SEARCH, FACETS])
async def test_cache_hit_miss_and_bypass(
    client: httpx.AsyncClient, insert_flats: Insert, city: str, path: str
) -> None:
    flats = random_flats(city, 8, seed=4)
    await insert_flats(flats)
    params = {"city": city, "max_rent": 500_000}

    first = await client.get(path, params=params)
    hit = await _until_hit(client, path, params)
    no_cache = await client.get(path, params=params, headers={"Cache-Control": "no-cache"})
    bypass = await client.get(path, params=params, headers=BYPASS)

    assert first.headers["X-Cache"] == "miss"
    assert hit.headers["X-DB-Target"] == "none"
    assert hit.json() == first.json()
    assert no_cache.headers["X-Cache"] == bypass.headers["X-Cache"] == "bypass"
    assert bypass.json() == first.json()


async def test_bypass_is_ignored_where_the_settings_forbid_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    insert_flats: Insert,
    city: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In production (unless allowed) a client cannot send searches past the cache."""
    await insert_flats(random_flats(city, 3, seed=6))
    params = {"city": city}
    await client.get(SEARCH, params=params)
    await _until_hit(client, SEARCH, params)
    parts = parts_of_app(app)
    search = parts.swap(SEARCH_PARTS, replace(parts.get(SEARCH_PARTS), client_bypass=False))
    try:
        for headers in (BYPASS, {"Cache-Control": "no-cache"}):
            resp = await client.get(SEARCH, params=params, headers=headers)
            assert resp.headers["X-Cache"] == "hit", headers
    finally:
        parts.swap(SEARCH_PARTS, search)


def test_production_turns_client_bypass_off_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SICHRPLACE_APP_ENVIRONMENT", "production")
    monkeypatch.delenv("SICHRPLACE_CACHE_CLIENT_BYPASS", raising=False)
    assert not Settings().cache.client_bypass
    monkeypatch.setenv("SICHRPLACE_CACHE_CLIENT_BYPASS", "true")
    assert Settings().cache.client_bypass
    monkeypatch.setenv("SICHRPLACE_APP_ENVIRONMENT", "development")
    monkeypatch.delenv("SICHRPLACE_CACHE_CLIENT_BYPASS")
    assert Settings().cache.client_bypass


async def test_equal_filters_share_one_cache_entry(
    client: httpx.AsyncClient, insert_flats: Insert, city: str
) -> None:
    await insert_flats(random_flats(city, 4, seed=5))

    first = await client.get(SEARCH, params={"city": city, "amenities": "garden,balcony"})
    same = await _until_hit(
        client, SEARCH, {"city": f"  {city.upper()} ", "amenities": "balcony,garden"}
    )

    assert first.headers["X-Cache"] == "miss"
    assert same.json() == first.json()


BAD: list[tuple[dict[str, Any], str]] = [
    ({"min_rent": 90_000, "max_rent": 50_000}, "min_rent"),
    ({"min_rooms": 4, "max_rooms": 2}, "min_rooms"),
    ({"min_rent": -1}, "min_rent"),
    ({"min_rent": "viel"}, "min_rent"),
    ({"rent_type": "lukewarm"}, "rent_type"),
    ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "10,50,9,51"}, "bbox"),
    ({"bbox": "10,51,11,50"}, "bbox"),
    ({"bbox": "a,b,c,d"}, "bbox"),
    ({"bbox": "-200,50,10,51"}, "bbox"),
    ({"bbox": "9,50,10,51", "lat": 50.5, "lng": 9.5, "radius_km": 2}, "bbox"),
    ({"radius_km": 5}, "radius_km"),
    ({"lat": 52.5, "radius_km": 5}, "lng"),
    ({"lng": 13.4}, "lat"),
    ({"lat": 91, "lng": 13.4}, "lat"),
    ({"lat": 52.5, "lng": 13.4, "radius_km": 0}, "radius_km"),
    ({"lat": 52.5, "lng": 13.4, "radius_km": 1000}, "radius_km"),
    ({"amenities": "balcony,pool"}, "amenities"),
    ({"sort": "distance"}, "sort"),
    ({"sort": "relevance"}, "sort"),
    ({"sort": "cheapest"}, "sort"),
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"postal_code": "1234"}, "postal_code"),
    ({"postal_code": "12a45"}, "postal_code"),
    ({"available_from": "tomorrow"}, "available_from"),
    ({"furnished": "perhaps"}, "furnished"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "x" * 600}, "cursor"),
]


@pytest.mark.parametrize(("params", "field"), BAD, ids=lambda v: str(v))
async def test_invalid_input_is_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    path = SEARCH if "sort" in params or "limit" in params or "cursor" in params else FACETS
    for target in {path, SEARCH}:
        resp = await client.get(target, params=params)

        assert resp.status_code == 422, (target, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in resp.json()["errors"]], resp.json()


async def test_tampered_cursor_is_422(
    client: httpx.AsyncClient, insert_flats: Insert, city: str
) -> None:
    await insert_flats(random_flats(city, 10, seed=6))
    first = await client.get(SEARCH, params={"city": city, "limit": 2}, headers=BYPASS)
    cursor = first.json()["next_cursor"]
    flipped = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]

    for bad in (flipped, cursor[:-4], cursor + "AAAA"):
        resp = await client.get(SEARCH, params={"city": city, "limit": 2, "cursor": bad})
        assert resp.status_code == 422, bad
        assert resp.json()["errors"][0]["field"] == "cursor"
