"""Growing delays in Redis: after `free` failures a subject waits, and each further failure
doubles the wait (base, 2 x base, 4 x base, ... up to `max_delay`).

A subject's failure count is forgotten `memory_seconds` after its last failure. Each
operation is one round trip and atomic on the server (a Lua script), so concurrent failures
from many API instances are counted exactly and the longest wait wins. Like the fixed
window, it fails open when Redis is down (logged).
"""

from __future__ import annotations

import math

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from sichrplace.platform.ratelimit.limiter import Decision

log = structlog.get_logger(__name__)

_REDIS_FAILURES = (RedisError, OSError, TimeoutError)
KEY_PREFIX = "ratelimit:delay:"

# KEYS[1] the failure count, KEYS[2] the block (its TTL is the wait). ARGV: memory s, free,
# base s, max s. Returns {count, wait s}; a running block is never shortened.
_FAIL = """
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
local free = tonumber(ARGV[2])
if n <= free then return {n, 0} end
local wait = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ (n - free - 1))
wait = math.max(1, math.floor(wait))
local left = redis.call('TTL', KEYS[2])
if left < wait then redis.call('SET', KEYS[2], n, 'EX', wait) else wait = left end
return {n, wait}
"""


def delay_seconds(count: int, *, free: int, base: float, max_delay: int) -> int:
    """The wait after the `count`-th failure (0 while within `free`); the script's formula."""
    if count <= free:
        return 0
    exponent = min(count - free - 1, 62)  # 2**62 s is past any cap
    return max(1, math.floor(min(float(max_delay), base * 2.0**exponent)))


class GrowingDelay:
    """Per-subject growing delays after repeated failures."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        name: str,
        free: int,
        base_seconds: float,
        max_delay_seconds: int,
        memory_seconds: int,
    ) -> None:
        self.redis = redis
        self.name = name
        self.free = free
        self.base = base_seconds
        self.max_delay = max_delay_seconds
        self.memory = max(memory_seconds, max_delay_seconds)
        self._fail = redis.register_script(_FAIL)

    def keys(self, subject: str) -> tuple[str, str]:
        """The Redis keys of the subject's failure count and of its block."""
        base = f"{KEY_PREFIX}{self.name}:{subject}"
        return f"{base}:n", f"{base}:block"

    def _open(self, exc: BaseException) -> Decision:
        log.warning("ratelimit_unavailable", limiter=self.name, error=repr(exc)[:200])
        return Decision(allowed=True, count=0, limit=self.free, retry_after=0)

    async def check(self, subject: str) -> Decision:
        """Is the subject free to try now? (Does not count.)"""
        try:
            left_ms = int(await self.redis.pttl(self.keys(subject)[1]))
        except _REDIS_FAILURES as exc:
            return self._open(exc)
        if left_ms > 0:
            return Decision(False, 0, self.free, math.ceil(left_ms / 1000))
        return Decision(True, 0, self.free, 0)

    async def fail(self, subject: str) -> Decision:
        """Count a failure; refused (with the wait) once the subject is past its free ones."""
        count_key, block_key = self.keys(subject)
        try:
            count, wait = await self._fail(
                keys=[count_key, block_key],
                args=[self.memory, self.free, self.base, self.max_delay],
            )
        except _REDIS_FAILURES as exc:
            return self._open(exc)
        return Decision(int(wait) == 0, int(count), self.free, int(wait))

    async def reset(self, subject: str) -> None:
        try:
            await self.redis.delete(*self.keys(subject))
        except _REDIS_FAILURES as exc:
            self._open(exc)
