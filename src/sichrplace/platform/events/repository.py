"""All SQL of the per-user event stream."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, TextClause, select, text

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


# Any events, several per user allowed, in one statement: each user's counter moves by the
# number of its events (in user-id order, as above) and they take the numbers before it in the
# order given.
_GIVEN = """SELECT w.u, w.k, w.d, w.i
    FROM unnest(CAST(:users AS uuid[]), CAST(:kinds AS text[]), CAST(:datas AS jsonb[]))
         WITH ORDINALITY AS w (u, k, d, i)"""


def append_all_statement(*, before: str = "", more: str = "", columns: str = "") -> TextClause:
    """The statement of `append_all`, for others to extend into one round trip: `before` are
    the caller's own CTEs (their text ends with a comma: e.g. an upsert's RETURNING rows) and
    `more` a SELECT of further events (user uuid, kind text, data jsonb, order bigint) drawn
    from them, numbered after the given ones of the same user when their order is above
    :given (the number of given events). It answers the stored events, as `append_all`, each
    row with the caller's `columns` after (text starting with a comma)."""
    wanted = f"{_GIVEN}\n    UNION ALL\n    {more}" if more else _GIVEN
    return text(
        f"""
WITH {before}
wanted AS (
    {wanted}
), per_user AS (
    SELECT u, count(*) AS n FROM wanted GROUP BY u
), counted AS (
    INSERT INTO user_event_counters (user_id, last_seq)
    SELECT u, n FROM per_user ORDER BY u
    ON CONFLICT (user_id) DO UPDATE SET last_seq = user_event_counters.last_seq + EXCLUDED.last_seq
    RETURNING user_id, last_seq
), appended AS (
    INSERT INTO user_events (user_id, seq, kind, data)
    SELECT w.u, c.last_seq - p.n + row_number() OVER (PARTITION BY w.u ORDER BY w.i), w.k, w.d
    FROM wanted w JOIN per_user p ON p.u = w.u JOIN counted c ON c.user_id = w.u
    RETURNING user_id, seq, kind, data, created_at
)
SELECT user_id, seq, kind, data, created_at{columns} FROM appended
"""  # noqa: S608 - the pieces are the callers' module constants, never input
    )


_APPEND_ALL = append_all_statement()


def append_all_params(items: Sequence[tuple[uuid.UUID, str, str]]) -> dict[str, Any]:
    """The given events' parameters of an `append_all_statement`."""
    return {
        "users": [user for user, _, _ in items],
        "kinds": [kind for _, kind, _ in items],
        "datas": [data for _, _, data in items],
        "given": len(items),
    }


def stored_events(rows: Sequence[Row[Any]]) -> list[StoredEvent]:
    """An append statement's rows, ordered by user and number (the order to publish them in)."""
    stored = [StoredEvent(r.user_id, r.seq, r.kind, r.data, r.created_at) for r in rows]
    stored.sort(key=lambda e: (e.user_id, e.seq))
    return stored


async def append_all(
    session: PrimarySession, items: Sequence[tuple[uuid.UUID, str, str]]
) -> list[StoredEvent]:
    """Events given as (user, kind, data JSON), numbered per user in the order given; the
    result is ordered by user and number (the order to publish them in)."""
    if not items:
        return []
    rows = await session.execute(_APPEND_ALL, append_all_params(items))
    return stored_events(rows.all())


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
