"""GrowingDelay (platform/ratelimit/backoff.py) against the real Redis: the waits its script
sets, exact counts under concurrency, reset, and failing open."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from sichrplace.platform.ratelimit import GrowingDelay
from sichrplace.platform.ratelimit.backoff import delay_seconds


def delays(redis: aioredis.Redis, free: int = 2, cap: int = 8) -> GrowingDelay:
    return GrowingDelay(
        redis,
        name=f"test-{uuid.uuid4().hex[:8]}",
        free=free,
        base_seconds=1,
        max_delay_seconds=cap,
        memory_seconds=60,
    )


async def test_the_wait_doubles_after_the_free_failures_up_to_the_cap(
    redis: aioredis.Redis,
) -> None:
    d = delays(redis, free=2, cap=8)
    decisions = [await d.fail("s") for _ in range(7)]
    assert [x.retry_after for x in decisions] == [
        delay_seconds(n, free=2, base=1, max_delay=8) for n in range(1, 8)
    ]
    assert [x.retry_after for x in decisions] == [0, 0, 1, 2, 4, 8, 8]
    assert [x.allowed for x in decisions[:2]] == [True, True]
    blocked = await d.check("s")
    assert not blocked.allowed
    assert blocked.retry_after == 8
    assert (await d.check("other")).allowed
    assert 55 <= await redis.ttl(d.keys("s")[0]) <= 60  # the count is forgotten after quiet


async def test_a_block_is_never_shortened_and_expires(redis: aioredis.Redis) -> None:
    d = delays(redis, free=0, cap=1)
    await d.fail("s")
    assert not (await d.check("s")).allowed
    await asyncio.sleep(1.1)
    assert (await d.check("s")).allowed
    await d.reset("s")
    assert await redis.exists(*d.keys("s")) == 0


async def test_concurrent_failures_are_counted_exactly(redis: aioredis.Redis) -> None:
    d = delays(redis, free=5, cap=900)
    results = await asyncio.gather(*(d.fail("s") for _ in range(20)))
    assert sorted(r.count for r in results) == list(range(1, 21))
    assert max(r.retry_after for r in results) == delay_seconds(20, free=5, base=1, max_delay=900)
    assert (await d.check("s")).retry_after == delay_seconds(20, free=5, base=1, max_delay=900)


async def test_fails_open_when_redis_is_unreachable() -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)
    try:
        d = delays(dead, free=0)
        assert (await d.fail("s")).allowed
        assert (await d.check("s")).allowed
        await d.reset("s")
    finally:
        await dead.aclose()
