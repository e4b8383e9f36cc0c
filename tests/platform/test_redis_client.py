"""The shared Redis client against the stack's Redis: a pooled connection the server has
closed (a Redis restart closes every one) is replaced when taken from the pool, not used and
failed (each such failure would open the cache's circuit and lose invalidations)."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from sichrplace.config import Settings
from sichrplace.platform.redis import make_redis

POOLED = 6


async def _pooled_ids(client: aioredis.Redis) -> list[int]:
    """Fill the pool with POOLED connections at once; their ids at the server."""
    held = [client.client() for _ in range(POOLED)]  # each holds one connection until closed
    try:
        return [await one.client_id() for one in held]
    finally:
        for one in held:
            await one.aclose()


async def test_connections_the_server_closed_are_replaced_not_failed(settings: Settings) -> None:
    client, admin = make_redis(settings.redis), make_redis(settings.redis)
    try:
        closed = await _pooled_ids(client)
        for conn_id in closed:
            assert await admin.client_kill_filter(_id=str(conn_id)) == 1
        await asyncio.sleep(0.2)  # the connections' ends have read the server's FIN
        answers = await asyncio.gather(
            *(client.ping() for _ in range(POOLED)), return_exceptions=True
        )
        assert [a for a in answers if isinstance(a, Exception)] == []
        assert not set(await _pooled_ids(client)) & set(closed)
    finally:
        await client.aclose()
        await admin.aclose()
