"""Google Geocoding API client (https://developers.google.com/maps/documentation/geocoding).

`GET {base}/maps/api/geocode/json?address=..&components=postal_code:..|country:DE&key=..`
(+ `language=de`)
answers HTTP 200 with a JSON `status`:
  OK -> results[0].geometry.location.{lat,lng} + formatted_address
  ZERO_RESULTS -> None (cached briefly)
  UNKNOWN_ERROR -> transient: retried here, then GeocodingUnavailable
  OVER_QUERY_LIMIT / OVER_DAILY_LIMIT -> GeocodingUnavailable, not retried now (retrying
      inside the request would only spend more of a spent budget; the geocode job retries later)
  REQUEST_DENIED / INVALID_REQUEST -> GeocodingUnavailable, logged as an error (configuration)
5xx, 429 and timeouts are retried (GET is idempotent) and then become GeocodingUnavailable.
"""

from __future__ import annotations

from typing import Any, Final

import httpx
import orjson
import redis.asyncio as aioredis
import structlog

from sichrplace.config import MapsSettings, get_settings
from sichrplace.integrations.maps.cache import GeocodeCache, cache_key, is_miss, normalize_address
from sichrplace.integrations.maps.types import GeocodeResult, GeocodingUnavailable
from sichrplace.platform.resilience import (
    DependencyUnavailable,
    Policy,
    ResilientClient,
    Verdict,
)
from sichrplace.platform.secrets import SecretsProvider, provider_for

log = structlog.get_logger(__name__)

DEPENDENCY: Final = "google_geocoding"
API_KEY_NAME: Final = "SICHRPLACE_MAPS_API_KEY"
DEV_API_KEY: Final = "dev-maps-key"  # only outside production; the fake server accepts any key
GEOCODE_PATH: Final = "/maps/api/geocode/json"
_CONFIG_ERRORS: Final = frozenset({"REQUEST_DENIED", "INVALID_REQUEST"})
_QUOTA_ERRORS: Final = frozenset({"OVER_QUERY_LIMIT", "OVER_DAILY_LIMIT"})


def _status(response: httpx.Response) -> str:
    body = orjson.loads(response.content)
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(status, str):
        raise ValueError("no status in geocoding response")
    return status


def classify(response: httpx.Response) -> Verdict:
    """The resilience verdict for one geocoding answer (HTTP status, then JSON status)."""
    if response.status_code == 429 or response.status_code >= 500:
        return "retry"
    if response.status_code >= 400:
        return "client_error"
    status = _status(response)
    if status in ("OK", "ZERO_RESULTS"):
        return "success"
    if status == "UNKNOWN_ERROR":
        return "retry"
    if status in _CONFIG_ERRORS:
        return "client_error"  # the service is up; our request or key is wrong
    return "failure"  # quota statuses and anything undocumented


def parse_result(body: dict[str, Any]) -> GeocodeResult | None:
    results = body.get("results") or []
    if not results:
        return None
    first = results[0]
    location = first["geometry"]["location"]
    return GeocodeResult(
        latitude=float(location["lat"]),
        longitude=float(location["lng"]),
        formatted_address=str(first.get("formatted_address", "")),
    )


def policy_from(settings: MapsSettings) -> Policy:
    return Policy(
        timeout=settings.timeout_seconds,
        connect_timeout=settings.connect_timeout_seconds,
        max_attempts=settings.max_attempts,
        deadline=settings.timeout_seconds * 2,
        failure_threshold=settings.breaker_failure_threshold,
        reset_timeout=settings.breaker_reset_seconds,
        quota_limit=settings.quota_requests or None,
        quota_window_seconds=settings.quota_window_seconds,
    )


class GoogleGeocoder:
    """Implements the maps `Geocoder` interface against Google's Geocoding API."""

    def __init__(
        self,
        settings: MapsSettings,
        *,
        redis: aioredis.Redis | None,
        dependency: str = DEPENDENCY,
        transport: httpx.AsyncBaseTransport | None = None,
        secrets: SecretsProvider | None = None,
    ) -> None:
        self.settings = settings
        secrets = secrets or provider_for(get_settings())
        self._api_key = secrets.get(
            API_KEY_NAME,
            value=settings.api_key,
            file=settings.api_key_file,
            default=DEV_API_KEY,
            min_length=30,  # Google keys are 39 characters
        ).reveal()
        self.client = ResilientClient(
            dependency,
            policy=policy_from(settings),
            base_url=settings.base_url.rstrip("/"),
            redis=redis,
            transport=transport,
        )
        self.cache = GeocodeCache(
            redis,
            ttl_seconds=settings.cache_ttl_seconds,
            negative_ttl_seconds=settings.negative_cache_ttl_seconds,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def geocode(
        self, *, street: str, house_number: str, postal_code: str, city: str
    ) -> GeocodeResult | None:
        key = cache_key(normalize_address(street, house_number, postal_code, city))
        cached = await self.cache.get(key)
        if not is_miss(cached):
            assert cached is None or isinstance(cached, GeocodeResult)
            return cached
        result = await self._fetch(street, house_number, postal_code, city)
        await self.cache.set(key, result)
        return result

    async def _fetch(
        self, street: str, house_number: str, postal_code: str, city: str
    ) -> GeocodeResult | None:
        params = {
            "address": f"{street} {house_number}, {postal_code} {city}",
            "components": f"postal_code:{postal_code}|country:DE",
            "key": self._api_key,
            "language": "de",
        }
        try:
            response = await self.client.get(GEOCODE_PATH, params=params, classify=classify)
        except DependencyUnavailable as exc:
            status = _safe_status(exc.response)
            log.warning("geocoding_unavailable", reason=exc.reason, status=status)
            raise GeocodingUnavailable(f"{exc.reason}: {status or exc.detail}") from exc
        if response.status_code >= 400:
            log.error("geocoding_http_error", http_status=response.status_code)
            raise GeocodingUnavailable(f"HTTP {response.status_code}")
        body = orjson.loads(response.content)
        status = body["status"]
        if status in _CONFIG_ERRORS:
            log.error(
                "geocoding_request_rejected", status=status, message=body.get("error_message")
            )
            raise GeocodingUnavailable(status)
        try:
            return parse_result(body) if status == "OK" else None
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            log.error("geocoding_unparseable_result", error=repr(exc))
            raise GeocodingUnavailable("unparseable result") from exc


def _safe_status(response: httpx.Response | None) -> str | None:
    if response is None:
        return None
    try:
        return _status(response)
    except ValueError:
        return None
