"""The facet index (search/facet_index.py): the same counts as Postgres, for every filter it
takes, full text included; every change visible in the next count; bulk imports reload it;
what it does not count goes to Postgres."""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import text

from sichrplace.app import parts_of_app
from sichrplace.config import FacetIndexSettings
from sichrplace.listings.vocabulary import AMENITIES
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search import repository, service
from sichrplace.search.facet_index import FacetIndex, Unsupported, plain_lexemes
from sichrplace.search.params import FilterParams, SearchParams, to_filters, to_query
from sichrplace.search.parts import SEARCH as SEARCH_PARTS
from sichrplace.search.repository import EARTH_RADIUS_M
from sichrplace.search.schemas import SearchQuery
from tests.search.conftest import (
    BYPASS,
    FACETS,
    Flat,
    Insert,
    Landlord,
    random_flats,
    wait_for_replica,
    wait_until_loaded,
)

API = "/api/v1"
WORDS = ("Balkon", "Altbau", "hell", "ruhig", "Garten", "Dachterrasse", "Stuck")


@pytest.fixture
async def own_index(db: Database) -> AsyncIterator[FacetIndex]:
    """An index of its own that counts every word (the app's counts only common ones) and
    looks for changes after each count begins."""
    settings = FacetIndexSettings(min_word_share=0.0, max_changes=1000, max_staleness_seconds=0)
    index = FacetIndex(db, settings)
    index.start()
    await wait_until_loaded(index)
    yield index
    await index.aclose()


def _worded(flats: list[Flat], seed: int) -> list[Flat]:
    rng = random.Random(seed)
    for flat in flats:
        flat.description = " ".join(rng.sample(WORDS, rng.randint(0, 3))) + " Wohnung."
    return flats


def _random_params(rng: random.Random, city: str) -> dict[str, Any]:
    p: dict[str, Any] = {"city": city}
    if rng.random() < 0.2:
        p["postal_code"] = rng.choice(("10115", "10117", "20095"))
    if rng.random() < 0.4:
        p["max_rent"] = rng.choice((60_000, 79_999, 80_000, 120_000, 180_000))
    if rng.random() < 0.3:
        p["min_rent"] = rng.choice((48_000, 50_000, 62_000))
    if rng.random() < 0.3:
        p["rent_type"] = "cold"
    if rng.random() < 0.3:
        p["min_rooms"] = rng.choice(("1.5", "2", "2.3", "3"))
    if rng.random() < 0.2:
        p["max_rooms"] = rng.choice(("2", "2.5", "4", "3.7"))
    if rng.random() < 0.2:
        p["min_size"] = rng.choice(("45", "62.25", "62.26", "80"))
    if rng.random() < 0.2:
        p["furnished"] = rng.choice(("true", "false"))
    if rng.random() < 0.2:
        p["pets_allowed"] = rng.choice(("true", "false"))
    if rng.random() < 0.2:
        p["available_from"] = (date.today() + timedelta(days=rng.randint(-30, 60))).isoformat()
    if rng.random() < 0.3:
        p["amenities"] = ",".join(rng.sample(AMENITIES, rng.randint(1, 2)))
    if rng.random() < 0.2:
        lat, lng = 50.0 + rng.uniform(-0.05, 0.05), 8.0 + rng.uniform(-0.05, 0.05)
        p["bbox"] = f"{lng - 0.04:.5f},{lat - 0.03:.5f},{lng + 0.04:.5f},{lat + 0.03:.5f}"
    if "bbox" not in p and rng.random() < 0.3:  # circles that cut through the flats
        p["lat"], p["lng"] = 50.0 + rng.uniform(-0.03, 0.03), 8.0 + rng.uniform(-0.04, 0.04)
        p["radius_km"] = rng.choice((1, 2.5, 4, 7))
    if rng.random() < 0.4:
        p["q"] = rng.choice((*WORDS, "Balkon hell", "ruhig Garten", "Balkone"))
    if p.get("min_rent", 0) > p.get("max_rent", 10**9):
        del p["min_rent"]
    if float(p.get("min_rooms", 0)) > float(p.get("max_rooms", 99)):
        del p["min_rooms"]
    return p


async def _index_rows(index: FacetIndex, session: ReplicaSession, params: dict[str, Any]) -> Any:
    filters = to_filters(FilterParams.model_validate(params))
    reason = ""
    for _ in range(200):  # the first query of a word starts loading its postings
        try:
            return service.assemble_facets(filters, await index.count(session, filters))
        except Unsupported as exc:
            reason = str(exc)
        assert reason == "postings loading", reason
        await asyncio.sleep(0.05)
    raise AssertionError("postings did not load")


