"""The shared Redis client (cache, rate limits, fan-out)."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Request

from sichrplace.config import RedisSettings


def make_redis(settings: RedisSettings) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        settings.url,
        socket_timeout=settings.socket_timeout_seconds,
        socket_connect_timeout=settings.socket_timeout_seconds,
        max_connections=settings.max_connections,
        health_check_interval=30,
        decode_responses=False,
    )


async def get_redis(request: Request) -> aioredis.Redis:
    client: aioredis.Redis = request.app.state.redis
    return client


RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
