"""All SQL of the notifications domain."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from sichrplace.notifications.models import SentEmail
from sichrplace.platform.db.sessions import PrimarySession


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
