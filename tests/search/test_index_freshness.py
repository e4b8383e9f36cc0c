"""The in-process index (search/index/) stays as fresh as the replica: every change shows in
the next count, whenever its transaction commits and whatever the clocks say; a reload keeps
answering from the old snapshot until the new one (with the words in use) is ready; what it
cannot vouch for goes to Postgres."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
import uuid
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import text

from sichrplace.app import parts_of_app
from sichrplace.config import FacetIndexSettings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search.backends.index import IndexBackend
from sichrplace.search.backends.postgres import PostgresBackend
from sichrplace.search.index import keeper
from sichrplace.search.index.errors import Unsupported
from sichrplace.search.index.keeper import FacetIndex
from sichrplace.search.index.words import plain_lexemes
from sichrplace.search.params import filter_params, search_params, to_filters, to_query
from sichrplace.search.parts import SEARCH as SEARCH_PARTS
from sichrplace.search.repository import index_feed, pages
from sichrplace.search.repository.where import EARTH_RADIUS_M
from tests.search.conftest import (
    BYPASS,
    FACETS,
    Insert,
    Landlord,
    random_flats,
    wait_for_replica,
    wait_until_loaded,
)
from tests.search.test_index_differential import _index_rows, _postgres_rows, worded

API = "/api/v1"


async def test_full_text_needs_a_plain_and_of_lexemes(
    own_index: FacetIndex, db: Database, insert_flats: Insert, city: str
) -> None:
    await insert_flats(worded(random_flats(city, 40, seed=5), 5))
    filters = to_filters(filter_params({"city": city, "q": '"hell ruhig"'}))
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


async def _count_each_look(index: FacetIndex, db: Database, city: str) -> int:
    """The city's count as the index sees it (each call looks for changes first)."""
    return int((await _index_rows(index, ReplicaSession(db), {"city": city}))["total"])


async def test_a_transaction_that_commits_long_after_it_wrote_is_not_missed(
    own_index: FacetIndex, db: Database, insert_flats: Insert, city: str
) -> None:
    """A listing written by a transaction that stays open while the index looks again and
    again (here as if it had been open for an hour: its stamp says so) shows in the first
    count after it commits. Looks by clock with an overlap missed it once the overlap had
    passed; looks by transaction id cannot."""
    flats = random_flats(city, 5, seed=14)
    for flat in flats:
        flat.status = "active"
    await insert_flats(flats)
    assert await _count_each_look(own_index, db, city) == 5
    async with db.sessionmaker() as session:
        await session.execute(
            text("UPDATE listings SET status = 'rented' WHERE id = :id"), {"id": flats[0].id}
        )
        # The hour it took, as its stamp shows it: an update of no column search reads does
        # not restamp, so changed_at keeps this value.
        await session.execute(
            text("UPDATE listings SET changed_at = changed_at - interval '1 hour' WHERE id = :id"),
            {"id": flats[0].id},
        )
        for _ in range(5):  # the index looks meanwhile; the change is not committed yet
            assert await _count_each_look(own_index, db, city) == 5
            await asyncio.sleep(0.05)
        await session.commit()
    await wait_for_replica(db)
    assert await _count_each_look(own_index, db, city) == 4


async def test_a_primary_clock_behind_the_replica_loses_no_change(
    own_index: FacetIndex, db: Database, insert_flats: Insert, city: str
) -> None:
    """A change whose stamp is an hour behind the replica's clock (the primary's clock is
    slow) still reaches the index: nothing in the look compares clocks."""
    flats = random_flats(city, 6, seed=15)
    for flat in flats:
        flat.status = "active"
    await insert_flats(flats)
    assert await _count_each_look(own_index, db, city) == 6
    async with transaction(db) as session:
        await session.execute(
            text("UPDATE listings SET status = 'archived' WHERE id = :id"), {"id": flats[1].id}
        )
        await session.execute(
            text("UPDATE listings SET changed_at = changed_at - interval '1 hour' WHERE id = :id"),
            {"id": flats[1].id},
        )
    await wait_for_replica(db)
    assert await _count_each_look(own_index, db, city) == 5


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


def _counts(source: str) -> float:
    return REGISTRY.get_sample_value("sichrplace_facet_counts_total", {"source": source}) or 0.0


