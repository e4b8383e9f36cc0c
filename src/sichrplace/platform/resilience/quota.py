"""Redis-backed request budget per dependency: at most `limit` requests per fixed window,
counted by the `limits` library (docs/adr/0007); a window starts at its first request.

Shared by every process (the budget is the provider's, not ours per instance). Fails open:
if Redis is unreachable the call is allowed, because losing our own bookkeeping must not
take a working dependency away; a small local breaker stops paying Redis's timeout on every
call while it is down.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
import structlog
from limits import RateLimitItemPerSecond
from limits.aio.strategies import FixedWindowRateLimiter

from sichrplace.platform.ratelimit.limiter import limits_storage, seconds_left
from sichrplace.platform.resilience.breaker import CircuitBreaker
from sichrplace.platform.resilience.errors import CircuitOpen, QuotaExceeded
from sichrplace.platform.resilience.metrics import QUOTA_STORE_ERRORS

log = structlog.get_logger(__name__)


class RedisQuota:
    def __init__(
        self,
        redis: aioredis.Redis | None,
        dependency: str,
        *,
        limit: int | None,
        window_seconds: int = 60,
        op_timeout: float = 0.25,
        key_prefix: str = "quota",
    ) -> None:
        self.redis = redis
        self.dependency = dependency
        self.limit = limit
        self.window_seconds = max(1, window_seconds)
        self.op_timeout = op_timeout
        self._item = RateLimitItemPerSecond(
            max(1, limit or 1), self.window_seconds, namespace=key_prefix
        )
        self._storage = limits_storage(redis) if redis is not None else None
        self._limiter = FixedWindowRateLimiter(self._storage) if self._storage is not None else None
        self._store_breaker = CircuitBreaker(
            f"redis_quota:{dependency}", failure_threshold=3, reset_timeout=5.0
        )

    @property
    def enabled(self) -> bool:
        return self._limiter is not None and self.limit is not None and self.limit > 0

    @property
    def key(self) -> str:
        """The Redis key of the current window's counter."""
        assert self._storage is not None
        return self._storage.bridge.prefixed_key(self._item.key_for(self.dependency))

    async def acquire(self) -> None:
        """Spend one request of the budget, or raise QuotaExceeded (never for a Redis failure)."""
        if not self.enabled:
            return
        assert self._limiter is not None
        try:
            self._store_breaker.acquire()
        except CircuitOpen:
            QUOTA_STORE_ERRORS.labels(self.dependency).inc()
            return
        try:
            async with asyncio.timeout(self.op_timeout):
                allowed = await self._limiter.hit(self._item, self.dependency)
                # One more round trip, only when refused.
                left = 0 if allowed else await self._seconds_left()
        except Exception as exc:  # fail open: Redis down, slow, or erroring
            self._store_breaker.record_failure()
            QUOTA_STORE_ERRORS.labels(self.dependency).inc()
            log.warning("quota_store_unavailable", dependency=self.dependency, error=repr(exc))
            return
        self._store_breaker.record_success()
        if not allowed:
            raise QuotaExceeded(
                self.dependency,
                f"{self.limit} requests per {self.window_seconds}s spent",
                retry_after=float(left or self.window_seconds),
            )

    async def _seconds_left(self) -> int:
        assert self._storage is not None
        return await seconds_left(self._storage, self._item.key_for(self.dependency))

    async def used(self) -> int:
        """Requests counted in the current window (for tests and diagnostics)."""
        if self._storage is None:
            return 0
        return await self._storage.get(self._item.key_for(self.dependency))
