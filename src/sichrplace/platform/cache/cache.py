"""Cache-aside on Redis: per-domain TTLs, stampede protection, fail-open, after-commit
invalidation and write-through refresh (docs/adr/0003-listings-read-path.md).

In front of Redis, each API process keeps a near tier of values it read recently
(platform/cache/near.py), trusted only while it hears every change announced on pub/sub.

Stampede protection has two layers: an in-process single-flight (concurrent callers of one key
in this process share one task) and a Redis lease (one process computes, the others poll for
its result). Redis trouble never fails a request: every call has a short timeout, a failure
opens a circuit for a few seconds during which the cache is skipped, and values are then
computed directly.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal, TypeVar

import orjson
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from sichrplace.config import CacheSettings
from sichrplace.kit import jsonbody
from sichrplace.platform.cache import scripts
from sichrplace.platform.cache.metrics import CACHE_REDIS_ERRORS, CACHE_REQUESTS
from sichrplace.platform.cache.near import NearCache
from sichrplace.platform.observability import tracing

log = structlog.get_logger(__name__)

T = TypeVar("T")
Compute = Callable[[], Awaitable[Any]]
ReadState = Literal["hit", "lease", "wait", "stale"]

REDIS_FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
_POLL_START_S = 0.005
_POLL_MAX_S = 0.05


class RedisUnavailable(Exception):
    """The cache's Redis failed or timed out (or its circuit is open)."""


