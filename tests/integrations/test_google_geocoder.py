"""GoogleGeocoder against a local fake speaking the Geocoding API's JSON (and its failures)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from sichrplace.config import MapsSettings
from sichrplace.integrations.maps.cache import cache_key, normalize_address
from sichrplace.integrations.maps.google import DEV_API_KEY, GoogleGeocoder
from sichrplace.integrations.maps.types import GeocodeResult, GeocodingUnavailable
from sichrplace.platform.resilience import BreakerState
from sichrplace.platform.secrets import InsecureSecretError, SecretsProvider
from tests.fakes.google_maps import FakeGoogleMaps, fake_location
from tests.integrations.conftest import MakeGeocoder


def _address(unique: str) -> dict[str, str]:
    return {
        "street": f"Invalidenstraße {unique}",
        "house_number": "117",
        "postal_code": "10115",
        "city": "Berlin",
    }


async def test_happy_path_parses_location_and_sends_documented_params(
    make_geocoder: MakeGeocoder, fake_maps: FakeGoogleMaps, unique: str
) -> None:
    geocoder = await make_geocoder()
    result = await geocoder.geocode(**_address(unique))
    expected_address = f"Invalidenstraße {unique} 117, 10115 Berlin"
    lat, lng = fake_location(expected_address, "10115")
    assert result == GeocodeResult(lat, lng, f"{expected_address}, Deutschland")
    assert 52.4 < result.latitude < 52.6
    (params,) = fake_maps.requests
    assert params == {
        "address": expected_address,
        "components": "postal_code:10115|country:DE",
        "key": "test-key",
        "language": "de",
    }


async def test_zero_results_is_none(
    make_geocoder: MakeGeocoder, fake_maps: FakeGoogleMaps, unique: str
) -> None:
    fake_maps.mode = "zero_results"
    geocoder = await make_geocoder()
    assert await geocoder.geocode(**_address(unique)) is None


@pytest.mark.parametrize(
    ("mode", "calls", "level"),
    [
        ("over_query_limit", 1, "warning"),  # not retried inline: the job retries later
        ("unknown_error", 3, "warning"),  # transient: retried, then unavailable
        ("http_500", 3, "warning"),
        ("request_denied", 1, "error"),  # configuration problem: logged as an error
        ("invalid_request", 1, "error"),
    ],
)
async def test_failure_modes_map_to_unavailable(
    make_geocoder: MakeGeocoder,
    fake_maps: FakeGoogleMaps,
    unique: str,
    mode: str,
    calls: int,
    level: str,
) -> None:
    fake_maps.mode = mode
    geocoder = await make_geocoder()
    with capture_logs() as logs, pytest.raises(GeocodingUnavailable):
        await geocoder.geocode(**_address(unique))
    assert fake_maps.calls() == calls
    geocoding_logs = [e for e in logs if e["event"].startswith("geocoding_")]
    assert [e["log_level"] for e in geocoding_logs] == [level]
    assert "test-key" not in repr(logs)  # the key never reaches the logs


async def test_slow_provider_times_out_within_the_deadline(
    make_geocoder: MakeGeocoder, fake_maps: FakeGoogleMaps, unique: str
) -> None:
    fake_maps.mode = "slow"
    geocoder = await make_geocoder()
    started = time.monotonic()
    with pytest.raises(GeocodingUnavailable, match="timeout"):
        await geocoder.geocode(**_address(unique))
    elapsed = time.monotonic() - started
    # per-attempt timeout 0.3 s; no new attempt after 2 x timeout: well under the 1.5 s sleep
    assert elapsed < 1.2
    assert 1 <= fake_maps.calls() <= 3


async def test_retry_on_5xx_then_success(
    make_geocoder: MakeGeocoder, fake_maps: FakeGoogleMaps, unique: str
) -> None:
    fake_maps.queue("http_500", "unknown_error")
    geocoder = await make_geocoder()
    result = await geocoder.geocode(**_address(unique))
    assert result is not None
    assert fake_maps.calls() == 3


async def test_breaker_opens_after_failures_then_half_opens(
    make_geocoder: MakeGeocoder, fake_maps: FakeGoogleMaps, unique: str
) -> None:
    geocoder = await make_geocoder(
        max_attempts=1, breaker_failure_threshold=2, breaker_reset_seconds=0.3
    )
    fake_maps.mode = "http_500"
    for i in range(2):
        with pytest.raises(GeocodingUnavailable):
            await geocoder.geocode(**_address(f"{unique}-{i}"))
    assert geocoder.client.breaker.state is BreakerState.OPEN
    with pytest.raises(GeocodingUnavailable, match="circuit_open"):
        await geocoder.geocode(**_address(f"{unique}-open"))
    assert fake_maps.calls() == 2  # refused without a request
    await asyncio.sleep(0.35)
    assert geocoder.client.breaker.state is BreakerState.HALF_OPEN
    fake_maps.mode = "ok"
    assert await geocoder.geocode(**_address(f"{unique}-probe")) is not None
    assert fake_maps.calls() == 3
    assert geocoder.client.breaker.state is BreakerState.CLOSED


async def test_cache_hit_avoids_a_second_call(
    make_geocoder: MakeGeocoder,
    fake_maps: FakeGoogleMaps,
    real_redis: aioredis.Redis,
    unique: str,
) -> None:
    geocoder = await make_geocoder()
    first = await geocoder.geocode(**_address(unique))
    # Another spelling of the same address: "Str." and different case/spacing.
    second = await geocoder.geocode(
        street=f"INVALIDENSTR.  {unique}", house_number="117", postal_code="10115", city="berlin"
    )
    assert second == first
    assert fake_maps.calls() == 1
    key = cache_key(normalize_address(**_address(unique)))
    assert await real_redis.ttl(key) > 29 * 86400


async def test_no_such_address_is_cached_briefly(
    make_geocoder: MakeGeocoder,
    fake_maps: FakeGoogleMaps,
    real_redis: aioredis.Redis,
    unique: str,
) -> None:
    fake_maps.mode = "zero_results"
    geocoder = await make_geocoder(negative_cache_ttl_seconds=120)
    assert await geocoder.geocode(**_address(unique)) is None
    assert await geocoder.geocode(**_address(unique)) is None
    assert fake_maps.calls() == 1
    key = cache_key(normalize_address(**_address(unique)))
    assert 0 < await real_redis.ttl(key) <= 120


async def test_unavailability_is_not_cached(
    make_geocoder: MakeGeocoder, fake_maps: FakeGoogleMaps, unique: str
) -> None:
    geocoder = await make_geocoder(max_attempts=1)
    fake_maps.queue("over_query_limit")
    with pytest.raises(GeocodingUnavailable):
        await geocoder.geocode(**_address(unique))
    assert await geocoder.geocode(**_address(unique)) is not None
    assert fake_maps.calls() == 2


async def test_quota_exhaustion_is_unavailable_without_calling(
    make_geocoder: MakeGeocoder, fake_maps: FakeGoogleMaps, unique: str
) -> None:
    geocoder = await make_geocoder(quota_requests=1, quota_window_seconds=60)
    assert await geocoder.geocode(**_address(f"{unique}-a")) is not None
    with pytest.raises(GeocodingUnavailable, match="quota_exceeded"):
        await geocoder.geocode(**_address(f"{unique}-b"))
    assert fake_maps.calls() == 1
    labels = {"dependency": f"google_geocoding_{unique}", "outcome": "quota_exceeded"}
    assert REGISTRY.get_sample_value("sichrplace_outbound_requests_total", labels) == 1


async def test_geocodes_without_redis(
    make_geocoder: MakeGeocoder, fake_maps: FakeGoogleMaps, unique: str
) -> None:
    """Redis down: no cache and no quota bookkeeping, but geocoding still works."""
    from tests.fakes.server import free_port

    dead = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.2, socket_connect_timeout=0.2
    )
    try:
        geocoder = await make_geocoder(redis=dead, quota_requests=100)
        started = time.monotonic()
        for _ in range(3):
            assert await geocoder.geocode(**_address(unique)) is not None
        assert fake_maps.calls() == 3  # nothing cached
        assert time.monotonic() - started < 2.0
    finally:
        await dead.aclose()


async def test_key_from_a_mounted_secret_file_wins(
    make_geocoder: MakeGeocoder, fake_maps: FakeGoogleMaps, unique: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "maps-key"
    key_file.write_text("file-key-" + "x" * 30 + "\n")
    geocoder = await make_geocoder(api_key_file=key_file)
    await geocoder.geocode(**_address(unique))
    assert fake_maps.requests[0]["key"] == "file-key-" + "x" * 30


async def test_production_refuses_a_missing_or_default_key(fake_maps: FakeGoogleMaps) -> None:
    production = SecretsProvider("production")
    for key in (None, DEV_API_KEY, "too-short"):
        settings = MapsSettings(base_url=fake_maps.url, api_key=key)
        with pytest.raises(InsecureSecretError, match="SICHRPLACE_MAPS_API_KEY"):
            GoogleGeocoder(settings, redis=None, secrets=production)
    strong = MapsSettings(base_url=fake_maps.url, api_key="AIza" + "k" * 35)
    geocoder = GoogleGeocoder(strong, redis=None, secrets=production)
    await geocoder.aclose()


async def test_development_falls_back_to_the_dev_key(
    fake_maps: FakeGoogleMaps, unique: str
) -> None:
    settings = MapsSettings(base_url=fake_maps.url, timeout_seconds=1)
    geocoder = GoogleGeocoder(
        settings, redis=None, secrets=SecretsProvider("development"), dependency=f"dev{unique}"
    )
    try:
        assert await geocoder.geocode(**_address(unique)) is not None
    finally:
        await geocoder.aclose()
    assert fake_maps.requests[0]["key"] == DEV_API_KEY
