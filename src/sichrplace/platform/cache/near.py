"""The near tier: a per-process copy of recently read cache values, in front of Redis.

A hit here costs a dictionary lookup instead of a Redis round trip (the largest cost of a
cached read after the framework: ADR 0003). It is only trusted while this process hears every
invalidation:

- Every change to the cache (a key invalidated, a domain's generation bumped, a value
  refreshed after a write) is announced on one Redis pub/sub channel after Redis holds the
  new state, by whichever process made it (API instances, job workers, the seeder).
- Each API process listens on that channel and drops what it hears about. While it is not
  subscribed (at start-up, after a lost connection, with Redis down) the tier is off and
  empty; when the subscription is (re)confirmed it starts again from nothing, because
  announcements made in between were missed.
- A value read from Redis is kept only if no announcement for its domain arrived while it was
  being read (an "epoch" per domain), so a read that raced a change cannot outlive it.
- A copy read after its domain's TTL (spread over 50-100 % of it, so keys filled together do
  not come due together) still answers, and the caller re-reads the key from Redis in the
  background (refresh-ahead; Redis's own rules then apply: a fresh value replaces the copy, an
  expired one is recomputed under the lease). So a key that is read at all never makes a
  request wait for Redis, which under full load takes several turns of a busy event loop
  (why plain TTLs were not enough: ADR 0003, docs/performance-log.md round 4).
- Every copy is dropped after a maximum age whatever happens, a last bound for an
  announcement lost on a connection that failed without an error (the client's health check
  finds a dead connection within 30 s, and the resubscription then empties the tier).

Another instance hears of a change about as soon as Redis holds it (pub/sub, ADR 0003); the
instance that made the change drops its own copy before it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import OrderedDict
from collections.abc import Mapping

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from sichrplace.platform.cache.metrics import CACHE_NEAR_HITS, CACHE_NEAR_LIVE

log = structlog.get_logger(__name__)

_SEPARATOR = b"\x00"
_RECONNECT_S = 1.0
_POLL_S = 1.0
_SPREAD = 0.5


class NearCache:
    """Recently read values of this process, dropped on every announced change."""

    def __init__(
        self,
        redis: aioredis.Redis,
        channel: str,
        *,
        refresh_after: Mapping[str, float],
        max_age: float,
        max_bytes: int,
    ) -> None:
        self.redis = redis
        self.channel = channel
        self._refresh_after = dict(refresh_after) if max_age > 0 else {}
        self._max_age = max_age
        self._max_bytes = max_bytes
        # (domain, key) -> (refresh at, expires at, domain generation, JSON text), least
        # recently used first. A copy of an older generation of its domain is dropped when
        # read (or evicted), so dropping a whole domain costs nothing per copy.
        self._entries: OrderedDict[tuple[str, str], tuple[float, float, int, bytes]] = OrderedDict()
        self._bytes = 0
        self._generations: dict[str, int] = {}
        self._epochs: dict[str, int] = {}
        self._live = False
        self.subscriptions = 0  # confirmed (re)subscriptions: each one started from nothing
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    @property
    def live(self) -> bool:
        return self._live

    # -- reads --------------------------------------------------------------------------------

    def get(self, domain: str, key: str) -> tuple[bytes, bool] | None:
        """The value, and whether it is due to be re-read from Redis (in the background)."""
        if not self._live:
            return None
        entry = self._entries.get((domain, key))
        if entry is None:
            return None
        refresh_at, expires, generation, value = entry
        now = time.monotonic()
        if now >= expires or generation != self._generations.get(domain, 0):
            self._discard((domain, key))
            return None
        self._entries.move_to_end((domain, key))
        CACHE_NEAR_HITS.labels(domain).inc()
        return value, now >= refresh_at

    def epoch(self, domain: str) -> int:
        """Take before reading Redis; pass to `put` (which then keeps the value only if
        nothing about the domain was heard in between)."""
        return self._epochs.get(domain, 0)

    def put(self, domain: str, key: str, value: bytes, epoch: int) -> None:
        ttl = self._refresh_after.get(domain, 0.0)
        if not self._live or ttl <= 0 or self._epochs.get(domain, 0) != epoch:
            return
        if len(value) > self._max_bytes // 8:
            return  # one oversized value must not flush everything else
        self._discard((domain, key))
        now = time.monotonic()
        refresh_at = now + ttl * (1 - _SPREAD * random.random())
        generation = self._generations.get(domain, 0)
        self._entries[(domain, key)] = (refresh_at, now + self._max_age, generation, value)
        self._bytes += len(value)
        while self._bytes > self._max_bytes:
            _, (_, _, _, oldest) = self._entries.popitem(last=False)
            self._bytes -= len(oldest)

    # -- changes ------------------------------------------------------------------------------

    def drop(self, domain: str, key: str | None = None) -> None:
        """Forget one key (or the whole domain) here, now."""
        self._epochs[domain] = self._epochs.get(domain, 0) + 1
        if key is not None:
            self._discard((domain, key))
        else:  # every listing write bumps search, facets and popular: O(1), not per copy
            self._generations[domain] = self._generations.get(domain, 0) + 1

    async def announce(self, domain: str, key: str | None = None) -> None:
        """Tell every process (this one too) to drop its copy: call after Redis holds the
        new state. Raises what Redis raises; the caller decides what a lost one means."""
        message = domain.encode() if key is None else domain.encode() + _SEPARATOR + key.encode()
        await self.redis.publish(self.channel, message)

    def _discard(self, entry_key: tuple[str, str]) -> None:
        entry = self._entries.pop(entry_key, None)
        if entry is not None:
            self._bytes -= len(entry[3])

    def _reset(self) -> None:
        self._entries.clear()
        self._bytes = 0
        for domain in list(self._epochs) + list(self._refresh_after):
            self._epochs[domain] = self._epochs.get(domain, 0) + 1

    def _set_live(self, live: bool) -> None:
        self._reset()
        self._live = live
        CACHE_NEAR_LIVE.set(1 if live else 0)

    # -- listening ----------------------------------------------------------------------------

    def start(self) -> None:
        """Listen for announcements in the background; the tier is used once subscribed."""
        if self._listener is None and self._refresh_after:
            self._listener = asyncio.create_task(self._listen(), name="cache-near-listener")

    async def wait_live(self, within: float) -> bool:
        """Wait (at most `within` seconds) until the subscription is confirmed; whether it is."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._subscribed.wait()
        return self._live

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        self._set_live(False)

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=_POLL_S)
                    if message is not None:
                        self._hear(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                if self._live:
                    log.warning("cache_near_listener_lost", error=repr(exc)[:200])
            finally:
                self._set_live(False)
                self._subscribed.clear()
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(_RECONNECT_S)

    def _hear(self, message: Mapping[str, object]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            # (Re)confirmed, possibly after a reconnect (the client resubscribes by itself)
            # that missed announcements: start from nothing.
            self._set_live(True)
            self.subscriptions += 1
            self._subscribed.set()
            if self.subscriptions > 1:
                log.info("cache_near_resubscribed", channel=self.channel)
            return
        if kind != "message":
            return
        data = message.get("data")
        if not isinstance(data, bytes):
            return
        domain, sep, key = data.partition(_SEPARATOR)
        self.drop(domain.decode(), key.decode() if sep else None)
