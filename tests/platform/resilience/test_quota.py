"""Redis-backed quota (real Redis), and failing open when Redis is unreachable."""

from __future__ import annotations

import time

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from sichrplace.platform.resilience import Policy, QuotaExceeded, RedisQuota, ResilientClient


async def test_quota_counts_in_redis_and_refuses_above_limit(
    real_redis: aioredis.Redis, unique: str
) -> None:
    quota = RedisQuota(real_redis, f"q{unique}", limit=3, window_seconds=60)
    for _ in range(3):
        await quota.acquire()
    assert await quota.used() == 3
    with pytest.raises(QuotaExceeded) as info:
        await quota.acquire()
    assert info.value.retry_after is not None
    assert 0 < info.value.retry_after <= 60
    assert quota.key == f"ratelimit:quota/q{unique}/3/60/second"
    # The window (and its key) starts at the first request and expires with it.
    assert 0 < await real_redis.ttl(quota.key) <= 60
    assert info.value.retry_after == pytest.approx(await real_redis.ttl(quota.key), abs=1)


async def test_quota_is_shared_between_clients(real_redis: aioredis.Redis, unique: str) -> None:
    """Two processes' clients (here: two instances) spend one budget."""
    a = RedisQuota(real_redis, f"q{unique}", limit=2, window_seconds=60)
    b = RedisQuota(real_redis, f"q{unique}", limit=2, window_seconds=60)
    await a.acquire()
    await b.acquire()
    with pytest.raises(QuotaExceeded):
        await a.acquire()


async def test_exhausted_quota_refuses_without_calling(
    real_redis: aioredis.Redis, unique: str
) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200)

    client = ResilientClient(
        f"q{unique}",
        policy=Policy(quota_limit=2, quota_window_seconds=60),
        redis=real_redis,
        transport=httpx.MockTransport(handler),
        base_url="http://dep.test",
    )
    await client.get("/a")
    await client.get("/b")
    with pytest.raises(QuotaExceeded):
        await client.get("/c")
    assert calls == 2
    labels = {"dependency": f"q{unique}", "outcome": "quota_exceeded"}
    assert REGISTRY.get_sample_value("sichrplace_outbound_requests_total", labels) == 1


async def test_quota_fails_open_when_redis_is_down(dead_redis: aioredis.Redis, unique: str) -> None:
    quota = RedisQuota(dead_redis, f"q{unique}", limit=1, window_seconds=60)
    started = time.monotonic()
    for _ in range(20):
        await quota.acquire()  # never raises: our bookkeeping is down, not the provider
    assert time.monotonic() - started < 2.0
    errors = REGISTRY.get_sample_value(
        "sichrplace_outbound_quota_store_errors_total", {"dependency": f"q{unique}"}
    )
    assert errors == 20
