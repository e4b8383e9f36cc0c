"""What one stream writes: the rule that makes "nothing lost, nothing twice" hold.

The stream remembers the last number it sent (`last_sent`). An event numbered at most that is
a duplicate and is dropped; the next number is sent; a later one means something was missed
(a publish lost, or two writers' publishes crossing), so the missing ones are read from
Postgres (`since`), in order, and sent first. The hub wakes a stream that is behind Postgres
(its periodic check, a reconnect to Redis, an overflowing queue): it reads the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog

from sichrplace.config import EventsSettings
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.unit import transaction
from sichrplace.platform.events import repository
from sichrplace.platform.events.hub import Stream
from sichrplace.platform.events.metrics import EVENT_GAPS_REPAIRED, EVENTS_SENT
from sichrplace.platform.events.sse import PING, event_frame, retry_frame

log = structlog.get_logger(__name__)

_LIVE = EVENTS_SENT.labels("live")
_REPLAY = EVENTS_SENT.labels("replay")


async def frames(
    stream: Stream, db: Database, settings: EventsSettings, *, replay: bool
) -> AsyncIterator[bytes]:
    """The stream's bytes: `retry:`, the replay after Last-Event-ID (when asked), then live
    events, catch-ups and heartbeats until the stream ends (the hub closes it on drain)."""
    loop = asyncio.get_running_loop()
    yield retry_frame(settings.retry_ms)
    if replay:
        async for chunk in _catch_up(stream, db, settings):
            yield chunk
    next_ping = loop.time() + settings.heartbeat_seconds
    while not stream.closed:
        item = None
        wait = next_ping - loop.time()
        if wait > 0:
            try:
                async with asyncio.timeout(wait):
                    item = await stream.queue.get()
            except TimeoutError:
                pass
        if stream.closed:
            break
        wrote = False
        if item is not None:
            if item.seq == stream.last_sent + 1:
                stream.last_sent = item.seq
                _LIVE.inc()
                wrote = True
                yield event_frame(item)
            elif item.seq > stream.last_sent + 1:
                repaired = False
                async for chunk in _catch_up(stream, db, settings):
                    repaired = wrote = True
                    yield chunk
                if repaired:
                    EVENT_GAPS_REPAIRED.labels("gap").inc()
            # else: sent already (from Postgres, or published twice): dropped
        if stream.stale:
            stream.stale = False
            repaired = False
            async for chunk in _catch_up(stream, db, settings):
                repaired = wrote = True
                yield chunk
            if repaired:
                EVENT_GAPS_REPAIRED.labels("check").inc()
        now = loop.time()
        if wrote:
            next_ping = now + settings.heartbeat_seconds
        elif now >= next_ping:
            next_ping = now + settings.heartbeat_seconds
            yield PING


async def _catch_up(stream: Stream, db: Database, settings: EventsSettings) -> AsyncIterator[bytes]:
    """Everything after `last_sent` from Postgres, a page per write, oldest first."""
    page = settings.replay_page
    while True:
        try:
            async with transaction(db) as session:
                events = await repository.since(session, stream.user_id, stream.last_sent, page)
        except Exception as exc:
            # Postgres away: the stream keeps its place; the hub's next check wakes it again.
            log.warning("event_catch_up_failed", error=repr(exc)[:200])
            stream.stale = False
            return
        if not events:
            return
        stream.last_sent = events[-1].seq
        _REPLAY.inc(len(events))
        yield b"".join(event_frame(event) for event in events)
        if len(events) < page:
            return
