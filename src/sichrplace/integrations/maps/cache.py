"""Redis cache of geocoding answers, keyed by the normalised address (fail-open).

Positive answers live long (addresses do not move); "no such address" answers briefly, so
a typo does not cost a provider call on every retry but a newly built street appears soon.
Failures are never cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
from typing import Final

import orjson
import redis.asyncio as aioredis
import structlog

from sichrplace.integrations.maps.types import GeocodeResult
from sichrplace.platform.resilience import CircuitBreaker, CircuitOpen

log = structlog.get_logger(__name__)

KEY_PREFIX: Final = "geocode:v1:"
_MISS: Final = object()
_STREET_ABBREV = re.compile(r"str\.?(?=\s|$|,)")
_SPACES = re.compile(r"\s+")


def normalize_address(street: str, house_number: str, postal_code: str, city: str) -> str:
    """One spelling per address: NFKC, casefold (ß -> ss), 'Str.' -> 'strasse', single spaces."""

    def norm(part: str) -> str:
        text = unicodedata.normalize("NFKC", part).casefold().strip()
        text = _STREET_ABBREV.sub("strasse", text)
        return _SPACES.sub(" ", text)

    return "|".join(
        (norm(street), norm(house_number).replace(" ", ""), postal_code.strip(), norm(city), "de")
    )


def cache_key(normalized: str) -> str:
    return KEY_PREFIX + hashlib.sha256(normalized.encode()).hexdigest()


class GeocodeCache:
    def __init__(
        self,
        redis: aioredis.Redis | None,
        *,
        ttl_seconds: int,
        negative_ttl_seconds: int,
        op_timeout: float = 0.25,
    ) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds
        self.negative_ttl_seconds = negative_ttl_seconds
        self.op_timeout = op_timeout
        # While Redis is down, skip it instead of paying its timeout on every geocode.
        self._breaker = CircuitBreaker("redis_geocode_cache", failure_threshold=3, reset_timeout=5)

    def _usable(self) -> bool:
        try:
            self._breaker.acquire()
        except CircuitOpen:
            return False
        return True

    async def get(self, key: str) -> GeocodeResult | object | None:
        """The cached answer (a result or None), or `MISS`."""
        if self.redis is None or not self._usable():
            return _MISS
        try:
            async with asyncio.timeout(self.op_timeout):
                raw = await self.redis.get(key)
        except Exception as exc:
            self._breaker.record_failure()
            log.warning("geocode_cache_unavailable", op="get", error=repr(exc))
            return _MISS
        self._breaker.record_success()
        if raw is None:
            return _MISS
        try:
            data = orjson.loads(raw)
            if data.get("none"):
                return None
            return GeocodeResult(
                latitude=float(data["lat"]),
                longitude=float(data["lng"]),
                formatted_address=str(data["addr"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return _MISS

    async def set(self, key: str, result: GeocodeResult | None) -> None:
        if self.redis is None or not self._usable():
            return
        if result is None:
            payload, ttl = orjson.dumps({"none": True}), self.negative_ttl_seconds
        else:
            payload = orjson.dumps(
                {"lat": result.latitude, "lng": result.longitude, "addr": result.formatted_address}
            )
            ttl = self.ttl_seconds
        try:
            async with asyncio.timeout(self.op_timeout):
                await self.redis.set(key, payload, ex=max(1, ttl))
        except Exception as exc:
            self._breaker.record_failure()
            log.warning("geocode_cache_unavailable", op="set", error=repr(exc))
            return
        self._breaker.record_success()


def is_miss(value: object) -> bool:
    return value is _MISS
