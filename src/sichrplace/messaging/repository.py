"""All messaging SQL (Core, column projections). Rows come back as `messaging.records`.

The invariants are the database's: a second conversation for a (tenant, listing) and a second
message for a (conversation, author, client_message_id) are inserts that do nothing
(`ON CONFLICT DO NOTHING`), after which the first one is read; a message's seq is the locked
conversation's `last_seq` + 1, written in the same statement as the message.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, Table, and_, case, func, literal, select, text, tuple_, update

from sichrplace.accounts.models import User
from sichrplace.listings.models import Listing
from sichrplace.messaging.models import Conversation, ConversationMember, Message
from sichrplace.messaging.records import (
    ConversationRow,
    ConversationView,
    LastMessage,
    ListingBrief,
    MessageRow,
    NewMessage,
    ReadMarker,
    SendOutcome,
    UnreadState,
)
from sichrplace.messaging.vocabulary import EXCERPT_LENGTH
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession

conversations: Table = Conversation.__table__  # type: ignore[assignment]
members: Table = ConversationMember.__table__  # type: ignore[assignment]
messages: Table = Message.__table__  # type: ignore[assignment]
listings: Table = Listing.__table__  # type: ignore[assignment]
users: Table = User.__table__  # type: ignore[assignment]

AnySession = PrimarySession | ReplicaSession

CONVERSATION_COLUMNS = [conversations.c[f.name] for f in dataclasses.fields(ConversationRow)]
MESSAGE_COLUMNS = [messages.c[name] for name in MessageRow._fields]


def _conversation(row: Row[Any]) -> ConversationRow:
    return ConversationRow(**row._asdict())


def _message(row: Row[Any]) -> MessageRow:
    return MessageRow(**row._asdict())


# --- listings and conversations ---------------------------------------------------------------


async def listing_brief(session: AnySession, listing_id: uuid.UUID) -> ListingBrief | None:
    stmt = select(listings.c.id, listings.c.owner_id, listings.c.status, listings.c.title).where(
        listings.c.id == listing_id
    )
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    return ListingBrief(id=row.id, owner_id=row.owner_id, status=str(row.status), title=row.title)


# One statement: the conversation and its two member rows, or nothing when the tenant has one
# about the listing already (a concurrent create waits for the first and then does nothing).
_CREATE = text(
    """
WITH created AS (
    INSERT INTO conversations (id, listing_id, tenant_id, landlord_id, created_at,
                               last_message_at)
    VALUES (:id, :listing_id, :tenant_id, :landlord_id, :now, :now)
    ON CONFLICT (tenant_id, listing_id) DO NOTHING
    RETURNING id, tenant_id, landlord_id, created_at
), joined AS (
    INSERT INTO conversation_members (conversation_id, user_id, last_activity_at)
    SELECT id, tenant_id, created_at FROM created
    UNION ALL
    SELECT id, landlord_id, created_at FROM created
)
SELECT id FROM created
"""
)


async def create_conversation(
    session: PrimarySession,
    *,
    listing_id: uuid.UUID,
    tenant_id: uuid.UUID,
    landlord_id: uuid.UUID,
    now: datetime,
) -> uuid.UUID | None:
    """The new conversation's id, or None when the tenant has one about the listing."""
    params = {
        "id": uuid.uuid4(),
        "listing_id": listing_id,
        "tenant_id": tenant_id,
        "landlord_id": landlord_id,
        "now": now,
    }
    row = (await session.execute(_CREATE, params)).one_or_none()
    return None if row is None else row[0]


