from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from sichrplace.config import MapsSettings, Settings
from sichrplace.integrations.maps.google import GoogleGeocoder
from sichrplace.platform.redis import make_redis
from tests.fakes.google_maps import FakeGoogleMaps, run_fake_google_maps

MakeGeocoder = Callable[..., Awaitable[GoogleGeocoder]]


@pytest.fixture(scope="session")
def fake_maps_server() -> Iterator[FakeGoogleMaps]:
    with run_fake_google_maps() as fake:
        yield fake


@pytest.fixture
def fake_maps(fake_maps_server: FakeGoogleMaps) -> FakeGoogleMaps:
    fake_maps_server.reset()
    fake_maps_server.slow_seconds = 1.5
    return fake_maps_server


@pytest.fixture
async def real_redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = make_redis(settings.redis)
    yield client
    await client.aclose()


@pytest.fixture
async def make_geocoder(
    fake_maps: FakeGoogleMaps, real_redis: aioredis.Redis, unique: str
) -> AsyncIterator[MakeGeocoder]:
    """A GoogleGeocoder against the fake, with its own breaker (dependency name per test)."""
    made: list[GoogleGeocoder] = []

    async def make(redis: aioredis.Redis | None = real_redis, **overrides: Any) -> GoogleGeocoder:
        values: dict[str, Any] = {
            "base_url": fake_maps.url,
            "api_key": "test-key",
            "timeout_seconds": 0.3,
            "connect_timeout_seconds": 0.3,
            "max_attempts": 3,
            "quota_requests": 0,
            "breaker_failure_threshold": 50,
        }
        values.update(overrides)
        geocoder = GoogleGeocoder(
            MapsSettings(**values), redis=redis, dependency=f"google_geocoding_{unique}"
        )
        made.append(geocoder)
        return geocoder

    yield make
    for geocoder in made:
        await geocoder.aclose()