async def _postgres_rows(session: ReplicaSession, params: dict[str, Any]) -> Any:
    filters = to_filters(FilterParams.model_validate(params))
    rows = await repository.fetch_facets(session, repository.facets_statement(filters))
    return service.assemble_facets(filters, rows)


async def test_the_index_counts_what_postgres_counts(
    own_index: FacetIndex, db: Database, insert_flats: Insert, city: str
) -> None:
    seed = random.randint(0, 99_999)
    await insert_flats(_worded(random_flats(city, 300, seed=seed), seed))
    session = ReplicaSession(db)
    rng = random.Random(seed)
    compared = 0
    for _ in range(150):
        params = _random_params(rng, city)
        want = await _postgres_rows(session, params)
        got = await _index_rows(own_index, session, params)
        assert got == want, (seed, params)
        compared += want["total"] > 0
    assert compared > 50  # most filter sets matched something


async def test_full_text_needs_a_plain_and_of_lexemes(
    own_index: FacetIndex, db: Database, insert_flats: Insert, city: str
) -> None:
    await insert_flats(_worded(random_flats(city, 40, seed=5), 5))
    filters = to_filters(FilterParams.model_validate({"city": city, "q": '"hell ruhig"'}))
    with pytest.raises(Unsupported):
        await own_index.count(ReplicaSession(db), filters)
    assert plain_lexemes("'balkon' & 'hell'") == ("balkon", "hell")
    for tsquery in ("", "'dach' <-> 'terrass'", "'a' | 'b'", "!'a'", "'a' & !'b'", "'a':*"):
        assert plain_lexemes(tsquery) is None, tsquery


async def test_changes_show_in_the_next_count(
    own_index: FacetIndex,
    db: Database,
    insert_flats: Insert,
    city: str,
    landlord: Landlord,
    client: httpx.AsyncClient,
) -> None:
    flats = random_flats(city, 30, seed=11)
    neighbours = random_flats(f"{city} Nord", 7, seed=12)  # changes in another city
    for flat in (*flats, *neighbours):
        flat.status = "active"
        flat.amenities = []
    await insert_flats([*flats, *neighbours])
    session = ReplicaSession(db)
    params = {"city": city}
    before = await _index_rows(own_index, session, params)
    assert before["total"] == 30
    assert (await _index_rows(own_index, session, {"city": f"{city} Nord"}))["total"] == 7

    # Through the API (the trigger stamps the change): a rent, an amenity, an archive.
    first, second, third = flats[:3]
    resp = await client.patch(
        f"{API}/listings/{first.id}",
        json={"cold_rent_cents": 250_000, "deposit_cents": 250_000},
        headers=landlord.headers,
    )
    assert resp.status_code == 200, resp.text
    resp = await client.patch(
        f"{API}/listings/{second.id}", json={"amenities": ["garden"]}, headers=landlord.headers
    )
    assert resp.status_code == 200, resp.text
    resp = await client.delete(f"{API}/listings/{third.id}", headers=landlord.headers)
    assert resp.status_code in (200, 204), resp.text
    await wait_for_replica(db)

    after = await _index_rows(own_index, session, params)
    assert after == await _postgres_rows(session, params)
    assert after["total"] == 29
    garden = {a["value"]: a["count"] for a in after["amenity"]}["garden"]
    assert garden == 1
    top = {b["value"]: b["count"] for b in after["rent_bucket"]}["2000+"]
    assert top == 1 + sum(1 for f in (second, *flats[3:]) if f.warm >= 200_000)


async def test_a_count_may_use_a_look_begun_shortly_before_it(
    own_index: FacetIndex, db: Database, insert_flats: Insert, city: str
) -> None:
    """Within max_staleness_seconds of the last look, a count uses it without looking again
    (the bound, like a replica's lag, on what it may miss); later, or at 0, it looks."""
    now = [time.monotonic()]
    lenient = FacetIndex(
        db,
        FacetIndexSettings(min_word_share=0.0, look_interval_seconds=3600),
        clock=lambda: now[0],
    )
    lenient.start()
    try:
        await wait_until_loaded(lenient)
        session = ReplicaSession(db)
        params = {"city": city}
        before = await _index_rows(lenient, session, params)  # as fresh as its load, "now"
        await insert_flats(random_flats(city, 7, seed=5))
        now[0] += 0.2  # within the 0.25 s allowed: no look
        assert await _index_rows(lenient, session, params) == before
        current = await _postgres_rows(session, params)
        assert current != before
        assert await _index_rows(own_index, session, params) == current  # 0 s allowed
        now[0] += 0.1  # 0.3 s after that look: a new one
        assert await _index_rows(lenient, session, params) == current
    finally:
        await lenient.aclose()


