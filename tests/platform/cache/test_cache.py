"""Cache-aside platform against the real Redis: hits and misses, stampede protection across
processes, invalidation (including of in-flight computations), generations, fail-open."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from sichrplace.config import RedisSettings, Settings
from sichrplace.platform.cache import Cache
from sichrplace.platform.redis import make_redis


def _count(domain: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "sichrplace_cache_requests_total", {"domain": domain, "result": result}
    )
    return value or 0.0


@pytest.fixture
def prefix(unique: str) -> str:
    return f"test-cache:{unique}:"  # keys and generations of this test only


@pytest.fixture
def make_cache(redis: aioredis.Redis, settings: Settings, prefix: str) -> Callable[..., Cache]:
    def make(client: aioredis.Redis | None = None, **overrides: Any) -> Cache:
        return Cache(client or redis, settings.cache.model_copy(update=overrides), prefix=prefix)

    return make


class Counter:
    """A computation that counts its runs and takes a while (so callers overlap)."""

    def __init__(self, delay: float = 0.1) -> None:
        self.runs = 0
        self.delay = delay
        self.value: Any = {"n": 1}

    async def __call__(self) -> Any:
        self.runs += 1
        await asyncio.sleep(self.delay)
        return self.value


async def test_miss_then_hit_with_counters(make_cache: Callable[..., Cache]) -> None:
    cache = make_cache()
    compute = Counter(delay=0)
    hits, misses = _count("search", "hit"), _count("search", "miss")
    assert await cache.get_or_compute("search", "k", compute) == {"n": 1}
    assert await cache.get_or_compute("search", "k", compute) == {"n": 1}
    assert compute.runs == 1
    assert _count("search", "miss") == misses + 1
    assert _count("search", "hit") == hits + 1


async def test_values_come_back_as_json_on_miss_and_hit(make_cache: Callable[..., Cache]) -> None:
    cache = make_cache()
    listing_id = uuid.uuid4()

    async def compute() -> dict[str, Any]:
        return {"id": listing_id, "missing": None}

    first = await cache.get_or_compute("listing", "j", compute)
    second = await cache.get_or_compute("listing", "j", compute)
    assert first == second == {"id": str(listing_id), "missing": None}
    assert await cache.get_or_compute("listing", "none", _const(None)) is None  # cached null


def _const(value: Any) -> Callable[[], Awaitable[Any]]:
    async def compute() -> Any:
        return value

    return compute


async def test_fifty_concurrent_misses_in_two_processes_compute_once(
    make_cache: Callable[..., Cache],
) -> None:
    # Two Cache objects share nothing in memory: only the Redis lease keeps them from both
    # computing, as with two API instances.
    first, second = make_cache(), make_cache()
    compute = Counter(delay=0.2)
    results = await asyncio.gather(
        *(
            (first if i % 2 else second).get_or_compute("facets", "burst", compute)
            for i in range(50)
        )
    )
    assert compute.runs == 1
    assert results == [{"n": 1}] * 50


async def test_failed_computation_reaches_every_caller_and_frees_the_lease(
    make_cache: Callable[..., Cache],
) -> None:
    cache = make_cache()
    calls = 0

    async def boom() -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        raise RuntimeError("database said no")

    outcomes = await asyncio.gather(
        *(cache.get_or_compute("search", "err", boom) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert calls == 1
    # The lease was given back: the next caller computes at once instead of waiting it out.
    started = time.monotonic()
    assert await cache.get_or_compute("search", "err", _const([1])) == [1]
    assert time.monotonic() - started < 0.5


async def test_waiter_takes_over_when_the_filler_dies(
    make_cache: Callable[..., Cache], redis: aioredis.Redis, prefix: str
) -> None:
    cache = make_cache()
    # A filler in another process took the lease for 300 ms and died.
    await redis.set(f"{prefix}search:0:dead:lock", b"someone", px=300)
    compute = Counter(delay=0)
    started = time.monotonic()
    assert await cache.get_or_compute("search", "dead", compute) == {"n": 1}
    assert 0.25 < time.monotonic() - started < 1.5
    assert compute.runs == 1
    assert await redis.get(f"{prefix}search:0:dead") is not None  # and it stored the value


async def test_invalidate_drops_the_value(make_cache: Callable[..., Cache]) -> None:
    cache = make_cache(reinvalidate_after_seconds=0)
    compute = Counter(delay=0)
    await cache.get_or_compute("listing", "x", compute)
    compute.value = {"n": 2}
    await cache.invalidate("listing", "x")
    assert await cache.get_or_compute("listing", "x", compute) == {"n": 2}
    assert compute.runs == 2


async def test_invalidation_during_a_computation_discards_its_stale_result(
    make_cache: Callable[..., Cache], redis: aioredis.Redis
) -> None:
    writer, reader = make_cache(reinvalidate_after_seconds=0), make_cache()
    slow = Counter(delay=0.2)
    slow.value = {"title": "old"}
    in_flight = asyncio.create_task(reader.get_or_compute("listing", "race", slow))
    await asyncio.sleep(0.05)  # the reader has its lease and is computing from old data
    await writer.invalidate("listing", "race")  # the write commits meanwhile
    assert await in_flight == {"title": "old"}  # its own caller still gets what it computed
    fresh = Counter(delay=0)
    fresh.value = {"title": "new"}
    assert await writer.get_or_compute("listing", "race", fresh) == {"title": "new"}


async def test_refresh_writes_through_and_beats_an_older_computation(
    make_cache: Callable[..., Cache],
) -> None:
    cache = make_cache()
    slow = Counter(delay=0.2)
    slow.value = {"v": "replica, before the write"}
    in_flight = asyncio.create_task(cache.get_or_compute("listing", "wt", slow))
    await asyncio.sleep(0.05)
    await cache.refresh("listing", "wt", _const({"v": "committed"}))
    await in_flight  # its lease was taken over: it cannot store its older result
    assert await cache.get_or_compute("listing", "wt", Counter()) == {"v": "committed"}


async def test_refresh_loses_to_an_invalidation_during_its_read(
    make_cache: Callable[..., Cache],
) -> None:
    cache = make_cache(reinvalidate_after_seconds=0)

    async def read_then_invalidated() -> Any:
        await cache.invalidate("listing", "r")  # another domain's change lands meanwhile
        return {"v": "read before that change"}

    await cache.refresh("listing", "r", read_then_invalidated)
    assert await cache.get_or_compute("listing", "r", _const({"v": "db"})) == {"v": "db"}


async def test_of_two_overlapping_refreshes_the_later_wins(
    make_cache: Callable[..., Cache],
) -> None:
    first, second = make_cache(), make_cache()
    started = asyncio.Event()

    async def slow_old_read() -> Any:
        started.set()
        await asyncio.sleep(0.2)
        return {"v": "older state"}

    older = asyncio.create_task(first.refresh("listing", "two", slow_old_read))
    await started.wait()
    await second.refresh("listing", "two", _const({"v": "newer state"}))
    await older
    assert await first.get_or_compute("listing", "two", Counter()) == {"v": "newer state"}


async def test_delayed_invalidation_spares_a_value_refreshed_from_the_primary(
    make_cache: Callable[..., Cache],
) -> None:
    cache = make_cache(reinvalidate_after_seconds=0.2)
    await cache.invalidate("listing", "keep")
    await cache.refresh("listing", "keep", _const("from the primary"))
    await asyncio.sleep(0.3)  # the second invalidation has run
    assert await cache.get_or_compute("listing", "keep", _const("db")) == "from the primary"


async def test_delayed_second_invalidation_removes_a_stale_fill(
    make_cache: Callable[..., Cache],
) -> None:
    cache = make_cache(reinvalidate_after_seconds=0.2)
    await cache.invalidate("listing", "lag")
    # A reader fills from a replica that has not replayed the write yet.
    assert await cache.get_or_compute("listing", "lag", _const("stale")) == "stale"
    await asyncio.sleep(0.3)
    assert await cache.get_or_compute("listing", "lag", _const("fresh")) == "fresh"


async def test_bump_invalidates_every_key_of_the_domain_only(
    make_cache: Callable[..., Cache],
) -> None:
    cache = make_cache(reinvalidate_after_seconds=0)
    for key in ("a", "b"):
        await cache.get_or_compute("search", key, _const("old"))
    await cache.get_or_compute("facets", "a", _const("old"))
    await cache.bump("search")
    assert await cache.get_or_compute("search", "a", _const("new")) == "new"
    assert await cache.get_or_compute("search", "b", _const("new")) == "new"
    assert await cache.get_or_compute("facets", "a", _const("new")) == "old"


async def test_unknown_domain_is_a_programming_error(make_cache: Callable[..., Cache]) -> None:
    with pytest.raises(ValueError, match="unknown cache domain"):
        await make_cache().get_or_compute("sessions", "k", _const(1))


async def test_bypass_and_disabled_always_compute(make_cache: Callable[..., Cache]) -> None:
    compute = Counter(delay=0)
    cache = make_cache()
    await cache.get_or_compute("search", "b", compute)
    await cache.get_or_compute("search", "b", compute, bypass=True)
    assert compute.runs == 2
    off = make_cache(enabled=False)
    await off.get_or_compute("search", "b", compute)
    assert compute.runs == 3


@pytest.fixture
async def dead_redis() -> AsyncIterator[aioredis.Redis]:
    client = make_redis(RedisSettings(url="redis://127.0.0.1:1/0", socket_timeout_seconds=0.5))
    yield client
    await client.aclose()


async def test_redis_down_fails_open_fast_and_opens_the_circuit(
    make_cache: Callable[..., Cache], dead_redis: aioredis.Redis
) -> None:
    cache = make_cache(dead_redis)
    compute = Counter(delay=0)
    errors = _count("popular", "error")
    started = time.monotonic()
    assert await cache.get_or_compute("popular", "k", compute) == {"n": 1}
    assert _count("popular", "error") == errors + 1
    assert cache.circuit_open()
    for _ in range(20):  # skipped while the circuit is open: no connection attempts
        assert await cache.get_or_compute("popular", "k", compute) == {"n": 1}
    await cache.invalidate("popular", "k")
    await cache.bump("popular")
    assert compute.runs == 21
    assert time.monotonic() - started < 0.5
    assert _count("popular", "error") == errors + 1


@pytest.fixture
async def silent_redis() -> AsyncIterator[aioredis.Redis]:
    """A server that accepts connections and never answers (a hung Redis)."""
    conns: list[asyncio.StreamWriter] = []

    async def swallow(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = make_redis(RedisSettings(url=f"redis://127.0.0.1:{port}/0", socket_timeout_seconds=5))
    yield client
    await client.aclose()
    for writer in conns:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_hung_redis_costs_at_most_the_operation_timeout(
    make_cache: Callable[..., Cache], silent_redis: aioredis.Redis
) -> None:
    cache = make_cache(silent_redis, op_timeout_seconds=0.1)
    started = time.monotonic()
    assert await cache.get_or_compute("search", "hang", _const("from postgres")) == "from postgres"
    assert time.monotonic() - started < 0.4
    started = time.monotonic()
    assert await cache.get_or_compute("search", "hang", _const("again")) == "again"
    assert time.monotonic() - started < 0.05  # circuit open: Redis not even tried


async def test_circuit_closes_again_after_the_pause(
    make_cache: Callable[..., Cache], dead_redis: aioredis.Redis
) -> None:
    cache = make_cache(dead_redis, circuit_open_seconds=0.1)
    await cache.get_or_compute("search", "c", _const(1))
    assert cache.circuit_open()
    await asyncio.sleep(0.15)
    assert not cache.circuit_open()  # the next call tries Redis again


async def test_expired_value_is_served_stale_while_one_caller_refreshes(
    make_cache: Callable[..., Cache],
) -> None:
    settings = {"ttl_search_seconds": 1.0, "ttl_jitter": 0, "stale_while_revalidate_seconds": 30}
    first, second = make_cache(**settings), make_cache(**settings)  # two API processes
    compute = Counter(delay=0.3)
    assert await first.get_or_compute("search", "k", compute) == {"n": 1}
    compute.value = {"n": 2}
    await asyncio.sleep(1.1)  # past its freshness, inside the stale window
    stale = _count("search", "stale")
    started = time.monotonic()
    results = await asyncio.gather(
        *(cache.get_or_compute("search", "k", compute) for cache in (first, second) * 10)
    )
    assert time.monotonic() - started < 0.2  # nobody waited for the 0.3 s computation
    assert results == [{"n": 1}] * 20
    assert _count("search", "stale") == stale + 1  # one caller got the lease to refresh
    await asyncio.sleep(0.45)  # the refresh (0.3 s) has stored a fresh value
    assert compute.runs == 2
    assert await second.get_or_compute("search", "k", compute) == {"n": 2}
    assert compute.runs == 2


async def test_invalidated_value_is_never_served_stale(make_cache: Callable[..., Cache]) -> None:
    cache = make_cache(ttl_search_seconds=0.2, ttl_jitter=0, stale_while_revalidate_seconds=30)
    compute = Counter(delay=0)
    await cache.get_or_compute("search", "k", compute)
    compute.value = {"n": 2}
    await cache.invalidate("search", "k", again_after=0)
    assert await cache.get_or_compute("search", "k", compute) == {"n": 2}
    await cache.bump("search", again_after=0)
    compute.value = {"n": 3}
    await asyncio.sleep(0.3)
    assert await cache.get_or_compute("search", "k", compute) == {"n": 3}