async def conversation_of(
    session: AnySession, *, tenant_id: uuid.UUID, listing_id: uuid.UUID
) -> uuid.UUID | None:
    stmt = select(conversations.c.id).where(
        conversations.c.tenant_id == tenant_id, conversations.c.listing_id == listing_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_conversation(
    session: AnySession, conversation_id: uuid.UUID
) -> ConversationRow | None:
    stmt = select(*CONVERSATION_COLUMNS).where(conversations.c.id == conversation_id)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _conversation(row)


# One statement per send (module-level text: building it per call cost more than running it):
# - the conversation FOR UPDATE: senders to it take turns, so its seqs have no gaps (a
#   waiting send reads the last_seq its predecessor committed);
# - for a participant, the message with the next seq, the conversation's
#   last_seq and both members' activity; the recipient's archive is lifted (a new message
#   brings an archived conversation back);
# - and what the recipient's notification says: their unread count (the author's messages
#   after their read marker, counted in the statement's snapshot, which does not hold the new
#   one yet: + 1), the author's name and the listing's title.
# A retry (the author's client_message_id stored before, also by a send that held the lock
# just before this one) inserts nothing: the unique index decides, and the caller reads it.
_SEND = text(
    """
WITH c AS (
    SELECT id, listing_id, tenant_id, landlord_id, last_seq, created_at, last_message_at
    FROM conversations WHERE id = :conversation_id
    FOR UPDATE
), inserted AS (
    INSERT INTO messages (id, conversation_id, seq, author_id, body, client_message_id, sent_at)
    SELECT :id, c.id, c.last_seq + 1, :author_id, :body, :client_message_id, :now FROM c
    WHERE :author_id IN (c.tenant_id, c.landlord_id)
    ON CONFLICT (conversation_id, author_id, client_message_id) DO NOTHING
    RETURNING id, conversation_id, seq, author_id, body, client_message_id, sent_at
), bumped AS (
    UPDATE conversations c SET last_seq = i.seq, last_message_at = i.sent_at
    FROM inserted i WHERE c.id = i.conversation_id
), touched AS (
    UPDATE conversation_members m
    SET last_activity_at = i.sent_at,
        archived = CASE WHEN m.user_id = i.author_id THEN m.archived ELSE false END
    FROM inserted i WHERE m.conversation_id = i.conversation_id
)
SELECT c.id, c.listing_id, c.tenant_id, c.landlord_id, c.last_seq, c.created_at,
       c.last_message_at,
       i.id AS m_id, i.seq AS m_seq, i.body AS m_body, i.sent_at AS m_sent_at,
       rm.user_id AS recipient_id, a.full_name AS author_name, l.title AS listing_title,
       1 + (SELECT count(*) FROM messages x
             WHERE x.conversation_id = i.conversation_id AND x.author_id = i.author_id
               AND x.seq > rm.read_seq) AS recipient_unread
FROM c
LEFT JOIN inserted i ON true
LEFT JOIN conversation_members rm ON rm.conversation_id = i.conversation_id
                                 AND rm.user_id <> i.author_id
LEFT JOIN users a ON a.id = i.author_id
LEFT JOIN listings l ON l.id = c.listing_id AND i.id IS NOT NULL
"""
)


async def send_message(
    session: PrimarySession,
    *,
    conversation_id: uuid.UUID,
    author_id: uuid.UUID,
    body: str,
    client_message_id: str,
    now: datetime,
) -> SendOutcome | None:
    """Store the author's message in the conversation in one round trip (see _SEND); None
    when there is no such conversation. The author's participation is checked in the
    statement too: for anyone else nothing is written (the caller answers 404)."""
    params = {
        "id": uuid.uuid4(),
        "conversation_id": conversation_id,
        "author_id": author_id,
        "body": body,
        "client_message_id": client_message_id,
        "now": now,
    }
    row = (await session.execute(_SEND, params)).one_or_none()
    if row is None:
        return None
    conversation = ConversationRow(
        row.id,
        row.listing_id,
        row.tenant_id,
        row.landlord_id,
        row.last_seq,
        row.created_at,
        row.last_message_at,
    )
    new = None
    if row.m_id is not None:
        message = MessageRow(
            row.m_id, row.id, row.m_seq, author_id, row.m_body, client_message_id, row.m_sent_at
        )
        new = NewMessage(
            message,
            recipient_id=row.recipient_id,
            author_name=row.author_name,
            listing_title=row.listing_title,
            recipient_unread=int(row.recipient_unread),
        )
    return SendOutcome(conversation, new)


async def get_message(session: AnySession, message_id: uuid.UUID) -> MessageRow | None:
    stmt = select(*MESSAGE_COLUMNS).where(messages.c.id == message_id)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _message(row)


async def message_by_client_id(
    session: AnySession,
    conversation_id: uuid.UUID,
    *,
    author_id: uuid.UUID,
    client_message_id: str,
) -> MessageRow | None:
    stmt = select(*MESSAGE_COLUMNS).where(
        messages.c.conversation_id == conversation_id,
        messages.c.author_id == author_id,
        messages.c.client_message_id == client_message_id,
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _message(row)


async def message_page(
    session: AnySession, conversation_id: uuid.UUID, *, before: int | None, limit: int
) -> list[MessageRow]:
    """Messages newest first, those with a seq below `before` (a range of the seq index)."""
    stmt = select(*MESSAGE_COLUMNS).where(messages.c.conversation_id == conversation_id)
    if before is not None:
        stmt = stmt.where(messages.c.seq < before)
    stmt = stmt.order_by(messages.c.seq.desc()).limit(limit)
    return [_message(r) for r in (await session.execute(stmt)).all()]


# --- a participant's view ---------------------------------------------------------------------

_other = users.alias("other")
_last = messages.alias("last_message")
_unread_source = messages.alias("unread")
_OTHER_ID = case(
    (conversations.c.tenant_id == members.c.user_id, conversations.c.landlord_id),
    else_=conversations.c.tenant_id,
)
# Messages of the other participant after the member's read marker (an index-only range).
_UNREAD = (
    select(func.count())
    .select_from(_unread_source)
    .where(
        _unread_source.c.conversation_id == members.c.conversation_id,
        _unread_source.c.seq > members.c.read_seq,
        _unread_source.c.author_id != members.c.user_id,
    )
    .correlate(members)
    .scalar_subquery()
)
# Typed as one wide row (the column list is longer than Select's typed overloads).
_VIEW: Select[Any] = select(
    conversations.c.id,
    conversations.c.listing_id,
    listings.c.title.label("listing_title"),
    conversations.c.tenant_id,
    conversations.c.landlord_id,
    _other.c.id.label("other_id"),
    _other.c.full_name.label("other_name"),
    conversations.c.created_at,
    members.c.last_activity_at,
    members.c.archived,
    members.c.read_seq,
    _UNREAD.label("unread_count"),
    _last.c.id.label("last_id"),
    _last.c.seq.label("last_seq"),
    _last.c.author_id.label("last_author_id"),
    func.left(_last.c.body, literal(EXCERPT_LENGTH)).label("last_excerpt"),
    _last.c.sent_at.label("last_sent_at"),
).select_from(
    members.join(conversations, conversations.c.id == members.c.conversation_id)
    .join(listings, listings.c.id == conversations.c.listing_id)
    .join(_other, _other.c.id == _OTHER_ID)
    .outerjoin(
        _last,
        and_(
            _last.c.conversation_id == conversations.c.id,
            _last.c.seq == conversations.c.last_seq,
        ),
    )
)
_VIEW_FIELDS = [f for f in ConversationView._fields if f != "last_message"]


def _view(row: Row[Any]) -> ConversationView:
    values = row._asdict()
    last = None
    if values["last_id"] is not None:
        last = LastMessage(
            id=values["last_id"],
            seq=values["last_seq"],
            author_id=values["last_author_id"],
            excerpt=values["last_excerpt"],
            sent_at=values["last_sent_at"],
        )
    return ConversationView(**{name: values[name] for name in _VIEW_FIELDS}, last_message=last)


async def conversation_view(
    session: AnySession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> ConversationView | None:
    """The conversation as `user_id` sees it; None unless they take part in it."""
    stmt = _VIEW.where(members.c.conversation_id == conversation_id, members.c.user_id == user_id)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _view(row)


async def list_conversations(
    session: AnySession,
    user_id: uuid.UUID,
    *,
    archived: bool,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[ConversationView]:
    """The user's conversations, newest activity first, after a keyset cursor (a range of
    the member index)."""
    stmt = _VIEW.where(members.c.user_id == user_id, members.c.archived == archived)
    if after is not None:
        stmt = stmt.where(
            tuple_(members.c.last_activity_at, members.c.conversation_id) < tuple_(*after)
        )
    stmt = stmt.order_by(members.c.last_activity_at.desc(), members.c.conversation_id.desc()).limit(
        limit
    )
    return [_view(r) for r in (await session.execute(stmt)).all()]


async def set_archived(
    session: PrimarySession, conversation_id: uuid.UUID, user_id: uuid.UUID, *, archived: bool
) -> bool:
    """False when the user takes no part in the conversation."""
    stmt = (
        update(members)
        .where(members.c.conversation_id == conversation_id, members.c.user_id == user_id)
        .values(archived=archived)
        .returning(members.c.user_id)
    )
    return (await session.execute(stmt)).one_or_none() is not None


# --- read markers -----------------------------------------------------------------------------


async def advance_read(
    session: PrimarySession, conversation_id: uuid.UUID, user_id: uuid.UUID, *, seq: int
) -> bool:
    """Move the member's read marker up to `seq`; never backwards. True if it moved."""
    stmt = (
        update(members)
        .where(
            members.c.conversation_id == conversation_id,
            members.c.user_id == user_id,
            members.c.read_seq < seq,
        )
        .values(read_seq=seq)
        .returning(members.c.read_seq)
    )
    return (await session.execute(stmt)).one_or_none() is not None


async def read_marker(
    session: AnySession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> ReadMarker | None:
    at_marker = (
        select(messages.c.id)
        .where(
            messages.c.conversation_id == members.c.conversation_id,
            messages.c.seq == members.c.read_seq,
        )
        .correlate(members)
        .scalar_subquery()
    )
    stmt = select(
        members.c.conversation_id,
        members.c.user_id,
        members.c.read_seq,
        at_marker.label("message_id"),
        _UNREAD.label("unread_count"),
    ).where(members.c.conversation_id == conversation_id, members.c.user_id == user_id)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else ReadMarker(**row._asdict())


# --- personal data (privacy: export) ----------------------------------------------------------


async def export_conversations(session: PrimarySession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The user's conversations with every message in them: the other participant's messages
    are part of the user's correspondence."""
    conversations = text(
        """
        SELECT c.id, c.listing_id,
               CASE WHEN c.tenant_id = :uid THEN 'tenant' ELSE 'landlord' END AS role,
               CASE WHEN c.tenant_id = :uid THEN c.landlord_id ELSE c.tenant_id END
                   AS other_party_id,
               o.full_name AS other_party_name, c.created_at, c.last_message_at,
               m.read_seq, m.archived
        FROM conversations c
        JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = :uid
        JOIN users o ON o.id = CASE WHEN c.tenant_id = :uid THEN c.landlord_id
                                    ELSE c.tenant_id END
        WHERE c.tenant_id = :uid OR c.landlord_id = :uid
        ORDER BY c.created_at, c.id
        """
    )
    bodies = text(
        """
        SELECT msg.conversation_id, msg.seq, msg.author_id, msg.author_id = :uid AS mine,
               msg.body, msg.sent_at
        FROM messages msg JOIN conversations c ON c.id = msg.conversation_id
        WHERE c.tenant_id = :uid OR c.landlord_id = :uid
        ORDER BY msg.conversation_id, msg.seq
        """
    )
    params = {"uid": user_id}
    rows = [dict(r._mapping) for r in await session.execute(conversations, params)]
    by_id: dict[Any, dict[str, Any]] = {}
    for row in rows:
        row["messages"] = []
        by_id[row["id"]] = row
    for message in await session.execute(bodies, params):
        if message.conversation_id in by_id:
            item = dict(message._mapping)
            del item["conversation_id"]
            by_id[message.conversation_id]["messages"].append(item)
    return rows


# --- notifications about unread messages ------------------------------------------------------

_UNREAD_STATE = text(
    """
    SELECT r.id AS recipient_id, r.email AS recipient_email, r.full_name AS recipient_name,
           r.language AS recipient_language,
           r.notification_preferences AS recipient_preferences,
           a.full_name AS other_name, l.title AS listing_title, m.read_seq,
           (SELECT max(x.seq) FROM messages x
             WHERE x.conversation_id = c.id AND x.author_id <> m.user_id) AS newest_seq,
           (SELECT count(*) FROM messages x
             WHERE x.conversation_id = c.id AND x.author_id <> m.user_id
               AND x.seq > m.read_seq) AS unread_count
    FROM conversations c
    JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = :recipient
    JOIN users r ON r.id = m.user_id
    JOIN users a ON a.id = CASE WHEN c.tenant_id = m.user_id THEN c.landlord_id
                                ELSE c.tenant_id END
    JOIN listings l ON l.id = c.listing_id
    WHERE c.id = :conversation
    """
)


async def unread_state(
    session: AnySession, conversation_id: uuid.UUID, recipient_id: uuid.UUID
) -> UnreadState | None:
    """What the recipient has not read of the other participant's messages, with what a
    notification or email about it says; None unless they take part in the conversation."""
    row = (
        await session.execute(
            _UNREAD_STATE, {"conversation": conversation_id, "recipient": recipient_id}
        )
    ).one_or_none()
    if row is None:
        return None
    values = row._asdict()
    values["newest_seq"] = values["newest_seq"] or 0
    values["recipient_preferences"] = dict(values["recipient_preferences"] or {})
    return UnreadState(**values)