async def test_a_bulk_import_reloads_while_the_old_snapshot_answers(
    db: Database, insert_flats: Insert, city: str
) -> None:
    """More changes than max_changes: the index reloads, and until the new snapshot is in
    place the old one keeps counting (with the changes), so nothing falls back to Postgres;
    the new one arrives with the postings of the words in use, so no count waits for them."""
    settings = FacetIndexSettings(
        min_word_share=0.0,
        max_changes=500,
        reload_after_changes_spread=0,
        max_staleness_seconds=0,
        postings_wait_seconds=0,  # a count that would wait for postings fails instead
    )
    index = FacetIndex(db, settings)
    index.start()
    try:
        await wait_until_loaded(index)
        session = ReplicaSession(db)
        flats = worded(random_flats(city, 1200, seed=3), 3)
        await insert_flats(flats[:20])
        word = {"city": city, "q": "Balkon"}
        await _index_rows(index, session, word)  # its postings are loaded now
        generation = index.generation
        await insert_flats(flats[20:])  # more than max_changes since the load
        for params in ({"city": city}, word):
            got = await _index_rows(index, session, params)  # the old snapshot, caught up
            assert got == await _postgres_rows(session, params)
        assert index.reloading or index.generation > generation
        deadline = time.monotonic() + 60
        while index.generation == generation:
            assert time.monotonic() < deadline, "no reload"
            filters = to_filters(filter_params(word))
            await index.count(session, filters)  # never Unsupported meanwhile
            await asyncio.sleep(0.05)
        assert "balkon" in index.words_loaded  # loaded for the new snapshot before it answered
        got = await index.count(session, to_filters(filter_params(word)))  # no wait
        assert len(got) > 0
    finally:
        await index.aclose()


def test_reloads_are_spread_over_the_processes(db: Database) -> None:
    settings = FacetIndexSettings(reload_seconds=3600, reload_spread=0.2)
    times = [FacetIndex(db, settings).reload_after() for _ in range(200)]
    assert all(2880 <= t <= 4320 for t in times)
    assert max(times) - min(times) > 600  # not all at once


def test_a_full_load_reads_in_chunks_sized_by_the_table() -> None:
    assert len(index_feed.chunk_bounds(10)) == 1
    bounds = index_feed.chunk_bounds(1_000_000)
    assert len(bounds) == 4
    assert bounds[0][0] is None  # the whole id space
    assert bounds[-1][1] is None
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert index_feed.load_timeout_ms(1_000_000) > index_feed.load_timeout_ms(1000)


