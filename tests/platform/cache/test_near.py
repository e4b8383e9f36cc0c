"""The near tier against the real Redis: repeat reads skip Redis, every change announced by any
process drops the copies, a read that raced a change is not kept, and a lost subscription
empties the tier until it is confirmed again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from sichrplace.config import Settings
from sichrplace.platform.cache import Cache
from sichrplace.platform.cache.near import NearCache

StartCache = Callable[..., Awaitable[Cache]]


@pytest.fixture
def prefix(unique: str) -> str:
    return f"test-near:{unique}:"


@pytest.fixture
async def start_cache(
    redis: aioredis.Redis, settings: Settings, prefix: str
) -> AsyncIterator[StartCache]:
    """A Cache as an API process has it: listening for changes, its near tier live."""
    started: list[Cache] = []

    async def start(**overrides: Any) -> Cache:
        cache = Cache(redis, settings.cache.model_copy(update=overrides), prefix=prefix)
        cache.start()
        started.append(cache)
        if cache.settings.near_max_age_seconds > 0:
            assert await cache.near.wait_live(5)
        return cache

    yield start
    for cache in started:
        await cache.aclose()


@pytest.fixture
def worker_cache(redis: aioredis.Redis, settings: Settings, prefix: str) -> Cache:
    """A Cache as a job worker has it: it announces its changes but does not listen."""
    return Cache(
        redis, settings.cache.model_copy(update={"reinvalidate_after_seconds": 0}), prefix=prefix
    )


class Source:
    """The database behind the cache: counts how often it is read."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.reads = 0

    async def __call__(self) -> Any:
        self.reads += 1
        return self.value


def _near_hits(domain: str) -> float:
    value = REGISTRY.get_sample_value("sichrplace_cache_near_hits_total", {"domain": domain})
    return value or 0.0


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 1.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {within} s")


async def test_repeat_reads_are_served_without_redis(
    start_cache: StartCache, worker_cache: Cache, redis: aioredis.Redis, prefix: str
) -> None:
    cache = await start_cache()
    source = Source({"title": "Altbau"})
    assert await cache.get_or_compute("listing", "a", source) == {"title": "Altbau"}
    # Redis loses the value behind everyone's back: the near copy still answers...
    await redis.delete(f"{prefix}listing:0:a")
    hits = _near_hits("listing")
    assert await cache.get_or_compute("listing", "a", source) == {"title": "Altbau"}
    assert source.reads == 1
    assert _near_hits("listing") == hits + 1
    # ...while a process without the near tier has to go to the database.
    assert await worker_cache.get_or_compute("listing", "a", source) == {"title": "Altbau"}
    assert source.reads == 2


async def test_a_change_made_by_another_process_drops_the_copy(
    start_cache: StartCache, worker_cache: Cache
) -> None:
    api = await start_cache()
    source = Source({"rent": 900})
    await api.get_or_compute("listing", "b", source)
    await api.get_or_compute("search", "berlin", source)
    source.value = {"rent": 850}
    await worker_cache.invalidate("listing", "b")
    await worker_cache.bump("search")

    async def fresh() -> bool:
        listing = await api.get_or_compute("listing", "b", source)
        page = await api.get_or_compute("search", "berlin", source)
        return bool(listing == page == {"rent": 850})

    assert await _eventually(fresh) < 1.0


async def test_a_refresh_by_another_process_replaces_the_copy(
    start_cache: StartCache, worker_cache: Cache
) -> None:
    api = await start_cache()
    await api.get_or_compute("listing", "c", Source({"v": "before the write"}))
    await worker_cache.refresh("listing", "c", Source({"v": "committed"}))

    async def refreshed() -> bool:
        return bool(await api.get_or_compute("listing", "c", Source("db")) == {"v": "committed"})

    assert await _eventually(refreshed) < 1.0


async def test_the_process_that_made_the_change_never_serves_its_old_copy(
    start_cache: StartCache,
) -> None:
    api = await start_cache(reinvalidate_after_seconds=0)
    await api.get_or_compute("listing", "d", Source("old"))
    await api.invalidate("listing", "d")
    # No waiting for the announcement: the local copy went with the call.
    assert await api.get_or_compute("listing", "d", Source("new")) == "new"


async def test_a_computation_that_raced_a_change_is_not_kept(
    start_cache: StartCache, worker_cache: Cache
) -> None:
    api = await start_cache()
    started = asyncio.Event()

    async def slow_old_read() -> Any:
        started.set()
        await asyncio.sleep(0.2)
        return {"title": "old"}

    in_flight = asyncio.create_task(api.get_or_compute("listing", "e", slow_old_read))
    await started.wait()
    await worker_cache.invalidate("listing", "e")  # the write commits meanwhile
    assert await in_flight == {"title": "old"}  # its caller gets what it computed
    assert await api.get_or_compute("listing", "e", Source({"title": "new"})) == {"title": "new"}