async def test_a_bulk_import_reloads_the_index(
    own_index: FacetIndex, db: Database, insert_flats: Insert, city: str
) -> None:
    session = ReplicaSession(db)
    await _index_rows(own_index, session, {"city": city})  # looked once: nothing yet
    await insert_flats(random_flats(city, 1200, seed=3))  # more than max_changes (1000)

    with pytest.raises(Unsupported):
        await own_index.count(session, to_filters(FilterParams.model_validate({"city": city})))
    await wait_until_loaded(own_index)
    got = await _index_rows(own_index, session, {"city": city})
    assert got == await _postgres_rows(session, {"city": city})
    assert got["total"] > 900


async def test_the_api_counts_with_the_index_and_postgres_takes_the_rest(
    app: FastAPI, client: httpx.AsyncClient, insert_flats: Insert, city: str
) -> None:
    await wait_until_loaded(parts_of_app(app).get(SEARCH_PARTS).facet_index)
    await insert_flats(random_flats(city, 50, seed=21, center=(10.0, 20.0)))

    resp = await client.get(FACETS, params={"city": city}, headers=BYPASS)
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-DB-Target"] == "replica"  # where the index looked for changes
    assert await _counted_by_index(client, {"city": city})
    indexed = resp.json()

    radius = {"city": city, "lat": 10.0, "lng": 20.0, "radius_km": 100}
    assert await _counted_by_index(client, radius)
    resp = await client.get(FACETS, params=radius, headers=BYPASS)
    assert resp.status_code == 200, resp.text
    assert resp.json() == indexed  # every flat is within 100 km (spread: 8 km)

    phrase = {"city": city, "q": '"hell ruhig"'}  # a phrase: Postgres
    assert not await _counted_by_index(client, phrase)

    rare = {"city": city, "q": f"Wort{uuid.uuid4().hex[:8]}"}
    assert not await _counted_by_index(client, rare)
    resp = await client.get(FACETS, params=rare, headers=BYPASS)
    assert resp.json()["total"] == 0


def _counts(source: str) -> float:
    return REGISTRY.get_sample_value("sichrplace_facet_counts_total", {"source": source}) or 0.0


async def _counted_by_index(client: httpx.AsyncClient, params: dict[str, Any]) -> bool:
    """Whether a bypassed facets request for `params` was counted by the index."""
    index, postgres = _counts("index"), _counts("postgres")
    resp = await client.get(FACETS, params=params, headers=BYPASS)
    assert resp.status_code == 200, resp.text
    counted = (_counts("index") - index, _counts("postgres") - postgres)
    assert counted in ((1.0, 0.0), (0.0, 1.0)), counted
    return counted == (1.0, 0.0)


async def test_listings_deleted_outright_leave_the_counts(
    own_index: FacetIndex, db: Database, insert_flats: Insert, city: str
) -> None:
    flats = random_flats(city, 12, seed=8)
    for flat in flats:
        flat.status = "active"
    await insert_flats(flats)
    session = ReplicaSession(db)
    assert (await _index_rows(own_index, session, {"city": city}))["total"] == 12

    gone = [flats[0].id, flats[1].id]
    async with transaction(db) as primary:  # what an operator or a reseed does; not the API
        await primary.execute(text("DELETE FROM listings WHERE id = ANY(:ids)"), {"ids": gone})
    await wait_for_replica(db)

    got = await _index_rows(own_index, session, {"city": city})
    assert got["total"] == 10
    assert got == await _postgres_rows(session, {"city": city})


async def test_a_new_process_loads_the_words_in_use(
    db: Database, redis: aioredis.Redis, insert_flats: Insert, city: str
) -> None:
    word = f"wort{uuid.uuid4().hex[:8]}7"  # ends in a digit: its own lexeme
    flats = random_flats(city, 6, seed=9)
    for flat in flats:
        flat.description = f"{word} Wohnung"
    await insert_flats(flats)
    settings = FacetIndexSettings(min_word_share=0.0)
    key = f"test:facet-words:{uuid.uuid4().hex}"  # this test's processes only
    first = FacetIndex(db, settings, redis, words_key=key)
    first.start()
    try:
        await wait_until_loaded(first)
        await _index_rows(first, ReplicaSession(db), {"city": city, "q": word})
    finally:
        await first.aclose()
    assert await redis.zscore(key, word) is not None

    second = FacetIndex(db, settings, redis, words_key=key)
    second.start()
    try:
        await wait_until_loaded(second)
        deadline = time.monotonic() + 30
        while word not in second.words_loaded:
            assert time.monotonic() < deadline, "the word in use was not loaded"
            await asyncio.sleep(0.1)
    finally:
        await second.aclose()
        await redis.delete(key)