async def test_a_load_in_many_chunks_counts_what_postgres_counts(
    db: Database, insert_flats: Insert, city: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await insert_flats(random_flats(city, 200, seed=17))
    monkeypatch.setattr(index_feed, "LISTINGS_PER_CHUNK", 500)  # many chunks
    index = FacetIndex(db, FacetIndexSettings(max_staleness_seconds=0))
    index.start()
    try:
        await wait_until_loaded(index)
        session = ReplicaSession(db)
        assert await _index_rows(index, session, {"city": city}) == await _postgres_rows(
            session, {"city": city}
        )
        assert await _index_rows(index, session, {}) == await _postgres_rows(session, {})
    finally:
        await index.aclose()


async def test_a_failed_look_sends_the_request_to_postgres(
    own_index: FacetIndex, db: Database, insert_flats: Insert, city: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    await insert_flats(random_flats(city, 20, seed=18))
    backend = IndexBackend(own_index, PostgresBackend(None, None))
    filters = to_filters(filter_params({"city": city}))
    session = ReplicaSession(db)

    async def broken(*_: Any) -> Any:
        raise OSError("replica gone mid-look")

    monkeypatch.setattr(index_feed, "fetch_changed", broken)
    index_before, postgres_before = _counts("index"), _counts("postgres")
    rows = await backend.count(session, filters)
    assert (_counts("index") - index_before, _counts("postgres") - postgres_before) == (0, 1)
    assert sorted(rows) == sorted(await PostgresBackend(None, None).count(session, filters))


async def test_a_listing_archived_after_the_load_never_appears_in_an_index_page(
    own_index: FacetIndex,
    db: Database,
    insert_flats: Insert,
    city: str,
    landlord: Landlord,
    client: httpx.AsyncClient,
) -> None:
    flats = random_flats(city, 12, seed=19)
    for flat in flats:
        flat.status = "active"
    await insert_flats(flats)
    backend = IndexBackend(own_index, PostgresBackend(None, None))
    session = ReplicaSession(db)
    query = to_query(search_params({"city": city, "limit": 50}))
    before = REGISTRY.get_sample_value("sichrplace_search_pages_total", {"source": "index"}) or 0
    assert len((await backend.page(session, query, None)).items) == 12
    archived = flats[4]
    resp = await client.delete(f"{API}/listings/{archived.id}", headers=landlord.headers)
    assert resp.status_code == 204, resp.text
    await wait_for_replica(db)
    page = await backend.page(session, query, None)
    assert page.source == "index"
    assert str(archived.id) not in {item.id for item in page.items}
    assert len(page.items) == 11
    after = REGISTRY.get_sample_value("sichrplace_search_pages_total", {"source": "index"}) or 0
    assert after - before == 2


async def test_the_api_counts_with_the_index_and_postgres_takes_the_rest(
    app: FastAPI, client: httpx.AsyncClient, insert_flats: Insert, city: str
) -> None:
    index = parts_of_app(app).get(SEARCH_PARTS).facet_index
    assert index is not None
    await wait_until_loaded(index)
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
        # Loaded with the snapshot, before it answered.
        assert word in second.words_loaded
    finally:
        await second.aclose()
        await redis.delete(key)


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
    query = to_query(search_params({"city": city, "limit": 5}))
    _, found = await own_index.page(session, query, None)
    assert len(found) == 6
    ids, stamps = b"".join(hit.id for hit in found), [hit.stamp for hit in found]

    rows = await pages.fetch_named_rows(session, query.filters, ids, stamps)
    assert rows is not None
    assert [i.id for i in rows.items] == [str(uuid.UUID(bytes=hit.id)) for hit in found]

    stale = [stamps[0] - 1, *stamps[1:]]
    assert await pages.fetch_named_rows(session, query.filters, ids, stale) is None


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
    filters = to_filters(filter_params(on_circle))
    with pytest.raises(Unsupported, match="radius boundary"):
        await own_index.count(ReplicaSession(db), filters)
    wider = {**on_circle, "radius_km": 2.01}
    got = await _index_rows(own_index, ReplicaSession(db), wider)
    assert got == await _postgres_rows(ReplicaSession(db), wider)


async def test_a_failed_reload_is_tried_again_until_the_index_answers(
    db: Database, insert_flats: Insert, city: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past max_changes_while_reloading the index stops answering until a new snapshot is in
    place; when that load fails (a statement timeout while a bulk import keeps the replica
    busy), it is tried again a little later rather than at the next hourly reload."""
    settings = FacetIndexSettings(
        max_changes=50,
        max_changes_while_reloading=100,
        reload_after_changes_spread=0,
        max_staleness_seconds=0,
    )
    monkeypatch.setattr(keeper, "RETRY_LOAD_SECONDS", 0.2)
    index = FacetIndex(db, settings)
    index.start()
    try:
        await wait_until_loaded(index)
        session = ReplicaSession(db)
        filters = to_filters(filter_params({"city": city}))
        real = index_feed.fetch_load_chunk
        failures = [1]

        async def flaky(*args: Any) -> Any:
            if failures:
                failures.pop()
                raise TimeoutError("canceling statement due to statement timeout")
            return await real(*args)

        monkeypatch.setattr(index_feed, "fetch_load_chunk", flaky)
        generation = index.generation
        await insert_flats(random_flats(city, 300, seed=20))  # more than the index follows
        with pytest.raises(Unsupported, match="reloading"):
            await index.count(session, filters)
        deadline = time.monotonic() + 60
        while index.generation == generation:
            assert time.monotonic() < deadline, "the index was not loaded again"
            with contextlib.suppress(Unsupported):
                await index.count(session, filters)
            await asyncio.sleep(0.1)
        assert not failures  # the first load failed, a later one succeeded
        got = await index.count(session, filters)
        assert sorted(got) == sorted(await PostgresBackend(None, None).count(session, filters))
    finally:
        await index.aclose()
