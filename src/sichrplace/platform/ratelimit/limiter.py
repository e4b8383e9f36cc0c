"""Fixed-window counters in Redis: one key per (limiter, subject), expiring with its window.

Every instance of the API shares the counters, so a limit holds across the load balancer.
Redis trouble never turns into an error for the caller: the limiter fails open (allows) and
logs, because refusing every login while Redis restarts is worse than a short unthrottled gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

_REDIS_FAILURES = (RedisError, OSError, TimeoutError)


@dataclass(frozen=True)
class Decision:
    """The outcome of a check or hit: `retry_after` is seconds until the window ends."""

    allowed: bool
    count: int
    limit: int
    retry_after: int


class FixedWindowLimiter:
    """At most `limit` hits per `window_seconds` for each subject key."""

    def __init__(
        self, redis: aioredis.Redis, *, name: str, limit: int, window_seconds: int
    ) -> None:
        self.redis = redis
        self.name = name
        self.limit = limit
        self.window = window_seconds

    def key(self, subject: str) -> str:
        return f"ratelimit:{self.name}:{subject}"

    def _open(self, exc: BaseException) -> Decision:
        log.warning("ratelimit_unavailable", limiter=self.name, error=repr(exc)[:200])
        return Decision(allowed=True, count=0, limit=self.limit, retry_after=0)

    def _ttl(self, ttl: int) -> int:
        return ttl if ttl > 0 else self.window

    async def hit(self, subject: str, amount: int = 1) -> Decision:
        """Count `amount` hits; allowed while the window's total stays within the limit."""
        key = self.key(subject)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(key, 0, ex=self.window, nx=True)
                pipe.incrby(key, amount)
                pipe.ttl(key)
                _, count, ttl = await pipe.execute()
        except _REDIS_FAILURES as exc:
            return self._open(exc)
        count = int(count)
        return Decision(count <= self.limit, count, self.limit, self._ttl(int(ttl)))

    async def check(self, subject: str) -> Decision:
        """Would one more hit be allowed? (Does not count.)"""
        key = self.key(subject)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.get(key)
                pipe.ttl(key)
                raw, ttl = await pipe.execute()
        except _REDIS_FAILURES as exc:
            return self._open(exc)
        count = int(raw or 0)
        allowed = count < self.limit
        return Decision(allowed, count, self.limit, 0 if allowed else self._ttl(int(ttl)))

    async def reset(self, subject: str) -> None:
        try:
            await self.redis.delete(self.key(subject))
        except _REDIS_FAILURES as exc:
            self._open(exc)