async def test_a_read_that_raced_an_announcement_is_not_kept(
    redis: aioredis.Redis, prefix: str
) -> None:
    near = NearCache(
        redis, f"{prefix}changes", refresh_after={"listing": 60}, max_age=60, max_bytes=1 << 20
    )
    near.start()
    try:
        assert await near.wait_live(5)
        epoch = near.epoch("listing")  # a Redis read starts here...
        await near.announce("listing", "other")  # ...a change to the domain is heard...
        await _eventually(_async(lambda: near.epoch("listing") != epoch))
        near.put("listing", "f", b'"read before the change"', epoch)  # ...then it returns
        assert near.get("listing", "f") is None
        near.put("listing", "f", b'"read after"', near.epoch("listing"))
        assert near.get("listing", "f") == (b'"read after"', False)
    finally:
        await near.aclose()


async def test_a_copy_read_after_its_ttl_is_refreshed_without_a_request_waiting(
    start_cache: StartCache, redis: aioredis.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sichrplace.platform.cache.near.random.random", lambda: 0.0)
    api = await start_cache(ttl_listing_seconds=0.5)  # due for a re-read after 0.5 s
    source = Source("v1")
    assert await api.get_or_compute("listing", "k", source) == "v1"
    # Redis moved on without an announcement (a fresh value).
    await redis.set(f"{prefix}listing:0:k", b'"v2"')
    await redis.set(f"{prefix}listing:0:k:f", b"1")
    await asyncio.sleep(0.6)
    assert await api.get_or_compute("listing", "k", source) == "v1"  # answered at once...
    await _eventually(_async(lambda: api.near.get("listing", "k") == (b'"v2"', False)))
    assert await api.get_or_compute("listing", "k", source) == "v2"  # ...re-read behind it
    assert source.reads == 1


async def test_a_copy_is_dropped_after_its_maximum_age(
    start_cache: StartCache, redis: aioredis.Redis, prefix: str
) -> None:
    api = await start_cache(near_max_age_seconds=0.3)
    source = Source("v1")
    await api.get_or_compute("listing", "m", source)
    await redis.set(f"{prefix}listing:0:m", b'"v2"')  # unannounced
    assert await api.get_or_compute("listing", "m", source) == "v1"
    await asyncio.sleep(0.35)
    assert await api.get_or_compute("listing", "m", source) == "v2"  # from Redis again
    assert source.reads == 1


async def test_a_lost_subscription_empties_the_tier_until_it_is_confirmed_again(
    start_cache: StartCache, redis: aioredis.Redis, prefix: str
) -> None:
    api = await start_cache()
    await api.get_or_compute("listing", "g", Source("v1"))
    # Changes made while the subscription is down are never heard. Simulate one that bypasses
    # the announcement entirely (a new generation), then cut every pub/sub connection.
    await redis.incr(f"{prefix}listing:gen")
    before = api.near.subscriptions
    await redis.client_kill_filter(_type="pubsub")
    # Resubscribed (by the client's reconnect or by the listener's): it starts from nothing.
    await _eventually(_async(lambda: api.near.subscriptions > before), within=5)
    assert api.near.live
    assert await api.get_or_compute("listing", "g", Source("v2")) == "v2"


async def test_dropping_a_domain_drops_its_copies_only(redis: aioredis.Redis, prefix: str) -> None:
    near = NearCache(
        redis,
        f"{prefix}changes",
        refresh_after={"search": 60, "facets": 60},
        max_age=60,
        max_bytes=1 << 20,
    )
    near.start()
    try:
        assert await near.wait_live(5)
        for domain in ("search", "facets"):
            near.put(domain, "berlin", b"{}", near.epoch(domain))
        near.drop("search")
        assert near.get("search", "berlin") is None
        assert near.get("facets", "berlin") == (b"{}", False)
        near.put("search", "berlin", b"[]", near.epoch("search"))  # the new generation's
        assert near.get("search", "berlin") == (b"[]", False)
    finally:
        await near.aclose()


async def test_the_tier_is_bounded_in_bytes_oldest_out_first(
    redis: aioredis.Redis, prefix: str
) -> None:
    near = NearCache(
        redis, f"{prefix}changes", refresh_after={"search": 60}, max_age=60, max_bytes=8000
    )
    near.start()
    try:
        assert await near.wait_live(5)
        for key in "abcde":
            near.put("search", key, b"x" * 1000, near.epoch("search"))
        near.get("search", "a")  # recently used: kept
        for key in "fghij":
            near.put("search", key, b"x" * 1000, near.epoch("search"))
        kept = {key for key in "abcdefghij" if near.get("search", key) is not None}
        assert kept == {"a", "d", "e", "f", "g", "h", "i", "j"}
        near.put("search", "huge", b"x" * 5000, near.epoch("search"))  # > 1/8 of the bound
        assert near.get("search", "huge") is None
    finally:
        await near.aclose()


async def test_off_when_its_ttl_is_zero(start_cache: StartCache) -> None:
    api = await start_cache(near_max_age_seconds=0)
    assert not api.near.live  # never listens: nothing to keep
    source = Source("v")
    await api.get_or_compute("listing", "h", source)
    await api.get_or_compute("listing", "h", source)
    assert source.reads == 1  # Redis answered the second read


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()

    return run
