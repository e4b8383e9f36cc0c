"""The Redis fixed-window limiter (platform/ratelimit) against the real Redis, and failing open."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from sichrplace.platform.ratelimit import FixedWindowLimiter


def limiter(redis: aioredis.Redis, limit: int = 3, window: int = 1) -> FixedWindowLimiter:
    return FixedWindowLimiter(
        redis, name=f"test-{uuid.uuid4().hex[:8]}", limit=limit, window_seconds=window
    )


async def test_counts_per_subject_until_the_window_expires(redis: aioredis.Redis) -> None:
    lim = limiter(redis, limit=3, window=1)
    decisions = [await lim.hit("a") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].count == 4
    assert decisions[-1].retry_after == 1
    assert {d.retry_after for d in decisions[:-1]} == {0}  # only a refusal says when
    blocked = await lim.check("a")
    assert not blocked.allowed
    assert (blocked.count, blocked.retry_after) == (4, 1)
    assert (await lim.check("b")).allowed  # other subjects have their own counter
    assert await redis.ttl(lim.key("a")) in (0, 1)  # the counter expires with its window
    await asyncio.sleep(1.2)
    assert (await lim.check("a")).allowed
    assert (await lim.hit("a")).count == 1


async def test_concurrent_hits_are_counted_exactly(redis: aioredis.Redis) -> None:
    lim = limiter(redis, limit=10, window=30)
    decisions = await asyncio.gather(*(lim.hit("s") for _ in range(25)))
    assert sorted(d.count for d in decisions) == list(range(1, 26))
    assert sum(d.allowed for d in decisions) == 10


async def test_refund_gives_hits_back_within_the_window(redis: aioredis.Redis) -> None:
    lim = limiter(redis, limit=2, window=30)
    await lim.hit("s")
    await lim.hit("s")
    assert not (await lim.check("s")).allowed
    await lim.refund("s")
    assert (await lim.check("s")).count == 1
    assert 25 <= await redis.ttl(lim.key("s")) <= 30  # the window keeps its end
    await lim.refund("s", 5)  # never below zero
    assert (await lim.check("s")).count == 0
    await lim.refund("gone")  # nothing counted: no key made
    assert await redis.exists(lim.key("gone")) == 0


async def test_reset_clears_the_subject(redis: aioredis.Redis) -> None:
    lim = limiter(redis, limit=1, window=30)
    await lim.hit("s")
    await lim.hit("s")
    assert not (await lim.check("s")).allowed
    await lim.reset("s")
    assert (await lim.check("s")).allowed


async def test_fails_open_when_redis_is_unreachable() -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)
    try:
        lim = limiter(dead, limit=1)
        for _ in range(3):
            assert (await lim.hit("s")).allowed
        assert (await lim.check("s")).allowed
        await lim.reset("s")  # no exception either
    finally:
        await dead.aclose()


async def test_a_changed_limit_counts_afresh(redis: aioredis.Redis) -> None:
    """The counter's key names the limit and window (the `limits` library's key scheme): a
    deploy that changes a limit starts every subject's count from zero."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    old = FixedWindowLimiter(redis, name=name, limit=1, window_seconds=30)
    new = FixedWindowLimiter(redis, name=name, limit=2, window_seconds=30)
    await old.hit("s")
    assert not (await old.check("s")).allowed
    assert (await new.check("s")).count == 0
    assert old.key("s") == f"ratelimit:{name}/s/1/30/second"
