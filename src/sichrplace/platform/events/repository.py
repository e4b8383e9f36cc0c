"""All SQL of the per-user event stream."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import Table, select, text

from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession
from sichrplace.platform.events.models import UserEvent
from sichrplace.platform.events.records import StoredEvent

events: Table = UserEvent.__table__  # type: ignore[assignment]

# One statement for any number of recipients: their counters (taken in user-id order, so two
# transactions writing to overlapping sets of users cannot deadlock) and their events.
_APPEND = text(
    """
WITH counted AS (
    INSERT INTO user_event_counters (user_id, last_seq)
    SELECT u, 1 FROM unnest(CAST(:users AS uuid[])) AS u ORDER BY u
    ON CONFLICT (user_id) DO UPDATE SET last_seq = user_event_counters.last_seq + 1
    RETURNING user_id, last_seq
)
INSERT INTO user_events (user_id, seq, kind, data)
SELECT user_id, last_seq, :kind, CAST(:data AS jsonb) FROM counted
RETURNING user_id, seq, kind, data, created_at
"""
)


async def append(
    session: PrimarySession, user_ids: Collection[uuid.UUID], kind: str, data_json: str
) -> list[StoredEvent]:
    """One event per user (each in its own stream), numbered in the caller's transaction."""
    users = sorted(set(user_ids))
    if not users:
        return []
    rows = await session.execute(_APPEND, {"users": users, "kind": kind, "data": data_json})
    return [StoredEvent(**r._asdict()) for r in rows.all()]


# The same for events whose data differs per recipient (each user once per statement).
_APPEND_EACH = text(
    """
WITH wanted AS (
    SELECT u, d FROM unnest(CAST(:users AS uuid[]), CAST(:datas AS jsonb[])) AS w (u, d)
), counted AS (
    INSERT INTO user_event_counters (user_id, last_seq)
    SELECT u, 1 FROM wanted ORDER BY u
    ON CONFLICT (user_id) DO UPDATE SET last_seq = user_event_counters.last_seq + 1
    RETURNING user_id, last_seq
)
INSERT INTO user_events (user_id, seq, kind, data)
SELECT c.user_id, c.last_seq, :kind, w.d FROM counted c JOIN wanted w ON w.u = c.user_id
RETURNING user_id, seq, kind, data, created_at
"""
)


async def append_each(
    session: PrimarySession, kind: str, data_json: Mapping[uuid.UUID, str]
) -> list[StoredEvent]:
    """One event per user with that user's data (e.g. each recipient's own notification)."""
    if not data_json:
        return []
    users = sorted(data_json)
    rows = await session.execute(
        _APPEND_EACH,
        {"users": users, "datas": [data_json[u] for u in users], "kind": kind},
    )
    return [StoredEvent(**r._asdict()) for r in rows.all()]


async def since(
    session: PrimarySession | ReplicaSession, user_id: uuid.UUID, after_seq: int, limit: int
) -> list[StoredEvent]:
    """The user's events after `after_seq`, oldest first (a reconnecting stream's replay)."""
    stmt = (
        select(events.c.user_id, events.c.seq, events.c.kind, events.c.data, events.c.created_at)
        .where(events.c.user_id == user_id, events.c.seq > after_seq)
        .order_by(events.c.seq)
        .limit(limit)
    )
    return [StoredEvent(**r._asdict()) for r in (await session.execute(stmt)).all()]


async def last_seq(session: PrimarySession | ReplicaSession, user_id: uuid.UUID) -> int:
    """The user's newest event number (0 before the first): where a new stream starts."""
    return (await last_seqs(session, [user_id])).get(user_id, 0)


async def last_seqs(
    session: PrimarySession | ReplicaSession, user_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """The newest event number of each of these users that has one (a hub's check of all its
    streams in one query)."""
    if not user_ids:
        return {}
    rows = await session.execute(
        text(
            "SELECT user_id, last_seq FROM user_event_counters"
            " WHERE user_id = ANY(CAST(:users AS uuid[]))"
        ),
        {"users": list(user_ids)},
    )
    return {r[0]: int(r[1]) for r in rows.all()}


async def delete_before(session: PrimarySession, moment: datetime, *, limit: int) -> int:
    """Drop one batch of events older than `moment` (the counters stay: numbers never repeat)."""
    result = await session.execute(
        text(
            "DELETE FROM user_events WHERE (user_id, seq) IN ("
            " SELECT user_id, seq FROM user_events WHERE created_at < :moment LIMIT :limit)"
        ),
        {"moment": moment, "limit": limit},
    )
    return int(getattr(result, "rowcount", 0) or 0)
