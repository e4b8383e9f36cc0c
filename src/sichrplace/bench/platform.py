"""`sichrplace bench platform`: the hot-path cost per call of the platform's resilience and
cache pieces next to the maintained libraries for the same job (docs/adr/0007).

Each case runs `calls` sequential calls in one event loop, `runs` times (the cases of one
piece taking turns); the figure is the median over runs of the mean cost per call. Cases
that talk to Redis use the stack's Redis over loopback, so a round trip is part of their
cost. Candidate libraries the project does not depend on come from the optional `compare`
extra; a case whose library is missing is reported as skipped. `limiter before` and `quota
before` issue the Redis commands our own code issued before `limits` replaced it (commit
092bb92).
"""

from __future__ import annotations

import asyncio
import importlib
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import redis.asyncio as aioredis

from sichrplace.config import Settings
from sichrplace.platform.bulkhead import Bulkhead
from sichrplace.platform.cache import Cache
from sichrplace.platform.ratelimit import FixedWindowLimiter
from sichrplace.platform.redis import make_redis
from sichrplace.platform.resilience import CircuitBreaker, RedisQuota

Op = Callable[[], Awaitable[Any]]
Echo = Callable[[str], None]
VALUE = {"id": "0" * 32, "title": "Altbauwohnung mit Balkon", "rooms": 3, "photos": ["x"] * 40}


@dataclass(frozen=True)
class Result:
    piece: str
    case: str
    per_call_us: float | None  # None: skipped
    note: str = ""


class Skipped(Exception):
    """A candidate library is not installed."""


