"""Fixed-window counters in Redis, kept by the `limits` library (docs/adr/0007).

A window starts at a subject's first hit and its key expires with it. Every instance of the
API shares the counters, so a limit holds across the load balancer. Redis trouble never
turns into an error for the caller: the limiter fails open (allows) and logs, because
refusing every login while Redis restarts is worse than a short unthrottled gap.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import structlog
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

_REDIS_FAILURES = (RedisError, OSError, TimeoutError)
# A counter's decrement that keeps its expiry and neither creates a key nor goes below zero.
_REFUND = (
    "local n = tonumber(redis.call('get', KEYS[1]) or '0')"
    " if n <= 0 then return 0 end"
    " return redis.call('decrby', KEYS[1], math.min(n, tonumber(ARGV[1])))"
)
KEY_PREFIX = "ratelimit"

# A storage costs ~0.2 ms to build (it probes for optional Redis clients), so each of our
# clients gets one, sharing our connection pool; it goes when the client does.
_storages: weakref.WeakKeyDictionary[aioredis.Redis, RedisStorage] = weakref.WeakKeyDictionary()


def limits_storage(redis: aioredis.Redis) -> RedisStorage:
    """The `limits` storage that counts in this client's Redis (through its pool)."""
    storage = _storages.get(redis)
    if storage is None:
        options: dict[str, Any] = {"connection_pool": redis.connection_pool}
        storage = RedisStorage(
            "async+redis://", implementation="redispy", key_prefix=KEY_PREFIX, **options
        )
        _storages[redis] = storage
    return storage


async def seconds_left(storage: RedisStorage, key: str) -> int:
    """Whole seconds until the counter `key` expires (0 if it has gone)."""
    return max(0, round(await storage.get_expiry(key) - time.time()))


@dataclass(frozen=True)
class Decision:
    """The outcome of a check or hit: `retry_after` is seconds until a refused subject may
    try again (0 when allowed)."""

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
        self.item: RateLimitItem = RateLimitItemPerSecond(limit, window_seconds, namespace=name)
        self._storage = limits_storage(redis)

    def key(self, subject: str) -> str:
        """The Redis key of the subject's counter."""
        return self._storage.bridge.prefixed_key(self.item.key_for(subject))

    def _open(self, exc: BaseException) -> Decision:
        log.warning("ratelimit_unavailable", limiter=self.name, error=repr(exc)[:200])
        return Decision(allowed=True, count=0, limit=self.limit, retry_after=0)

    async def _refused(self, key: str, count: int) -> Decision:
        # One more round trip, only for a refusal; a key that just expired: a whole window.
        left = await seconds_left(self._storage, key)
        return Decision(False, count, self.limit, left or self.window)

    async def hit(self, subject: str, amount: int = 1) -> Decision:
        """Count `amount` hits; allowed while the window's total stays within the limit."""
        key = self.item.key_for(subject)
        try:
            # The storage's atomic increment (what the library's own `hit` compares): the
            # count itself is part of the decision.
            count = await self._storage.incr(key, self.item.get_expiry(), amount)
            if count <= self.limit:
                return Decision(True, count, self.limit, 0)
            return await self._refused(key, count)
        except _REDIS_FAILURES as exc:
            return self._open(exc)

    async def refund(self, subject: str, amount: int = 1) -> None:
        """Give back `amount` hits counted by `hit` for what turned out not to count (e.g. a
        retry found stored). Never below zero, and never makes a window that has expired."""
        key = self.key(subject)
        try:
            await self.redis.eval(_REFUND, 1, key, str(amount))
        except _REDIS_FAILURES as exc:
            self._open(exc)

    async def check(self, subject: str) -> Decision:
        """Would one more hit be allowed? (Does not count.)"""
        key = self.item.key_for(subject)
        try:
            count = await self._storage.get(key)
            if count < self.limit:
                return Decision(True, count, self.limit, 0)
            return await self._refused(key, count)
        except _REDIS_FAILURES as exc:
            return self._open(exc)

    async def reset(self, subject: str) -> None:
        try:
            await self._storage.clear(self.item.key_for(subject))
        except _REDIS_FAILURES as exc:
            self._open(exc)