async def _walk(
    session: ReplicaSession, app: FastAPI, query: SearchQuery, index: FacetIndex | None
) -> list[Any]:
    """Every page of `query`, following next_cursor (the index may wait for postings)."""
    pages: list[Any] = []
    while True:
        cache = parts_of_app(app).cache
        body, _ = await service.search(session, cache, query, bypass=True, index=index)
        pages.append(json.loads(body))
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages
        query = replace(query, cursor=cursor)


@pytest.mark.parametrize("window", [repository.RELEVANCE_WINDOW, 10])
async def test_the_index_picks_the_pages_postgres_picks(
    own_index: FacetIndex,
    db: Database,
    app: FastAPI,
    insert_flats: Insert,
    city: str,
    window: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A window of 10: relevance walks cross the tier boundary the first page fixes.
    monkeypatch.setattr(repository, "RELEVANCE_WINDOW", window)
    seed = random.randint(0, 99_999)
    flats = _worded(random_flats(city, 150, seed=seed), seed)
    await insert_flats(flats)
    session = ReplicaSession(db)
    rng = random.Random(seed)
    before = REGISTRY.get_sample_value("sichrplace_search_pages_total", {"source": "index"}) or 0
    walked = 0
    for _ in range(40):
        params = _random_params(rng, city)
        # With q and no sort: relevance (the index finds the first page's window).
        sort = rng.choice(("newest", "rent_asc", "rent_desc", None))
        if sort is not None:
            params["sort"] = sort
        params["limit"] = rng.choice((3, 7, 20))
        query = to_query(SearchParams.model_validate(params))
        by_index = await _walk(session, app, query, own_index)
        assert by_index == await _walk(session, app, query, None), (seed, params)
        walked += len(by_index)
    after = REGISTRY.get_sample_value("sichrplace_search_pages_total", {"source": "index"}) or 0
    assert after - before >= walked * 0.6  # relevance: first pages only


async def test_a_page_read_after_a_change_is_not_served(
    own_index: FacetIndex, db: Database, insert_flats: Insert, city: str
) -> None:
    """The index names a page's listings with the versions it chose on; a listing changed
    since (another version) makes the read answer None, and Postgres picks the page."""
    flats = random_flats(city, 8, seed=12)
    for flat in flats:
        flat.status = "active"
    await insert_flats(flats)
    session = ReplicaSession(db)
    query = to_query(SearchParams.model_validate({"city": city, "limit": 5}))
    found = await own_index.page(session, query, None)
    assert len(found) == 6
    ids, stamps = b"".join(hit.id for hit in found), [hit.stamp for hit in found]

    statement = repository.page_rows_statement(query.filters, ids)
    items = await repository.fetch_page_rows(session, statement, ids, stamps)
    assert [i["id"] for i in items or ()] == [str(uuid.UUID(bytes=hit.id)) for hit in found]

    stale = [stamps[0] - 1, *stamps[1:]]
    assert await repository.fetch_page_rows(session, statement, ids, stale) is None


async def test_a_listing_on_the_circle_is_left_to_postgis(
    own_index: FacetIndex, db: Database, insert_flats: Insert, city: str
) -> None:
    """A listing within millimetres of a radius' circle: numpy's haversine and PostGIS's sphere
    may round it to different sides, so the index leaves that search to Postgres."""
    flats = random_flats(city, 3, seed=13)
    for flat in flats:
        flat.status = "active"
    flats[0].lat, flats[0].lng = 50.0 + math.degrees(2000.0 / EARTH_RADIUS_M), 8.0  # 2 km north
    await insert_flats(flats)
    on_circle = {"city": city, "lat": 50.0, "lng": 8.0, "radius_km": 2}
    filters = to_filters(FilterParams.model_validate(on_circle))
    with pytest.raises(Unsupported, match="radius boundary"):
        await own_index.count(ReplicaSession(db), filters)
    wider = {**on_circle, "radius_km": 2.01}
    got = await _index_rows(own_index, ReplicaSession(db), wider)
    assert got == await _postgres_rows(ReplicaSession(db), wider)
