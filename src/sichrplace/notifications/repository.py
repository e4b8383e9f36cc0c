"""All SQL of the notifications domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from sichrplace.notifications.models import Notification, PendingEmail, SentEmail
from sichrplace.notifications.records import NotificationRow
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession

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


async def insert_notification(
    session: PrimarySession,
    *,
    user_id: uuid.UUID,
    kind: str,
    title: str,
    data: dict[str, Any],
    group_key: str | None,
    now: datetime,
) -> NotificationRow:
    """A new notification (the newest id). With a group_key, the user's unread one of the same
    key is replaced: it moves to the top with the new content instead of piling up."""
    if group_key is not None:
        await session.execute(
            delete(Notification).where(
                Notification.user_id == user_id,
                Notification.group_key == group_key,
                Notification.read_at.is_(None),
            )
        )
    stmt = (
        insert(Notification)
        .values(
            user_id=user_id, kind=kind, title=title, data=data, group_key=group_key, created_at=now
        )
        .returning(*_COLUMNS)
    )
    return _row((await session.execute(stmt)).one())


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


async def claim_pending(session: PrimarySession, key: str) -> bool:
    """Record that a delayed email of `key` is scheduled; False if one is already (a
    concurrent claim waits on the key's row and then finds it)."""
    stmt = (
        insert(PendingEmail)
        .values(key=key)
        .on_conflict_do_nothing(index_elements=[PendingEmail.key])
        .returning(PendingEmail.key)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def release_pending(session: PrimarySession, key: str) -> None:
    await session.execute(delete(PendingEmail).where(PendingEmail.key == key))
