"""The near tier: a per-process copy of recently read cache values, in front of Redis.

A hit here costs a dictionary lookup instead of a Redis round trip (which was the largest
single cost of a cached read after the framework itself). It is only trusted while this
process hears every invalidation:

- Every change to the cache (a key invalidated, a domain's generation bumped, a value
  refreshed after a write) is announced on one Redis pub/sub channel after Redis holds the
  new state, by whichever process made it (API instances, job workers, the seeder).
- Each API process listens on that channel and drops what it hears about. While it is not
  subscribed (at start-up, after a lost connection, with Redis down) the tier is off and
  empty; when the subscription is (re)confirmed it starts again from nothing, because
  announcements made in between were missed.
- A value read from Redis is kept only if no announcement for its domain arrived while it was
  being read (an "epoch" per domain), so a read that raced a change cannot outlive it.
- Every entry also expires after a TTL, which bounds staleness even if an announcement were
  lost on a connection that failed silently. Expiries are spread over the second half of the
  TTL: keys filled together (a warm-up, a restart) must not all go back to Redis at once,
  which showed as a p95 spike every TTL under load.

Pub/sub delivery takes well under a millisecond on the same network, so another instance sees
a change about as soon as Redis does; the instance that made the change drops its own copy
before it returns.
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
        ttls: Mapping[str, float],
        max_bytes: int,
    ) -> None:
        self.redis = redis
        self.channel = channel
        self._ttls = dict(ttls)
        self._max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._epochs: dict[str, int] = {}
        self._live = False
        self.subscriptions = 0  # confirmed (re)subscriptions: each one started from nothing
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    @property
    def live(self) -> bool:
        return self._live

    # -- reads --------------------------------------------------------------------------------

    def get(self, domain: str, key: str) -> bytes | None:
        if not self._live:
            return None
        entry = self._entries.get((domain, key))
        if entry is None:
            return None
        expires, value = entry
        if time.monotonic() >= expires:
            self._discard((domain, key))
            return None
        self._entries.move_to_end((domain, key))
        CACHE_NEAR_HITS.labels(domain).inc()
        return value

    def epoch(self, domain: str) -> int:
        """Take before reading Redis; pass to `put` (which then keeps the value only if
        nothing about the domain was heard in between)."""
        return self._epochs.get(domain, 0)

    def put(self, domain: str, key: str, value: bytes, epoch: int) -> None:
        ttl = self._ttls.get(domain, 0.0)
        if not self._live or ttl <= 0 or self._epochs.get(domain, 0) != epoch:
            return
        if len(value) > self._max_bytes // 8:
            return  # one oversized value must not flush everything else
        self._discard((domain, key))
        lifetime = ttl * (1 - _SPREAD * random.random())
        self._entries[(domain, key)] = (time.monotonic() + lifetime, value)
        self._bytes += len(value)
        while self._bytes > self._max_bytes:
            _, (_, oldest) = self._entries.popitem(last=False)
            self._bytes -= len(oldest)

    # -- changes ------------------------------------------------------------------------------

    def drop(self, domain: str, key: str | None = None) -> None:
        """Forget one key (or the whole domain) here, now."""
        self._epochs[domain] = self._epochs.get(domain, 0) + 1
        if key is not None:
            self._discard((domain, key))
            return
        for entry_key in [k for k in self._entries if k[0] == domain]:
            self._discard(entry_key)

    async def announce(self, domain: str, key: str | None = None) -> None:
        """Tell every process (this one too) to drop its copy: call after Redis holds the
        new state. Raises what Redis raises; the caller decides what a lost one means."""
        message = domain.encode() if key is None else domain.encode() + _SEPARATOR + key.encode()
        await self.redis.publish(self.channel, message)

    def _discard(self, entry_key: tuple[str, str]) -> None:
        entry = self._entries.pop(entry_key, None)
        if entry is not None:
            self._bytes -= len(entry[1])

    def _reset(self) -> None:
        self._entries.clear()
        self._bytes = 0
        for domain in list(self._epochs) + list(self._ttls):
            self._epochs[domain] = self._epochs.get(domain, 0) + 1

    def _set_live(self, live: bool) -> None:
        self._reset()
        self._live = live
        CACHE_NEAR_LIVE.set(1 if live else 0)

    # -- listening ----------------------------------------------------------------------------

    def start(self) -> None:
        """Listen for announcements in the background; the tier is used once subscribed."""
        if self._listener is None and any(ttl > 0 for ttl in self._ttls.values()):
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
