from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from sichrplace.config import Settings
from sichrplace.platform.redis import make_redis


@pytest.fixture
async def real_redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    """A client of the stack's Redis (not the app's, so these tests need no app start-up)."""
    client = make_redis(settings.redis)
    yield client
    await client.aclose()


@pytest.fixture
async def dead_redis() -> AsyncIterator[aioredis.Redis]:
    """A client of a port where nothing listens: every command fails (connection refused)."""
    from tests.fakes.server import free_port

    client = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.2, socket_connect_timeout=0.2
    )
    yield client
    await client.aclose()
