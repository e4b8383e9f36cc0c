"""Popular listings: views are counted in Redis (no database write per view), flushed into
view_count by the periodic job's body exactly once, and ranked by GET /listings/popular by
their views of the last days in the analytics rollups (then by view_count)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy import select

from sichrplace.analytics.tasks import roll_up
from sichrplace.app import parts_of_app
from sichrplace.kit.clock import utcnow
from sichrplace.listings import page_views as views
from sichrplace.listings.parts import LISTINGS
from sichrplace.listings.repository import listings
from sichrplace.platform import analytics
from sichrplace.platform.db.engines import Database
from sichrplace.platform.parts import Parts
from tests.listings.conftest import API, MakeUser, listing_body, replica_caught_up


async def _views_in_redis(redis: aioredis.Redis, listing_id: str) -> int:
    total = 0
    for bucket in await redis.smembers(views.BUCKETS_SET):
        name = bucket.decode() if isinstance(bucket, bytes) else bucket
        value = await redis.hget(views.BUCKET_PREFIX + name, listing_id)
        total += int(value or 0)
    return total


async def _view_count(db: Database, listing_id: str) -> int:
    async with db.primary.connect() as conn:
        stmt = select(listings.c.view_count).where(listings.c.id == uuid.UUID(listing_id))
        return int((await conn.execute(stmt)).scalar_one())


async def _flush(
    db: Database, redis: aioredis.Redis, app: FastAPI, **paced: float
) -> views.FlushReport:
    page_views = parts_of_app(app).get(LISTINGS).views
    assert page_views is not None
    await page_views.flush()  # what the API process buffered so far goes to Redis
    # As the job would run two minutes from now: every bucket written so far is closed.
    report = await views.flush_views(
        db,
        redis,
        parts_of_app(app).cache,
        now=utcnow() + timedelta(minutes=2),
        batch_size=int(paced.pop("batch_size", 2)),
        **paced,
    )
    # The ranking reads the analytics rollups: the views recorded, then today rolled up.
    recorded = analytics.current()
    assert recorded is not None
    await recorded.flush()
    today = utcnow().date()
    await roll_up(db, parts_of_app(app).cache, today, today)
    await replica_caught_up(db)  # GET /listings/popular reads the replica
    return report


@pytest.fixture
async def held_views(parts: Parts, redis: aioredis.Redis) -> AsyncIterator[views.PageViewBuffer]:
    """A view buffer that sends only when told: the app's own sends every second, which raced
    the check that nothing has reached Redis yet (a fresh-clone CI run lost that race)."""
    held = views.PageViewBuffer(redis, interval=3600)
    original = parts.swap(LISTINGS, replace(parts.get(LISTINGS), views=held))
    try:
        yield held
    finally:
        parts.swap(LISTINGS, original)
        await held.aclose()


async def test_views_counted_in_redis_then_flushed_and_ranked(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db: Database,
    redis: aioredis.Redis,
    app: FastAPI,
    unique: str,
    held_views: views.PageViewBuffer,
) -> None:
    owner, visitor = await make_user("landlord"), await make_user("tenant")
    city = f"Aussichtsstadt {unique}"
    made: list[dict[str, Any]] = []
    for title in ("Wenig gesehen", "Sehr beliebt", "Mittelmaß"):
        r = await client.post(
            f"{API}/listings", json=listing_body(title=title, city=city), headers=owner.headers
        )
        assert r.status_code == 201
        made.append(r.json())
    low, top, mid = made
    wanted = {low["id"]: 1, top["id"]: 5, mid["id"]: 3}
    for listing_id, n in wanted.items():
        for i in range(n):
            headers = visitor.headers if i % 2 else {}
            assert (
                await client.get(f"{API}/listings/{listing_id}", headers=headers)
            ).status_code == 200
    # The owner looking at their own listing is not a view.
    await client.get(f"{API}/listings/{top['id']}", headers=owner.headers)

    for listing_id in wanted:
        # Buffered in the API process: no Redis call, let alone a database write, per view.
        assert await _views_in_redis(redis, listing_id) == 0
    assert held_views.pending == 9
    await held_views.flush()
    for listing_id, n in wanted.items():
        assert await _views_in_redis(redis, listing_id) == n
        assert await _view_count(db, listing_id) == 0  # nothing written per page view

    report = await _flush(db, redis, app)
    assert report.views >= 9
    for listing_id, n in wanted.items():
        assert await _view_count(db, listing_id) == n
        assert await _views_in_redis(redis, listing_id) == 0

    r = await client.get(f"{API}/listings/popular", params={"city": city.upper(), "limit": 3})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["id"] for i in items] == [top["id"], mid["id"], low["id"]]
    assert [i["view_count"] for i in items] == [5, 3, 1]
    two = await client.get(f"{API}/listings/popular", params={"city": city, "limit": 2})
    assert [i["id"] for i in two.json()["items"]] == [top["id"], mid["id"]]


async def test_flush_applies_a_batch_exactly_once(
    make_user: MakeUser,
    client: httpx.AsyncClient,
    db: Database,
    redis: aioredis.Redis,
    app: FastAPI,
) -> None:
    owner = await make_user("landlord")
    r = await client.post(f"{API}/listings", json=listing_body(), headers=owner.headers)
    listing_id = r.json()["id"]
    for _ in range(4):
        await client.get(f"{API}/listings/{listing_id}")
    first = await _flush(db, redis, app)
    assert await _view_count(db, listing_id) == 4
    # As if that flusher had crashed after its commit, before removing its batches from Redis.
    mine = []
    for batch in first.batches:
        await redis.hset(views.BATCH_PREFIX + batch, listing_id, 4)
        await redis.sadd(views.BATCHES_SET, batch)
        mine.append(batch)
    # And a view that arrives late for a minute that was already flushed still counts.
    await client.get(f"{API}/listings/{listing_id}")
    second = await _flush(db, redis, app)
    assert set(second.skipped) >= set(mine)
    assert await _view_count(db, listing_id) == 5  # the old batch is not counted twice


async def test_flush_applies_a_batch_in_paced_chunks_each_exactly_once(
    make_user: MakeUser,
    client: httpx.AsyncClient,
    db: Database,
    redis: aioredis.Redis,
    app: FastAPI,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner = await make_user("landlord")
    made = []
    for _ in range(3):
        r = await client.post(f"{API}/listings", json=listing_body(), headers=owner.headers)
        made.append(r.json()["id"])
    # A sealed batch of three listings, as the seal leaves it in Redis.
    batch = f"209901010000:{unique}"
    await redis.hset(views.BATCH_PREFIX + batch, mapping=dict.fromkeys(made, 2))
    await redis.sadd(views.BATCHES_SET, batch)
    pauses: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(views.asyncio, "sleep", sleep)
    report = await _flush(db, redis, app, batch_size=1, pause_ratio=2.0)

    assert batch in report.batches
    for listing_id in made:
        assert await _view_count(db, listing_id) == 2
    # A chunk (one listing) per statement and transaction, a pause after each but the last,
    # twice as long as its chunk took: more than nothing, a fraction of a second.
    assert len(pauses) >= 2
    assert all(p > 0 for p in pauses)
    assert sorted(pauses)[len(pauses) // 2] < 1.0

    # As if the flusher had died before removing the batch from Redis: every chunk of it is
    # claimed already, so taking it over again adds nothing.
    await redis.hset(views.BATCH_PREFIX + batch, mapping=dict.fromkeys(made, 2))
    await redis.sadd(views.BATCHES_SET, batch)
    again = await _flush(db, redis, app, batch_size=1)
    assert batch in again.skipped
    for listing_id in made:
        assert await _view_count(db, listing_id) == 2


async def test_popular_is_not_taken_for_an_id_and_hides_inactive(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db: Database,
    redis: aioredis.Redis,
    app: FastAPI,
    unique: str,
) -> None:
    owner = await make_user("landlord")
    city = f"Leerstadt {unique}"
    r = await client.get(f"{API}/listings/popular", params={"city": city})
    assert r.status_code == 200
    assert r.json() == {"items": []}
    created = await client.post(
        f"{API}/listings", json=listing_body(city=city), headers=owner.headers
    )
    listing_id = created.json()["id"]
    await client.get(f"{API}/listings/{listing_id}")
    await _flush(db, redis, app)
    listed = await client.get(f"{API}/listings/popular", params={"city": city})
    assert [i["id"] for i in listed.json()["items"]] == [listing_id]
    await client.patch(
        f"{API}/listings/{listing_id}", json={"status": "rented"}, headers=owner.headers
    )
    await replica_caught_up(db)
    after = await client.get(f"{API}/listings/popular", params={"city": city})
    assert after.json() == {"items": []}  # the status change bumped the popular cache
    assert (await client.get(f"{API}/listings/popular", params={"limit": 51})).status_code == 422


async def test_view_buffer_sends_views_by_itself_and_on_close(redis: aioredis.Redis) -> None:
    listing_id, other = uuid.uuid4(), uuid.uuid4()
    buffer = views.PageViewBuffer(redis, interval=0.2)
    buffer.start()
    for _ in range(3):
        buffer.add(listing_id)
    assert buffer.pending == 3
    for _ in range(50):  # the buffer's own task sends them within its interval
        if await _views_in_redis(redis, str(listing_id)) == 3:
            break
        await asyncio.sleep(0.05)
    assert await _views_in_redis(redis, str(listing_id)) == 3
    assert buffer.pending == 0
    buffer.add(other)
    await buffer.aclose()  # shutdown sends what is left
    assert await _views_in_redis(redis, str(other)) == 1


async def test_record_views_adds_every_count_per_minute_in_chunks(redis: aioredis.Redis) -> None:
    """More listings than one script call carries, in two minutes (one far in the future, so
    no flush seals it meanwhile): every count lands in its minute's hash exactly once."""
    minutes = ("209901010000", "209901010001")
    ids = [str(uuid.uuid4()) for _ in range(views._RECORD_CHUNK + 500)]
    counts = {(minutes[0], listing_id): 1 + i % 3 for i, listing_id in enumerate(ids)}
    counts[(minutes[1], ids[0])] = 7
    try:
        await views.record_views(redis, counts)
        await views.record_views(redis, {(minutes[0], ids[1]): 1})
        stored = await redis.hgetall(views.BUCKET_PREFIX + minutes[0])
        assert len(stored) == len(ids)
        expected = {i: 1 + n % 3 for n, i in enumerate(ids)}
        expected[ids[1]] += 1
        assert {k.decode(): int(v) for k, v in stored.items()} == expected
        assert await redis.hget(views.BUCKET_PREFIX + minutes[1], ids[0]) == b"7"
        assert 0 < await redis.ttl(views.BUCKET_PREFIX + minutes[0]) <= views.BUCKET_TTL_SECONDS
        assert {m.encode() for m in minutes} <= await redis.smembers(views.BUCKETS_SET)
    finally:
        await redis.delete(*(views.BUCKET_PREFIX + m for m in minutes))
        await redis.srem(views.BUCKETS_SET, *minutes)


async def test_view_buffer_flushes_early_when_full(redis: aioredis.Redis) -> None:
    buffer = views.PageViewBuffer(redis, interval=60, max_pending=5)
    buffer.start()
    ids = [uuid.uuid4() for _ in range(5)]
    try:
        for listing_id in ids:
            buffer.add(listing_id)
        for _ in range(50):
            if buffer.pending == 0:
                break
            await asyncio.sleep(0.02)
        assert buffer.pending == 0  # long before the 60 s tick
        assert [await _views_in_redis(redis, str(i)) for i in ids] == [1] * 5
    finally:
        await buffer.aclose()


async def test_view_buffer_loses_views_not_pages_when_redis_is_down() -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.1)
    buffer = views.PageViewBuffer(dead, interval=60)
    buffer.add(uuid.uuid4())
    assert await buffer.flush() == 1  # logged and dropped, nothing raised
    assert buffer.pending == 0
    await dead.aclose()
