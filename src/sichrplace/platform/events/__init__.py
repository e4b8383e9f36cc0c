"""The per-user event stream: what a user's open streams (`GET /api/v1/events`, SSE) carry.

    from sichrplace.platform.events import emit

    await emit(session, redis, [tenant_id, landlord_id], "message.created", {...})

`emit` appends one event per user in the caller's transaction, numbered per user (`seq`,
the SSE id), and publishes it on Redis after the commit (never if it rolls back). Postgres is
the record: a stream that missed a publish (Redis down, a reconnect, another instance) reads
what it missed with `since`, so nothing is lost; a stream skips what it already sent, so
nothing is sent twice.
"""

from sichrplace.platform.events.records import StoredEvent
from sichrplace.platform.events.repository import delete_before, last_seq, since
from sichrplace.platform.events.stream import (
    CHANNEL_PREFIX,
    Event,
    as_rows,
    channel,
    decode,
    emit,
    emit_all,
    encode,
    publish_after_commit,
)

__all__ = [
    "CHANNEL_PREFIX",
    "Event",
    "StoredEvent",
    "as_rows",
    "channel",
    "decode",
    "delete_before",
    "emit",
    "emit_all",
    "encode",
    "last_seq",
    "publish_after_commit",
    "since",
]
