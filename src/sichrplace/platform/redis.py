"""The shared Redis client (cache, rate limits, fan-out)."""

from __future__ import annotations

import redis.asyncio as aioredis

from sichrplace.config import RedisSettings


def make_redis(settings: RedisSettings) -> aioredis.Redis:
    """A client whose pool makes a caller wait (up to the socket timeout) for a connection
    when all `max_connections` are busy, rather than fail at once: a burst of cache fills
    failing that way opened the cache's circuit and sent reads to Postgres for seconds."""
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.url,
        timeout=settings.socket_timeout_seconds,
        socket_timeout=settings.socket_timeout_seconds,
        socket_connect_timeout=settings.socket_timeout_seconds,
        max_connections=settings.max_connections,
        health_check_interval=30,
        decode_responses=False,
    )
    return aioredis.Redis.from_pool(pool)
