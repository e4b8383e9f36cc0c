"""All SQL of the notifications domain."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from sichrplace.notifications.models import Notification, PendingEmail, SentEmail
from sichrplace.notifications.records import NotificationRow
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession
from sichrplace.platform.events import repository as events_repository
from sichrplace.platform.events.records import StoredEvent

AnySession = PrimarySession | ReplicaSession
_COLUMNS = (
    Notification.id,
    Notification.user_id,
    Notification.kind,
    Notification.title,
    Notification.data,
    Notification.created_at,
    Notification.read_at,
)


def _row(row: Row[Any]) -> NotificationRow:
    return NotificationRow(**row._asdict())


async def claim_dedupe_key(
    session: PrimarySession, *, dedupe_key: str, recipient: str, subject: str, message_id: str
) -> bool:
    """Record the key; False if it is already recorded (committed, or by a transaction that
    commits while this one waits on the key's row lock)."""
    stmt = (
        insert(SentEmail)
        .values(dedupe_key=dedupe_key, recipient=recipient, subject=subject, message_id=message_id)
        .on_conflict_do_nothing(index_elements=[SentEmail.dedupe_key])
        .returning(SentEmail.dedupe_key)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def was_sent(session: PrimarySession, dedupe_key: str) -> bool:
    stmt = select(SentEmail.dedupe_key).where(SentEmail.dedupe_key == dedupe_key)
    return (await session.execute(stmt)).scalar_one_or_none() is not None


# --- in-app notifications ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewNotification:
    user_id: uuid.UUID
    kind: str
    title: Mapping[str, str]  # by language: the row keeps the one of the user's language
    data: dict[str, Any]
    group_key: str | None


# Module-level text: on the send path, building an upsert with SQLAlchemy's constructs on
# every call cost more than the statement itself.
_INSERT_NOTIFICATIONS = text(
    """
INSERT INTO notifications (user_id, kind, title, data, group_key, created_at)
SELECT n.u, n.k, CASE WHEN r.language = 'en' THEN n.t_en ELSE n.t_de END, n.d, n.g, :now
FROM unnest(CAST(:n_users AS uuid[]), CAST(:n_kinds AS text[]), CAST(:titles_de AS text[]),
            CAST(:titles_en AS text[]), CAST(:n_datas AS jsonb[]), CAST(:groups AS text[]))
     AS n (u, k, t_de, t_en, d, g)
JOIN users r ON r.id = n.u
ON CONFLICT (user_id, group_key) WHERE read_at IS NULL AND group_key IS NOT NULL
DO UPDATE SET id = EXCLUDED.id, kind = EXCLUDED.kind, title = EXCLUDED.title,
              data = EXCLUDED.data, created_at = EXCLUDED.created_at
RETURNING id, user_id, kind, title, data, created_at, read_at
"""
)


async def insert_notifications(
    session: PrimarySession, notices: Sequence[NewNotification], *, now: datetime
) -> list[NotificationRow]:
    """New notifications (the newest ids), in one statement, each titled in its user's
    language (read from the user's row in the same statement). With a group_key, the user's
    unread one of the same key is replaced instead: it takes the new id (so it moves to the
    top) and the new content, rather than piling up; two writers at once cannot both insert
    one (the partial unique index decides, the second updates)."""
    if not notices:
        return []
    params = _notification_params(notices, now=now)
    return [_row(r) for r in (await session.execute(_INSERT_NOTIFICATIONS, params)).all()]


def _notification_params(notices: Sequence[NewNotification], *, now: datetime) -> dict[str, Any]:
    return {
        "now": now,
        "n_users": [n.user_id for n in notices],
        "n_kinds": [n.kind for n in notices],
        "titles_de": [n.title["de"] for n in notices],
        "titles_en": [n.title["en"] for n in notices],
        "n_datas": [orjson.dumps(n.data).decode() for n in notices],
        "groups": [n.group_key for n in notices],
    }


# The notifications and the events announcing them (with the caller's other events of the same
# change) in one round trip: the upsert's rows feed the events' statement, which the events
# platform owns (events_repository.append_all_statement). An event's data holds the fields
# the API shows of a notification (NotificationOut); every row the upsert answers is unread,
# with `created_at` = :now (written as Python's isoformat, as the stored rows read back).
_NOTIFY = events_repository.append_all_statement(
    before=f"""notified AS (
{_INSERT_NOTIFICATIONS.text.strip()}
), pending AS (
    INSERT INTO notification_email_pending (key)
    SELECT k FROM unnest(CAST(:pending AS text[])) AS k
    ON CONFLICT (key) DO NOTHING
    RETURNING key
),""",  # noqa: S608 - module constants only
    more="""SELECT n.user_id, CAST(:created_kind AS text),
           jsonb_build_object('id', n.id, 'kind', n.kind, 'title', n.title, 'data', n.data,
                              'created_at', CAST(:created_at AS text), 'read', false),
           CAST(:given AS bigint) + row_number() OVER (ORDER BY n.id)
    FROM notified n""",
    columns=", (SELECT array_agg(key) FROM pending) AS claimed",
)


@dataclass(frozen=True, slots=True)
class Notified:
    """What `insert_notifications_with_events` stored: the rows, every event (ordered by
    user and number) and the pending keys it claimed."""

    rows: list[NotificationRow]
    events: list[StoredEvent]
    claimed: frozenset[str]


async def insert_notifications_with_events(
    session: PrimarySession,
    notices: Sequence[NewNotification],
    given: Sequence[tuple[uuid.UUID, str, str]],
    *,
    created_kind: str,
    now: datetime,
    pending: Sequence[str] = (),
) -> Notified:
    """`insert_notifications`, and in the same statement the events: `given` (user, kind,
    data JSON) first, then one `created_kind` event per notification row (the rows are read
    back from their events); and `claim_pending` of each of the `pending` keys."""
    if not notices:
        stored = await events_repository.append_all(session, given)
        keys = [key for key in pending if await claim_pending(session, key)]
        return Notified([], stored, frozenset(keys))
    params = _notification_params(notices, now=now)
    params.update(events_repository.append_all_params(given))
    params.update(created_kind=created_kind, created_at=now.isoformat(), pending=list(pending))
    result = (await session.execute(_NOTIFY, params)).all()
    stored = events_repository.stored_events(result)
    rows = [
        NotificationRow(
            id=int(e.data["id"]),
            user_id=e.user_id,
            kind=str(e.data["kind"]),
            title=str(e.data["title"]),
            data=dict(e.data["data"]),
            created_at=now,
            read_at=None,
        )
        for e in stored
        if e.kind == created_kind
    ]
    rows.sort(key=lambda r: r.id)
    claimed: list[str] = result[0].claimed or []
    return Notified(rows, stored, frozenset(claimed))


async def list_notifications(
    session: AnySession, user_id: uuid.UUID, *, unread: bool, before: int | None, limit: int
) -> list[NotificationRow]:
    """The user's notifications, newest first, with an id below `before`."""
    stmt = select(*_COLUMNS).where(Notification.user_id == user_id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    if before is not None:
        stmt = stmt.where(Notification.id < before)
    stmt = stmt.order_by(Notification.id.desc()).limit(limit)
    return [_row(r) for r in (await session.execute(stmt)).all()]


async def mark_read(
    session: PrimarySession, user_id: uuid.UUID, *, up_to_id: int, now: datetime
) -> int:
    """Mark the user's unread notifications up to `up_to_id` read; how many were marked.
    A read one stays read (its time unchanged)."""
    stmt = (
        update(Notification)
        .where(
            Notification.user_id == user_id,
            Notification.id <= up_to_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=now)
    )
    result = await session.execute(stmt)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def mark_group_read(
    session: PrimarySession, user_id: uuid.UUID, group_key: str, *, now: datetime
) -> None:
    await session.execute(
        update(Notification)
        .where(
            Notification.user_id == user_id,
            Notification.group_key == group_key,
            Notification.read_at.is_(None),
        )
        .values(read_at=now)
    )


async def unread_count(session: AnySession, user_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    return int((await session.execute(stmt)).scalar_one())


# --- delayed emails ---------------------------------------------------------------------------


_CLAIM_PENDING = text(
    "INSERT INTO notification_email_pending (key) VALUES (:key)"
    " ON CONFLICT (key) DO NOTHING RETURNING key"
)


async def claim_pending(session: PrimarySession, key: str) -> bool:
    """Record that a delayed email of `key` is scheduled; False if one is already (a
    concurrent claim waits on the key's row and then finds it)."""
    return (await session.execute(_CLAIM_PENDING, {"key": key})).scalar_one_or_none() is not None


async def release_pending(session: PrimarySession, key: str) -> None:
    await session.execute(delete(PendingEmail).where(PendingEmail.key == key))


# --- retention --------------------------------------------------------------------------------


async def delete_notifications_before(
    session: PrimarySession, moment: datetime, *, limit: int
) -> int:
    """Drop one batch of notifications created before `moment`."""
    old = (
        select(Notification.id).where(Notification.created_at < moment).limit(limit)
    ).scalar_subquery()
    result = await session.execute(delete(Notification).where(Notification.id.in_(old)))
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_sent_before(session: PrimarySession, moment: datetime, *, limit: int) -> int:
    """Drop one batch of sent emails' dedupe keys recorded before `moment`."""
    old = (
        select(SentEmail.dedupe_key).where(SentEmail.sent_at < moment).limit(limit)
    ).scalar_subquery()
    result = await session.execute(delete(SentEmail).where(SentEmail.dedupe_key.in_(old)))
    return int(getattr(result, "rowcount", 0) or 0)
