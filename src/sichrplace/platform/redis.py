"""The shared Redis client (cache, rate limits, fan-out)."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.maint_notifications import MaintNotificationsConfig

from sichrplace.config import RedisSettings


def make_redis(settings: RedisSettings) -> aioredis.Redis:
    """A client whose pool makes a caller wait (up to the socket timeout) for a connection
    when all `max_connections` are busy, rather than fail at once: failed fills open the
    cache's circuit (ADR 0003)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.url,
        timeout=settings.socket_timeout_seconds,
        socket_timeout=settings.socket_timeout_seconds,
        socket_connect_timeout=settings.socket_timeout_seconds,
        max_connections=settings.max_connections,
        health_check_interval=30,
        decode_responses=False,
        # Our Redis sends no maintenance events. While redis-py's are on ("auto" by default
        # in 8.x) its pool skips the check that drops a connection the server has closed:
        # after a Redis restart every pooled connection failed its next command once, each
        # failure opening the cache's circuit and losing invalidations.
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
    )
    return aioredis.Redis.from_pool(pool)
