"""The journeys' results in Redis: one hash per journey with its latest run and counters.

Why Redis: a run may happen in any worker or in an operator's `sichrplace synthetic run`, and
Prometheus scrapes the workers. Every process that runs a journey writes here; every worker
exports what is here when scraped (metrics.py), so a run by hand shows up like a scheduled
one, a worker restart loses nothing, and all workers report the same values (rules take the
max over them). Postgres would do too, but these are monitoring facts with no relation to the
business rows, written every few minutes and read at each scrape: Redis keeps them off the
primary.
"""

from __future__ import annotations

import redis as sync_redis
from redis import asyncio as aioredis

from sichrplace.ops.synthetic import rules
from sichrplace.ops.synthetic.records import JourneyResult, Stored

PREFIX = "synthetic:result:"
LOCK_PREFIX = "synthetic:lock:"


def key(journey: str) -> str:
    return PREFIX + journey


async def record(redis: aioredis.Redis, result: JourneyResult) -> None:
    """The run's result and its counters, in one transaction."""
    name = key(result.journey)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(name, mapping=rules.result_fields(result))  # type: ignore[arg-type]
        if result.ok:
            pipe.hset(name, "consecutive_failures", 0)
            pipe.hincrby(name, "runs_succeeded", 1)
        else:
            pipe.hincrby(name, "consecutive_failures", 1)
            pipe.hincrby(name, "runs_failed", 1)
        await pipe.execute()


async def take_lock(redis: aioredis.Redis, journey: str, holder: str, seconds: float) -> bool:
    """One run of a journey at a time across workers and hands (it expires on its own)."""
    return bool(await redis.set(LOCK_PREFIX + journey, holder, nx=True, px=int(seconds * 1000)))


async def release_lock(redis: aioredis.Redis, journey: str, holder: str) -> None:
    # Only our own: a run that outlived its lock must not free the next run's.
    script = "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end"
    await redis.eval(script, 1, LOCK_PREFIX + journey, holder)


async def read(redis: aioredis.Redis, journey: str) -> Stored | None:
    raw = await redis.hgetall(key(journey))
    return rules.stored(journey, {_b(k): _b(v) for k, v in raw.items()})


def _b(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def read_all_sync(client: sync_redis.Redis) -> list[Stored]:
    """Every journey's latest result (the scrape thread's read: a sync client, one round
    trip)."""
    with client.pipeline(transaction=False) as pipe:
        for journey in rules.JOURNEYS:
            pipe.hgetall(key(journey))
        raws: list[dict[bytes, bytes]] = pipe.execute()
    found = [rules.stored(j, raw) for j, raw in zip(rules.JOURNEYS, raws, strict=True)]
    return [s for s in found if s is not None]