class Cache:
    """Redis cache-aside for JSON values; see the module docstring."""

    def __init__(
        self, redis: aioredis.Redis, settings: CacheSettings, *, prefix: str = "cache:"
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.prefix = prefix
        self._ttls = settings.ttls()
        self._flights: dict[tuple[str, str], asyncio.Task[Any]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._open_until = 0.0
        self._read = redis.register_script(scripts.READ)
        self._fill = redis.register_script(scripts.FILL)
        self._release = redis.register_script(scripts.RELEASE)
        self._invalidate = redis.register_script(scripts.INVALIDATE)
        self._take_lease = redis.register_script(scripts.TAKE_LEASE)
        self.near = NearCache(
            redis,
            f"{prefix}changes",
            refresh_after=self._ttls if settings.enabled else {},
            max_age=settings.near_max_age_seconds,
            max_bytes=settings.near_max_mb * 1024 * 1024,
        )
        self._refreshing = 0  # background re-reads of due near copies in flight

    def start(self) -> None:
        """Start listening for changes (then reads may use the near tier). Only processes that
        serve reads call this; any Cache announces its changes."""
        self.near.start()

    # -- public API ---------------------------------------------------------------------------

    async def get_or_compute(
        self, domain: str, key: str, compute: Callable[[], Awaitable[T]], *, bypass: bool = False
    ) -> T:
        """The cached value of (domain, key), computing and storing it on a miss.

        `compute` must return a JSON-serialisable value; what comes back is always the JSON
        round trip of it (the same shape on a hit and on a miss).
        """
        return orjson.loads(  # type: ignore[no-any-return]
            await self.get_or_compute_json(domain, key, compute, bypass=bypass)
        )

    async def get_or_compute_json(
        self, domain: str, key: str, compute: Compute, *, bypass: bool = False
    ) -> bytes:
        """`get_or_compute`, but the value as the JSON text the cache holds: a hit is handed
        on as stored, for responses that write it out unchanged (no parse and re-serialise)."""
        ttl = self.ttl(domain)
        if bypass or not self.settings.enabled:
            CACHE_REQUESTS.labels(domain, "bypass").inc()
            return jsonbody.dumps(await compute())
        near = self.near.get(domain, key)
        if near is not None:
            value, due = near
            if due:
                self._refresh_ahead(domain, key, compute, ttl)
            CACHE_REQUESTS.labels(domain, "hit").inc()
            return value
        task = self._flights.get((domain, key))
        if task is not None:
            CACHE_REQUESTS.labels(domain, "coalesced").inc()
        else:
            task = self._flight(domain, key, compute, ttl)
        # shield: one impatient caller (client gone) must not cancel the others' computation.
        return await asyncio.shield(task)

    def _refresh_ahead(self, domain: str, key: str, compute: Compute, ttl: float) -> None:
        """Re-read a due near copy in the background (nobody waits for it). A few at a time:
        copies that came due while nobody read them (idle minutes) are all read again at once
        when traffic returns, and must not take every Redis connection."""
        limit = self.settings.near_refresh_concurrency
        if (domain, key) in self._flights or self._refreshing >= limit:
            return  # a later hit on the copy tries again
        self._refreshing += 1
        self._flight(domain, key, compute, ttl, ahead=True).add_done_callback(self._refreshed)

    def _refreshed(self, _: asyncio.Task[bytes]) -> None:
        self._refreshing -= 1

    def _flight(
        self, domain: str, key: str, compute: Compute, ttl: float, *, ahead: bool = False
    ) -> asyncio.Task[bytes]:
        """Load (domain, key) in a task that later callers of this process join."""
        flight_key = (domain, key)
        task = asyncio.create_task(self._load(domain, key, compute, ttl, ahead=ahead))
        self._flights[flight_key] = task
        task.add_done_callback(lambda t: self._flight_done(flight_key, t))
        return task

    async def invalidate(self, domain: str, key: str, *, again_after: float | None = None) -> None:
        """Drop one key now, and once more a little later (see `_again_after`)."""
        self.ttl(domain)
        self._forget_local(domain, key)
        await self._invalidate_now(domain, key, "all")
        self._later(
            self._again_after(again_after), lambda: self._invalidate_now(domain, key, "replica")
        )

    async def refresh(self, domain: str, key: str, load: Callable[[], Awaitable[Any]]) -> None:
        """After a write: store a value read from an authoritative source (the primary), so
        the next reader does not fill the key from a replica that has not replayed the write.

        The key's lease is taken (revoking readers' leases) before `load` runs, and the value is
        stored only if the lease is still held: an invalidation or a later refresh meanwhile
        wins, so an older read never overwrites a newer state. If the cache cannot be reached
        the stale value may survive until its TTL (logged).
        """
        ttl = self.ttl(domain)
        self._forget_local(domain, key)
        if not self.settings.enabled:
            return
        token = f"p:{uuid.uuid4().hex}"  # "p:": the delayed invalidation leaves it alone
        prefix = f"{self.prefix}{domain}:"
        try:
            gen = await self._call(
                "lease",
                self._take_lease(
                    keys=[f"{prefix}gen"], args=[prefix, key, token, self.settings.lock_ttl_ms]
                ),
            )
        except RedisUnavailable:
            log.warning("cache_invalidation_lost", operation="refresh", domain=domain)
            return
        value_key = f"{prefix}{_text(gen)}:{key}"
        try:
            data = jsonbody.dumps(await load())
        except BaseException:
            await self._invalidate_now(domain, key, "all")  # the old value is stale now
            raise
        await self._store(value_key, token, ttl, data, from_primary=True)
        await self._announce(domain, key)

    async def bump(self, domain: str, *, again_after: float | None = None) -> None:
        """Invalidate every key of a domain at once (a new generation), now and a little later."""
        self.ttl(domain)
        self._forget_local(domain)
        await self._bump_now(domain)
        self._later(self._again_after(again_after), lambda: self._bump_now(domain))

    def _again_after(self, requested: float | None) -> float:
        """When to invalidate a second time: a reader may have refilled the key from a replica
        that had not replayed the write yet. Callers that know the replica's lag pass it.
        Values refreshed from the primary since the first invalidation are kept."""
        floor = self.settings.reinvalidate_after_seconds
        return floor if requested is None or floor <= 0 else max(floor, requested)

    def ttl(self, domain: str) -> float:
        try:
            return self._ttls[domain]
        except KeyError:
            raise ValueError(
                f"unknown cache domain {domain!r}: add its TTL to CacheSettings"
            ) from None

    def _ttl_ms(self, ttl: float) -> int:
        return max(1, int(ttl * 1000 * (1 + random.uniform(-1, 1) * self.settings.ttl_jitter)))

    def circuit_open(self) -> bool:
        return time.monotonic() < self._open_until

    async def aclose(self) -> None:
        """Stop listening; cancel pending delayed invalidations and background loads (app
        shutdown: the database they would use is closed next)."""
        await self.near.aclose()
        tasks = [*self._background, *self._flights.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- loading ------------------------------------------------------------------------------

    async def _load(
        self, domain: str, key: str, compute: Compute, ttl: float, *, ahead: bool = False
    ) -> bytes:
        # Near-copy hits get no span (an in-process lookup); whatever reaches Redis does.
        with tracing.span("cache.get_or_compute", {"cache.domain": domain, "cache.ahead": ahead}):
            return await self._load_now(domain, key, compute, ttl, ahead=ahead)

    async def _load_now(
        self, domain: str, key: str, compute: Compute, ttl: float, *, ahead: bool = False
    ) -> bytes:
        """Read (domain, key) from Redis, computing and storing it under the lease if needed.
        `ahead`: a background re-read of a near copy (its caller was counted as a hit already,
        so it counts nothing); an expired value is then recomputed within it (counted against
        the re-reads' limit), not in a further task."""

        def count(result: str) -> None:
            if not ahead:
                CACHE_REQUESTS.labels(domain, result).inc()

        if self.circuit_open():
            count("bypass")
            return jsonbody.dumps(await compute())
        token = uuid.uuid4().hex
        epoch = self.near.epoch(domain)
        try:
            gen, state, raw = await self._read_key(domain, key, token)
            if state == "wait":
                gen, state, raw = await self._wait_for_filler(domain, key, token)
        except RedisUnavailable:
            count("error")
            return jsonbody.dumps(await compute())
        value_key = f"{self.prefix}{domain}:{gen}:{key}"
        if state in ("hit", "stale"):
            # Only this class writes values, always as jsonbody.dumps output: handed on as is.
            count(state)
            if state == "stale" and ahead:
                await self._revalidate(domain, key, value_key, token, compute, ttl)
            elif state == "stale":
                self._spawn(self._revalidate(domain, key, value_key, token, compute, ttl))
            else:
                self.near.put(domain, key, raw, epoch)
            return raw
        count("miss")
        try:
            data = jsonbody.dumps(await compute())
        except BaseException:
            if state == "lease":
                await self._safe("release", self._release(keys=[f"{value_key}:lock"], args=[token]))
            raise
        if state == "lease" and await self._store(value_key, token, ttl, data, from_primary=False):
            self.near.put(domain, key, data, epoch)
        return data

    async def _revalidate(
        self, domain: str, key: str, value_key: str, token: str, compute: Compute, ttl: float
    ) -> None:
        """Refresh an expired value after its stale copy was served (under the lease)."""
        epoch = self.near.epoch(domain)
        try:
            data = jsonbody.dumps(await compute())
        except Exception as exc:  # the stale value stays until its window ends
            log.warning("cache_revalidate_failed", key=value_key, error=repr(exc)[:200])
            await self._safe("release", self._release(keys=[f"{value_key}:lock"], args=[token]))
            return
        if await self._store(value_key, token, ttl, data, from_primary=False):
            self.near.put(domain, key, data, epoch)

    async def _store(
        self, value_key: str, token: str, ttl: float, data: bytes, *, from_primary: bool
    ) -> bool:
        """Store `data` if the lease `token` is still held; whether it was stored."""
        stored = await self._safe(
            "fill",
            self._fill(
                keys=[value_key, f"{value_key}:lock", f"{value_key}:p", f"{value_key}:f"],
                args=[
                    token,
                    self._ttl_ms(ttl),
                    data,
                    "1" if from_primary else "",
                    int(self.settings.stale_while_revalidate_seconds * 1000),
                ],
            ),
            log_failure=from_primary,
        )
        return bool(stored)

    async def _read_key(self, domain: str, key: str, token: str) -> tuple[str, ReadState, bytes]:
        gen_key = f"{self.prefix}{domain}:gen"
        reply = await self._call(
            "read",
            self._read(
                keys=[gen_key],
                args=[f"{self.prefix}{domain}:", key, token, self.settings.lock_ttl_ms],
            ),
        )
        gen, state, raw = reply
        return _text(gen), _text(state), raw  # type: ignore[return-value]

    async def _wait_for_filler(
        self, domain: str, key: str, token: str
    ) -> tuple[str, ReadState, bytes]:
        """Poll while another process computes; take the lease if it is given up or revoked."""
        deadline = time.monotonic() + self.settings.lock_wait_ms / 1000
        delay = _POLL_START_S
        gen, state, raw = "0", "wait", b""
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX_S)
            gen, state, raw = await self._read_key(domain, key, token)
            if state != "wait":
                return gen, state, raw
        # The filler is too slow: compute ourselves, but do not store (no lease).
        return gen, "wait", raw

    def _forget_local(self, domain: str, key: str | None = None) -> None:
        """Before a change: this process drops its near copy, and later callers must not join
        a computation that started before the change (it may have read the old data); callers
        already waiting on it still get its result."""
        self.near.drop(domain, key)
        for flight_key in [k for k in self._flights if k[0] == domain and key in (None, k[1])]:
            del self._flights[flight_key]

    def _flight_done(self, flight_key: tuple[str, str], task: asyncio.Task[Any]) -> None:
        if self._flights.get(flight_key) is task:
            del self._flights[flight_key]
        if not task.cancelled():
            task.exception()  # retrieved here; every awaiting caller re-raises it

    # -- invalidation -------------------------------------------------------------------------

    async def _invalidate_now(self, domain: str, key: str, mode: Literal["all", "replica"]) -> None:
        gen_key = f"{self.prefix}{domain}:gen"
        await self._safe(
            "invalidate",
            self._invalidate(keys=[gen_key], args=[f"{self.prefix}{domain}:", key, mode]),
            log_failure=True,
        )
        await self._announce(domain, key)

    async def _bump_now(self, domain: str) -> None:
        await self._safe("bump", self.redis.incr(f"{self.prefix}{domain}:gen"), log_failure=True)
        await self._announce(domain)

    async def _announce(self, domain: str, key: str | None = None) -> None:
        """After Redis holds the new state: every process drops its near copy. If this is
        lost (logged), other processes serve their copy until they re-read it from Redis
        (when it is read after the domain's TTL) or until its maximum age."""
        self.near.drop(domain, key)  # a read of ours that raced the change is not kept either
        await self._safe("announce", self.near.announce(domain, key), log_failure=True)

    def _later(self, delay: float, action: Callable[[], Awaitable[None]]) -> None:
        if delay <= 0:
            return

        async def run() -> None:
            await asyncio.sleep(delay)
            await action()

        self._spawn(run())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background (kept referenced; cancelled on shutdown)."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- Redis calls with a timeout and a circuit ---------------------------------------------

    async def _call(self, operation: str, awaitable: Awaitable[Any]) -> Any:
        if self.circuit_open():
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise RedisUnavailable("circuit open")
        try:
            async with asyncio.timeout(self.settings.op_timeout_seconds):
                return await awaitable
        except REDIS_FAILURES as exc:
            CACHE_REDIS_ERRORS.labels(operation).inc()
            if not self.circuit_open():
                log.warning("cache_redis_failed", operation=operation, error=repr(exc)[:200])
            self._open_until = time.monotonic() + self.settings.circuit_open_seconds
            raise RedisUnavailable(operation) from exc

    async def _safe(
        self, operation: str, awaitable: Awaitable[Any], *, log_failure: bool = False
    ) -> Any:
        """The call's result, or None if Redis failed (the cache fails open)."""
        try:
            return await self._call(operation, awaitable)
        except RedisUnavailable:
            if log_failure:
                # A lost invalidation leaves a stale value until its TTL ends.
                log.warning("cache_invalidation_lost", operation=operation)
            return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
