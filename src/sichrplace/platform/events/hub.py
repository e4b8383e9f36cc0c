"""The per-process hub: one Redis pub/sub connection carries every open stream's events.

- The hub holds ONE pub/sub connection (its own, outside the shared pool) and is subscribed to
  the channel of each user with at least one open stream in this process: subscribed with the
  first stream, unsubscribed with the last. Each published event goes to that user's streams'
  queues here; a stream never talks to Redis itself.
- Commands and their confirmations come back in the order they were written, so a new stream
  waits for its own SUBSCRIBE's confirmation before it reads where it starts: anything
  committed after that point is published while the hub listens.
- Postgres is the record (`since`): the hub checks it for every local user in one query every
  `poll_seconds` (`degraded_poll_seconds` while Redis is gone) and right after each
  (re)subscription, and wakes each stream that is behind; the stream then reads what it
  missed. A lost publish delays an event, it never loses it.
- A connection that fails (or stays silent for three PINGs) is dropped and made again with
  backoff; the new one subscribes to every wanted channel in one command.
- When the process starts draining (or closes), every stream ends and new ones are refused
  (503), so clients reconnect to another instance with their Last-Event-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import uuid
from collections import deque
from collections.abc import Callable, Collection, Mapping
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.asyncio.client import PubSub
from redis.backoff import NoBackoff
from redis.retry import Retry

from sichrplace.config import EventsSettings
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.unit import transaction
from sichrplace.platform.events import repository
from sichrplace.platform.events.errors import StreamsUnavailable, TooManyStreams
from sichrplace.platform.events.metrics import (
    EVENT_HUB_CONNECTED,
    EVENT_HUB_RECONNECTS,
    EVENT_STREAMS_OPEN,
    EVENT_STREAMS_REFUSED,
)
from sichrplace.platform.events.records import StoredEvent
from sichrplace.platform.events.stream import channel, decode
from sichrplace.platform.parts import Key

log = structlog.get_logger(__name__)

# Users per query when the hub checks Postgres for all its streams.
_CHECK_BATCH = 1000


class Stream:
    """One open stream's side of the hub: a queue of events (None wakes it to look at its
    flags), what it sent last, and whether it must read Postgres (`stale`) or end."""

    __slots__ = ("closed", "last_sent", "queue", "stale", "user_id")

    def __init__(self, user_id: uuid.UUID, queue_size: int) -> None:
        self.user_id = user_id
        self.queue: asyncio.Queue[StoredEvent | None] = asyncio.Queue(maxsize=queue_size)
        self.last_sent = 0
        self.stale = False
        self.closed = False

    def offer(self, event: StoredEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.mark_stale()  # too slow to keep up live: it reads the rest from Postgres

    def mark_stale(self) -> None:
        if not self.stale:
            self.stale = True
            self._wake()

    def end(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        # A full queue wakes the stream anyway; it looks at its flags after every item.
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


class EventHub:
    """This process's streams by user and the Redis subscription that feeds them."""

    def __init__(
        self,
        db: Database,
        redis_url: str,
        settings: EventsSettings,
        *,
        socket_timeout: float = 1.0,
        draining: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self._db = db
        self._redis_url = redis_url
        self._socket_timeout = socket_timeout
        self._draining = draining
        token = uuid.uuid4().hex[:8]
        # The connection's CLIENT name: operators (and tests) find the hub in CLIENT LIST.
        self.name = f"sichrplace-events-{os.getpid()}-{token}"
        # Subscribed on every connection so it always has a subscription to read from.
        self._control = f"events:hub:{token}"
        self._streams: dict[uuid.UUID, set[Stream]] = {}
        self._count = 0
        self._closing = False
        self._pubsub: PubSub | None = None
        self._lock = asyncio.Lock()  # one writer at a time on the connection
        # Per channel, one entry per SUBSCRIBE/UNSUBSCRIBE written and not yet confirmed (a
        # future for a subscribe someone waits on), in the order written.
        self._expect: dict[str, deque[asyncio.Future[None] | None]] = {}
        # Per subscribed channel, the confirmation of the SUBSCRIBE that made it so.
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._connected = False
        self._ever_connected = False
        self._check_due = 0.0
        self.reconnects = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # -- streams ------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the subscription is live (else streams are fed by the checks alone)."""
        return self._connected

    @property
    def open_streams(self) -> int:
        return self._count

    @property
    def closing(self) -> bool:
        return self._closing or self._draining()

    async def open(self, user_id: uuid.UUID) -> Stream:
        """A stream for `user_id`, subscribed (confirmed, unless Redis is down) when this
        returns. TooManyStreams (429) beyond the per-user cap, StreamsUnavailable (503) when
        the process is full or draining."""
        settings = self.settings
        if self.closing:
            EVENT_STREAMS_REFUSED.labels("draining").inc()
            raise StreamsUnavailable(1)
        if self._count >= settings.max_streams:
            EVENT_STREAMS_REFUSED.labels("capacity").inc()
            raise StreamsUnavailable(settings.retry_after_seconds)
        mine = self._streams.setdefault(user_id, set())
        if len(mine) >= settings.max_streams_per_user:
            EVENT_STREAMS_REFUSED.labels("user").inc()
            raise TooManyStreams(settings.retry_after_seconds, settings.max_streams_per_user)
        stream = Stream(user_id, settings.queue_size)
        mine.add(stream)
        self._count += 1
        EVENT_STREAMS_OPEN.inc()
        try:
            name = channel(user_id)
            confirmed = await self._subscribe(name) if len(mine) == 1 else self._confirmed.get(name)
            if confirmed is not None and not confirmed.done():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(settings.subscribe_wait_seconds):
                        await asyncio.shield(confirmed)
        except BaseException:
            self.release(stream)
            raise
        return stream

    def release(self, stream: Stream) -> None:
        """The stream has ended (idempotent); the last of a user's unsubscribes the user."""
        mine = self._streams.get(stream.user_id)
        if mine is None or stream not in mine:
            return
        mine.discard(stream)
        self._count -= 1
        EVENT_STREAMS_OPEN.dec()
        if not mine:
            del self._streams[stream.user_id]
            if not self._closing:
                self._spawn(self._unsubscribe(stream.user_id))

    def end_streams(self) -> None:
        """End every stream and refuse new ones (the process is going away)."""
        self._closing = True
        for streams in self._streams.values():
            for stream in streams:
                stream.end()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if not self._tasks:
            self._spawn(self._connection_loop(), name="event-hub-redis")
            self._spawn(self._tend(), name="event-hub-tend")

    async def aclose(self) -> None:
        self.end_streams()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _spawn(self, work: Any, *, name: str | None = None) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the Redis connection -----------------------------------------------------------------

    async def _subscribe(self, name: str) -> asyncio.Future[None] | None:
        """SUBSCRIBE `name` now if connected (else the next connection will); the future of
        its confirmation."""
        async with self._lock:
            pubsub = self._pubsub
            if pubsub is None:
                return None
            confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._expect.setdefault(name, deque()).append(confirmed)
            self._confirmed[name] = confirmed
            try:
                await pubsub.subscribe(name)
            except Exception as exc:  # the reader notices the broken connection and reconnects
                log.warning("event_hub_subscribe_failed", error=repr(exc)[:200])
                confirmed.set_result(None)
            return confirmed

    async def _unsubscribe(self, user_id: uuid.UUID) -> None:
        name = channel(user_id)
        async with self._lock:
            pubsub = self._pubsub
            if user_id in self._streams or pubsub is None:
                return  # opened again meanwhile (still wanted), or no connection to leave
            self._confirmed.pop(name, None)
            self._expect.setdefault(name, deque()).append(None)
            try:
                await pubsub.unsubscribe(name)
            except Exception as exc:
                log.warning("event_hub_unsubscribe_failed", error=repr(exc)[:200])

    def _client(self) -> aioredis.Redis:
        # No retries inside the client: a failure ends this connection and the hub makes a
        # new one (it must know, to resubscribe and catch its streams up).
        return aioredis.Redis.from_url(
            self._redis_url,
            client_name=self.name,
            socket_timeout=self._socket_timeout,
            socket_connect_timeout=self._socket_timeout,
            socket_keepalive=True,
            health_check_interval=0,
            retry=Retry(NoBackoff(), 0),
            decode_responses=False,
        )

    async def _connection_loop(self) -> None:
        settings = self.settings
        delay = settings.reconnect_min_seconds
        while not self._closing:
            try:
                await self._connection()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._connected or not self._ever_connected:
                    log.warning("event_hub_disconnected", error=repr(exc)[:200])
            finally:
                if self._connected:
                    delay = settings.reconnect_min_seconds  # it worked: start over
                self._set_connected(False)
            if self._closing:
                break
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, settings.reconnect_max_seconds)

    def _set_connected(self, connected: bool) -> None:
        self._connected = connected
        EVENT_HUB_CONNECTED.set(1 if connected else 0)

    async def _connection(self) -> None:
        """One connection: subscribe to every wanted channel in one command, then read."""
        client = self._client()
        pubsub = client.pubsub()
        try:
            async with self._lock:
                self._expect.clear()
                self._confirmed.clear()
                names = [self._control, *(channel(user) for user in self._streams)]
                loop = asyncio.get_running_loop()
                for name in names:
                    confirmed: asyncio.Future[None] = loop.create_future()
                    self._expect[name] = deque([confirmed])
                    self._confirmed[name] = confirmed
                last = self._confirmed[names[-1]]
                await pubsub.subscribe(*names)
                self._pubsub = pubsub
            await self._read(pubsub, last)
        finally:
            async with self._lock:
                self._pubsub = None
                for waiting in self._expect.values():
                    for pending in waiting:
                        if pending is not None and not pending.done():
                            pending.set_result(None)  # nobody waits for a dead connection
                self._expect.clear()
                self._confirmed.clear()
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _read(self, pubsub: PubSub, subscribed: asyncio.Future[None]) -> None:
        loop = asyncio.get_running_loop()
        interval = self.settings.redis_ping_seconds
        heard = pinged = loop.time()
        live = False
        while True:
            message = await pubsub.get_message(timeout=min(1.0, interval))
            now = loop.time()
            if message is not None:
                heard = now
                self._hear(message)
            if not live and subscribed.done():
                # Confirmations come in order: the last channel's means all of them.
                live = True
                self._set_connected(True)
                if self._ever_connected:
                    self.reconnects += 1
                    EVENT_HUB_RECONNECTS.inc()
                    log.info("event_hub_reconnected", streams=self._count)
                self._ever_connected = True
                # What was published while nobody listened is in Postgres: check now.
                self._check_due = 0.0
            if now - pinged >= interval:
                pinged = now
                async with self._lock:
                    await pubsub.ping()
            if now - heard > 3 * interval:
                raise ConnectionError("no answer from Redis for three pings")

    def _hear(self, message: Mapping[str, Any]) -> None:
        kind = message.get("type")
        if kind == "message":
            try:
                event = decode(message["data"])
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("event_undecodable", error=repr(exc)[:200])
                return
            for stream in self._streams.get(event.user_id, ()):
                stream.offer(event)
        elif kind in ("subscribe", "unsubscribe"):
            raw = message.get("channel")
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            waiting = self._expect.get(name)
            if waiting:
                confirmed = waiting.popleft()
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
                if not waiting:
                    del self._expect[name]

    # -- draining and checks ------------------------------------------------------------------

    async def _tend(self) -> None:
        """Watch for draining; check Postgres for every stream when due."""
        settings = self.settings
        loop = asyncio.get_running_loop()
        tick = min(0.25, settings.poll_seconds, settings.degraded_poll_seconds)
        self._check_due = loop.time() + settings.poll_seconds
        while True:
            await asyncio.sleep(tick)
            if self._draining() and not self._closing:
                log.info("event_streams_ending", streams=self._count, reason="draining")
                self.end_streams()
            now = loop.time()
            if now < self._check_due:
                continue
            self._check_due = now + (
                settings.poll_seconds if self._connected else settings.degraded_poll_seconds
            )
            await self.check()

    async def check(self) -> None:
        """Wake every stream whose user has events newer than the stream's last one."""
        users = list(self._streams)
        for start in range(0, len(users), _CHECK_BATCH):
            batch = users[start : start + _CHECK_BATCH]
            try:
                newest = await self._newest(batch)
            except Exception as exc:  # Postgres away: the next check tries again
                log.warning("event_check_failed", error=repr(exc)[:200])
                return
            for user in batch:
                last = newest.get(user, 0)
                for stream in self._streams.get(user, ()):
                    if stream.last_sent < last:
                        stream.mark_stale()

    async def _newest(self, users: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
        async with transaction(self._db) as session:
            return await repository.last_seqs(session, users)


EVENT_HUB = Key[EventHub]("events.hub")
