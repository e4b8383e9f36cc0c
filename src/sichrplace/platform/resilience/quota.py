"""Redis-backed request budget per dependency: at most `limit` requests per fixed window.

Shared by every process (the budget is the provider's, not ours per instance). Fails open:
if Redis is unreachable the call is allowed, because losing our own bookkeeping must not
take a working dependency away; a small local breaker stops paying Redis's timeout on every
call while it is down.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
import structlog

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
        self.key_prefix = key_prefix
        self._store_breaker = CircuitBreaker(
            f"redis_quota:{dependency}", failure_threshold=3, reset_timeout=5.0
        )

    @property
    def enabled(self) -> bool:
        return self.redis is not None and self.limit is not None and self.limit > 0

    def _key(self, now: float) -> tuple[str, float]:
        window = int(now // self.window_seconds)
        window_end = (window + 1) * self.window_seconds
        return f"{self.key_prefix}:{self.dependency}:{window}", window_end

    async def acquire(self) -> None:
        """Spend one request of the budget, or raise QuotaExceeded (never for a Redis failure)."""
        if not self.enabled:
            return
        assert self.redis is not None
        assert self.limit is not None
        now = time.time()
        key, window_end = self._key(now)
        try:
            self._store_breaker.acquire()
        except CircuitOpen:
            QUOTA_STORE_ERRORS.labels(self.dependency).inc()
            return
        try:
            async with asyncio.timeout(self.op_timeout):
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, self.window_seconds * 2, nx=True)
                    count, _ = await pipe.execute()
        except Exception as exc:  # fail open: Redis down, slow, or erroring
            self._store_breaker.record_failure()
            QUOTA_STORE_ERRORS.labels(self.dependency).inc()
            log.warning("quota_store_unavailable", dependency=self.dependency, error=repr(exc))
            return
        self._store_breaker.record_success()
        if int(count) > self.limit:
            raise QuotaExceeded(
                self.dependency,
                f"{self.limit} requests per {self.window_seconds}s spent",
                retry_after=max(0.0, window_end - now),
            )

    async def used(self) -> int:
        """Requests counted in the current window (for tests and diagnostics)."""
        if self.redis is None:
            return 0
        key, _ = self._key(time.time())
        value = await self.redis.get(key)
        return int(value or 0)
