"""Appending events in a transaction and publishing them once it commits."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from sichrplace.platform.db.sessions import PrimarySession, on_commit
from sichrplace.platform.events import repository
from sichrplace.platform.events.records import StoredEvent

log = structlog.get_logger(__name__)

CHANNEL_PREFIX = "events:user:"


def channel(user_id: uuid.UUID) -> str:
    """The Redis pub/sub channel of one user's events."""
    return f"{CHANNEL_PREFIX}{user_id.hex}"


def encode(event: StoredEvent) -> bytes:
    return orjson.dumps(
        {
            "user_id": str(event.user_id),
            "seq": event.seq,
            "kind": event.kind,
            "data": event.data,
            "created_at": event.created_at.isoformat(),
        }
    )


def decode(raw: bytes | str) -> StoredEvent:
    value = orjson.loads(raw)
    return StoredEvent(
        user_id=uuid.UUID(value["user_id"]),
        seq=int(value["seq"]),
        kind=str(value["kind"]),
        data=dict(value["data"]),
        created_at=datetime.fromisoformat(value["created_at"]),
    )


async def emit(
    session: PrimarySession,
    redis: aioredis.Redis | None,
    user_ids: Collection[uuid.UUID],
    kind: str,
    data: Mapping[str, Any],
) -> list[StoredEvent]:
    """One event of `kind` for each user, stored with the caller's write and published
    after it commits. `data` is JSON (what the stream's `data:` line carries).

    Without a Redis client (a script or job that has none) the event is only stored: open
    streams read it from Postgres at their hub's next check (EventsSettings.poll_seconds).
    """
    stored = await repository.append(session, user_ids, kind, orjson.dumps(dict(data)).decode())
    publish_after_commit(session, redis, stored)
    return stored


@dataclass(frozen=True, slots=True)
class Event:
    """One event for one user's stream (what `emit_all` takes)."""

    user_id: uuid.UUID
    kind: str
    data: Mapping[str, Any]


async def emit_all(
    session: PrimarySession, redis: aioredis.Redis | None, items: Sequence[Event]
) -> list[StoredEvent]:
    """`emit` for events of any kinds, several per user allowed, in one statement: each
    user's are numbered in the order given (e.g. a message, then the notification about it)."""
    stored = await repository.append_all(session, as_rows(items))
    publish_after_commit(session, redis, stored)
    return stored


def as_rows(items: Sequence[Event]) -> list[tuple[uuid.UUID, str, str]]:
    """Events as the repository's append statements take them: (user, kind, data JSON)."""
    return [(e.user_id, e.kind, orjson.dumps(dict(e.data)).decode()) for e in items]


def publish_after_commit(
    session: PrimarySession, redis: aioredis.Redis | None, stored: list[StoredEvent]
) -> None:
    """Publish events the caller's transaction stored (e.g. through a statement that extends
    `repository.append_all_statement`) once it commits; not at all without Redis."""
    if redis is None or not stored:
        return
    kind = "+".join(sorted({event.kind for event in stored}))

    async def publish() -> None:
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for event in stored:
                    pipe.publish(channel(event.user_id), encode(event))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            # Streams catch up from Postgres: a lost publish delays delivery, loses nothing.
            log.warning("event_publish_failed", kind=kind, error=repr(exc)[:200])

    on_commit(session, publish)