def optional(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise Skipped(
            f"{module.split('.')[0]} not installed: pip install -e '.[compare]'"
        ) from None


async def mean_cost(op: Op, calls: int) -> float:
    """Mean microseconds per call over `calls` sequential calls."""
    started = time.perf_counter_ns()
    for _ in range(calls):
        await op()
    return (time.perf_counter_ns() - started) / calls / 1000


async def noop() -> None:
    return None


# -- circuit breaker: a no-op call guarded by each breaker (no I/O) ----------------------------


def breaker_cases() -> Iterator[tuple[str, Callable[[], Op]]]:
    def bare() -> Op:
        return noop

    def ours() -> Op:
        breaker = CircuitBreaker(f"bench-{uuid.uuid4().hex[:6]}")

        async def op() -> None:
            breaker.acquire()
            await noop()
            breaker.record_success()

        return op

    def purgatory() -> Op:
        factory = optional("purgatory").AsyncCircuitBreakerFactory(default_threshold=5)
        guarded: Op = factory("bench")(noop)  # its documented decorator
        return guarded

    def aiobreaker() -> Op:
        breaker = optional("aiobreaker").CircuitBreaker(fail_max=5)
        return lambda: breaker.call_async(noop)

    def pybreaker() -> Op:
        breaker = optional("pybreaker").CircuitBreaker(fail_max=5)

        async def op() -> None:  # its async path needs tornado: the sync call, for scale
            breaker.call(lambda: None)

        return op

    yield "no breaker (the bare await)", bare
    yield "ours: acquire + record_success", ours
    yield "purgatory 3.0.1: decorator", purgatory
    yield "aiobreaker 1.2.0: call_async", aiobreaker
    yield "pybreaker 1.4.1: call (sync)", pybreaker


# -- bulkhead: take and give back a free slot ---------------------------------------------------


def bulkhead_cases() -> Iterator[tuple[str, Callable[[], Op]]]:
    def ours() -> Op:
        bulkhead = Bulkhead("bench", limit=4, max_wait_seconds=1.0)

        async def op() -> None:
            await bulkhead.enter()
            bulkhead.leave()

        return op

    def semaphore() -> Op:
        slots = asyncio.Semaphore(4)

        async def op() -> None:
            async with asyncio.timeout(1.0):
                await slots.acquire()
            slots.release()

        return op

    def anyio() -> Op:
        module = optional("anyio")
        limiter = module.CapacityLimiter(4)

        async def op() -> None:
            with module.fail_after(1.0):
                await limiter.acquire()
            limiter.release()

        return op

    yield "ours: enter + leave (gauge, timeout)", ours
    yield "asyncio.Semaphore + asyncio.timeout", semaphore
    yield "anyio CapacityLimiter + fail_after", anyio


# -- rate limiter and quota (Redis) -------------------------------------------------------------


def limiter_cases(redis: aioredis.Redis) -> Iterator[tuple[str, Callable[[], Op]]]:
    subject = f"bench-{uuid.uuid4().hex[:8]}"
    limiter = FixedWindowLimiter(redis, name="bench", limit=10**9, window_seconds=60)
    key = f"bench:ratelimit:{subject}"

    def before_hit() -> Op:
        async def op() -> None:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.set(key, 0, ex=60, nx=True)
                pipe.incrby(key, 1)
                pipe.ttl(key)
                await pipe.execute()

        return op

    def before_check() -> Op:
        async def op() -> None:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.get(key)
                pipe.ttl(key)
                await pipe.execute()

        return op

    yield "hit, before: MULTI SET NX/INCRBY/TTL", before_hit
    yield "hit, now: limits (EVALSHA incr+expire)", lambda: lambda: limiter.hit(subject)
    yield "check, before: MULTI GET/TTL", before_check
    yield "check, now: limits (GET)", lambda: lambda: limiter.check(subject)


def quota_cases(redis: aioredis.Redis) -> Iterator[tuple[str, Callable[[], Op]]]:
    dependency = f"bench-{uuid.uuid4().hex[:8]}"
    quota = RedisQuota(redis, dependency, limit=10**9, window_seconds=60)

    def before() -> Op:
        breaker = CircuitBreaker(f"bench-quota-{dependency}")

        async def op() -> None:
            breaker.acquire()
            window = int(time.time() // 60)
            async with asyncio.timeout(0.25), redis.pipeline(transaction=True) as pipe:
                pipe.incr(f"bench:quota:{dependency}:{window}")
                pipe.expire(f"bench:quota:{dependency}:{window}", 120, nx=True)
                await pipe.execute()
            breaker.record_success()

        return op

    yield "acquire, before: MULTI INCR/EXPIRE NX", before
    yield "acquire, now: limits FixedWindowRateLimiter", lambda: quota.acquire


# -- cache: a hit of a ~1 KB JSON value -----------------------------------------------------


async def cache_cases(
    settings: Settings, redis: aioredis.Redis, echo: Echo
) -> tuple[list[tuple[str, Callable[[], Op]]], Callable[[], Awaitable[None]]]:
    prefix = f"bench-cache:{uuid.uuid4().hex[:8]}:"
    near = Cache(redis, settings.cache, prefix=prefix)
    near.start()
    if not await near.near.wait_live(5):
        echo("cache: the near tier did not go live; its case measures Redis hits")
    redis_only = Cache(
        redis, settings.cache.model_copy(update={"near_max_age_seconds": 0}), prefix=prefix
    )

    async def compute() -> Any:
        return VALUE

    closers: list[Callable[[], Awaitable[None]]] = [near.aclose, redis_only.aclose]
    cases: list[tuple[str, Callable[[], Op]]] = [
        ("ours: near-tier hit", lambda: lambda: near.get_or_compute_json("listing", "k", compute)),
        (
            "ours: Redis hit (near tier off)",
            lambda: lambda: redis_only.get_or_compute_json("listing", "k", compute),
        ),
    ]
    url = settings.redis.url
    for label, options in (
        ("cashews 7.6.0: Redis hit (decorator)", {}),
        ("cashews 7.6.0: client-side hit (decorator)", {"client_side": True}),
    ):
        try:
            cashews = optional("cashews")
        except Skipped as exc:
            cases.append((label, _skip(str(exc))))
            continue
        store = cashews.Cache()
        store.setup(url, **options)
        await store.init()
        closers.append(store.close)
        cached: Callable[..., Awaitable[Any]] = store(ttl="5m", key=f"bench:{prefix}{{n}}")(
            _value_of
        )
        cases.append((label, _calling(cached)))

    async def close() -> None:
        for closer in closers:
            await closer()

    return cases, close


async def _value_of(n: int) -> Any:
    return VALUE


def _calling(cached: Callable[..., Awaitable[Any]]) -> Callable[[], Op]:
    return lambda: lambda: cached(n=1)


def _skip(reason: str) -> Callable[[], Op]:
    def make() -> Op:
        raise Skipped(reason)

    return make


# -- running ----------------------------------------------------------------------------------


@contextmanager
def _noted(results: list[Result], piece: str, case: str) -> Iterator[None]:
    try:
        yield
    except Skipped as exc:
        results.append(Result(piece, case, None, str(exc)))


async def _run_cases(
    results: list[Result],
    piece: str,
    cases: Iterator[tuple[str, Callable[[], Op]]] | list[tuple[str, Callable[[], Op]]],
    calls: int,
    runs: int,
    echo: Echo,
) -> None:
    """Each run times every case of the piece once, in turn, so drift in the machine's load
    reaches all of them alike; a case's figure is its median over the runs."""
    ops: list[tuple[str, Op]] = []
    for case, make in cases:
        with _noted(results, piece, case):
            op = make()
            for _ in range(min(calls, 200)):  # warm-up
                await op()
            ops.append((case, op))
    samples: dict[str, list[float]] = {case: [] for case, _ in ops}
    for _ in range(runs):
        for case, op in ops:
            samples[case].append(await mean_cost(op, calls))
    for case, _ in ops:
        cost = statistics.median(samples[case])
        results.append(Result(piece, case, cost))
        echo(f"  {piece:<9} {case:<46} {cost:9.2f} us")


async def run(
    settings: Settings, *, runs: int, local_calls: int, redis_calls: int, echo: Echo
) -> list[Result]:
    results: list[Result] = []
    await _run_cases(results, "breaker", breaker_cases(), local_calls, runs, echo)
    await _run_cases(results, "bulkhead", bulkhead_cases(), local_calls, runs, echo)
    redis = make_redis(settings.redis)
    try:
        await _run_cases(results, "limiter", limiter_cases(redis), redis_calls, runs, echo)
        await _run_cases(results, "quota", quota_cases(redis), redis_calls, runs, echo)
        cases, close = await cache_cases(settings, redis, echo)
        try:
            await _run_cases(results, "cache", cases, redis_calls, runs, echo)
        finally:
            await close()
        await _delete_bench_keys(redis)
    finally:
        await redis.aclose()
    return results


async def _delete_bench_keys(redis: aioredis.Redis) -> None:
    for pattern in (
        "bench:*",
        "cashews:bench:*",
        "bench-cache:*",
        "ratelimit:bench*",
        "ratelimit:quota/bench-*",
    ):
        async for key in redis.scan_iter(match=pattern, count=500):
            await redis.delete(key)


def table(results: list[Result]) -> str:
    lines = ["| piece | case | per call |", "| --- | --- | ---: |"]
    for r in results:
        cost = f"{r.per_call_us:.2f} µs" if r.per_call_us is not None else f"skipped ({r.note})"
        lines.append(f"| {r.piece} | {r.case} | {cost} |")
    return "\n".join(lines)
