"""Server-Sent Events on the wire, and the response that serves one stream."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from sichrplace.platform.events.hub import EventHub, Stream
from sichrplace.platform.events.records import StoredEvent

PING = b": ping\n\n"


def retry_frame(milliseconds: int) -> bytes:
    return b"retry: %d\n\n" % milliseconds


def event_frame(event: StoredEvent) -> bytes:
    """`id:` is the user's sequence number (what the client sends back as Last-Event-ID);
    compact JSON has no line breaks, so `data:` is one line."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (
        event.seq,
        event.kind.encode(),
        orjson.dumps(event.data),
    )


class EventStreamResponse(StreamingResponse):
    """`text/event-stream`, never cached or buffered on the way (nginx reads
    X-Accel-Buffering); the stream leaves the hub when the response ends, however it ends
    (the client went away, the process is draining, an error)."""

    media_type = "text/event-stream"

    def __init__(self, frames: AsyncIterator[bytes], hub: EventHub, stream: Stream) -> None:
        super().__init__(
            frames,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self.hub = hub
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.hub.release(self.stream)
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                with contextlib.suppress(RuntimeError):  # still running: it ends by itself
                    await close()
