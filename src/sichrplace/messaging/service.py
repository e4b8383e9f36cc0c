"""Messaging use cases: start a conversation, send, page, read markers, archiving.
The decisions are the pure rules of `messaging.rules`; the SQL is `messaging.repository`.

Services never commit: the request boundary (or a job's unit of work) does. Each change
emits its real-time events (platform.events) in the same transaction, so an event exists if
and only if its change committed; they are published after the commit.

- A new message un-archives the conversation for its recipient (the sender's own archive
  state stays as it is).
- Sending does not move the sender's read marker: markers move only through `mark_read`.
- A retried send (same author, conversation and client_message_id) returns the stored
  message, whatever its body, and is not counted by the rate limit again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from sichrplace.config import MessagingSettings
from sichrplace.kit.clock import utcnow
from sichrplace.kit.i18n import N_
from sichrplace.listings.errors import ListingNotFound
from sichrplace.listings.rules import Caller
from sichrplace.messaging import repository, rules, tasks
from sichrplace.messaging.errors import (
    ConversationNotFound,
    SendRateLimited,
    message_not_in_conversation,
)
from sichrplace.messaging.records import (
    ConversationRow,
    ConversationView,
    MessageRow,
    NewMessage,
    ReadMarker,
)
from sichrplace.messaging.vocabulary import CONVERSATION_READ, MESSAGE_CREATED
from sichrplace.notifications import service as notifications
from sichrplace.notifications.vocabulary import MESSAGE
from sichrplace.platform import analytics, events
from sichrplace.platform.db.durability import require_synchronous_commit
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession
from sichrplace.platform.ratelimit import FixedWindowLimiter

AnySession = PrimarySession | ReplicaSession
SEND_LIMITER = "message-send"


@dataclass(frozen=True, slots=True)
class Sent:
    message: MessageRow
    created: bool  # False: a retry, the stored message


@dataclass(frozen=True, slots=True)
class Started:
    conversation: ConversationView
    message: MessageRow
    created: bool  # False: the tenant's conversation about the listing existed


def send_limiter(redis: aioredis.Redis, settings: MessagingSettings) -> FixedWindowLimiter:
    return FixedWindowLimiter(
        redis,
        name=SEND_LIMITER,
        limit=settings.send_limit,
        window_seconds=settings.send_window_seconds,
    )


def message_data(message: MessageRow) -> dict[str, Any]:
    """A message as the `message.created` event carries it."""
    return {
        "id": str(message.id),
        "seq": message.seq,
        "author_id": str(message.author_id),
        "body": message.body,
        "sent_at": rules.rfc3339(message.sent_at),
    }


# --- conversations ----------------------------------------------------------------------------


async def start_conversation(
    session: PrimarySession,
    redis: aioredis.Redis,
    caller: Caller,
    listing_id: uuid.UUID,
    *,
    body: str,
    client_message_id: str,
    settings: MessagingSettings,
    now: datetime,
) -> Started:
    """The tenant's conversation about the listing with the landlord, made on first contact
    (one per tenant and listing: a second start finds the first), and `body` sent in it."""
    text = rules.check_body(body)
    listing = await repository.listing_brief(session, listing_id)
    if listing is None or not rules.may_see_listing(caller, listing):
        raise ListingNotFound()
    rules.check_may_start(caller, listing)
    await require_synchronous_commit(session)  # the conversation and its first message
    created_id = await repository.create_conversation(
        session, listing_id=listing.id, tenant_id=caller.id, landlord_id=listing.owner_id, now=now
    )
    if created_id is not None:  # a new conversation is an enquiry about the listing
        analytics.journey(session, "enquiry", listing_id=listing.id, subject_id=created_id)
    conversation_id = created_id or await repository.conversation_of(
        session, tenant_id=caller.id, listing_id=listing.id
    )
    assert conversation_id is not None  # the insert did nothing: it exists (and stays)
    sent = await _send(
        session,
        redis,
        caller,
        conversation_id,
        body=text,
        client_message_id=client_message_id,
        settings=settings,
        now=now,
    )
    view = await repository.conversation_view(session, conversation_id, caller.id)
    assert view is not None
    return Started(view, sent.message, created=created_id is not None)


async def conversation_for(
    session: AnySession, caller: Caller, conversation_id: uuid.UUID
) -> ConversationView:
    """The conversation as the caller sees it; 404 unless they take part in it."""
    view = await repository.conversation_view(session, conversation_id, caller.id)
    if view is None:
        raise ConversationNotFound()
    return view


async def list_conversations(
    session: AnySession,
    caller: Caller,
    *,
    archived: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[ConversationView], str | None]:
    """The caller's conversations (either side), newest activity first, and the next cursor."""
    after = rules.decode_cursor(cursor) if cursor else None
    rows = await repository.list_conversations(
        session, caller.id, archived=archived, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        rules.encode_cursor(rows[-1].last_activity_at, rows[-1].id) if more and rows else None
    )
    return rows, next_cursor


async def set_archived(
    session: PrimarySession, caller: Caller, conversation_id: uuid.UUID, *, archived: bool
) -> ConversationView:
    """Archive or restore the conversation for the caller alone (the other side keeps theirs)."""
    if not await repository.set_archived(session, conversation_id, caller.id, archived=archived):
        raise ConversationNotFound()
    return await conversation_for(session, caller, conversation_id)


# --- messages ---------------------------------------------------------------------------------


async def messages(
    session: AnySession,
    caller: Caller,
    conversation_id: uuid.UUID,
    *,
    before: int | None,
    limit: int,
) -> tuple[list[MessageRow], int | None]:
    """A page of the conversation's messages, newest first, and the seq to page on from."""
    conversation = await repository.get_conversation(session, conversation_id)
    if conversation is None:
        raise ConversationNotFound()
    rules.check_participant(caller.id, conversation)
    rows = await repository.message_page(session, conversation_id, before=before, limit=limit)
    return rows, rules.next_message_cursor([r.seq for r in rows], limit)


async def send(
    session: PrimarySession,
    redis: aioredis.Redis,
    caller: Caller,
    conversation_id: uuid.UUID,
    *,
    body: str,
    client_message_id: str,
    settings: MessagingSettings,
    now: datetime,
) -> Sent:
    """Send a message (trimmed text) to the conversation; idempotent per client_message_id."""
    return await _send(
        session,
        redis,
        caller,
        conversation_id,
        body=rules.check_body(body),
        client_message_id=client_message_id,
        settings=settings,
        now=now,
    )


async def _send(
    session: PrimarySession,
    redis: aioredis.Redis,
    caller: Caller,
    conversation_id: uuid.UUID,
    *,
    body: str,
    client_message_id: str,
    settings: MessagingSettings,
    now: datetime,
) -> Sent:
    # The limit is counted first, so the message's statement needs no lookup before it; a
    # send that turns out to store nothing (a retry, or not the caller's conversation) gives
    # its hit back.
    limiter = send_limiter(redis, settings)
    subject = str(caller.id)
    decision = await limiter.hit(subject)
    if not decision.allowed:
        # A retry of a stored message is not a new send: answered even past the limit.
        stored = await _stored(session, caller, conversation_id, client_message_id)
        if stored is None:
            raise SendRateLimited(decision.retry_after)
        return Sent(stored, created=False)
    # An acknowledged message survives failover (the client will not send it again).
    await require_synchronous_commit(session)
    outcome = await repository.send_message(
        session,
        conversation_id=conversation_id,
        author_id=caller.id,
        body=body,
        client_message_id=client_message_id,
        now=now,
    )
    if outcome is None or outcome.new is None:
        await limiter.refund(subject)
        if outcome is None:
            raise ConversationNotFound()
        rules.check_participant(caller.id, outcome.conversation)
        # Stored before (also by a send that held the lock just before this one): the same
        # message, once.
        stored = await repository.message_by_client_id(
            session, conversation_id, author_id=caller.id, client_message_id=client_message_id
        )
        assert stored is not None
        return Sent(stored, created=False)
    await _notify_recipient(
        session, redis, outcome.conversation, outcome.new, settings=settings, now=now
    )
    return Sent(outcome.new.message, created=True)


async def _stored(
    session: PrimarySession, caller: Caller, conversation_id: uuid.UUID, client_message_id: str
) -> MessageRow | None:
    """The caller's stored message of this client_message_id in a conversation they take
    part in (404 when they do not), or None."""
    conversation = await repository.get_conversation(session, conversation_id)
    if conversation is None:
        raise ConversationNotFound()
    rules.check_participant(caller.id, conversation)
    return await repository.message_by_client_id(
        session, conversation_id, author_id=caller.id, client_message_id=client_message_id
    )


def conversation_group(conversation_id: uuid.UUID) -> str:
    """The group of a conversation's message notifications: one unread per recipient."""
    return f"conversation:{conversation_id}"


async def _notify_recipient(
    session: PrimarySession,
    redis: aioredis.Redis,
    conversation: ConversationRow,
    new: NewMessage,
    *,
    settings: MessagingSettings,
    now: datetime,
) -> None:
    """`message.created` to both participants, the recipient's in-app notification (one
    unread per conversation, refreshed with each message) and, once per burst, the delayed
    unread-message email job, in one statement (and the job's own when it is scheduled)."""
    message, recipient = new.message, new.recipient_id
    created = {"conversation_id": str(conversation.id), "message": message_data(message)}
    await notifications.notify_many(
        session,
        redis,
        MESSAGE,
        [
            notifications.Notice(
                recipient,
                N_("New message from {name}", name=new.author_name),
                {
                    "conversation_id": str(conversation.id),
                    "listing_id": str(conversation.listing_id),
                    "listing_title": new.listing_title,
                    "from_id": str(message.author_id),
                    "from_name": new.author_name,
                    "unread_count": new.recipient_unread,
                    "message_seq": message.seq,
                },
                group_key=conversation_group(conversation.id),
            )
        ],
        now=now,
        also=[
            events.Event(conversation.tenant_id, MESSAGE_CREATED, created),
            events.Event(conversation.landlord_id, MESSAGE_CREATED, created),
        ],
        once=notifications.Once(
            tasks.pending_key(conversation.id, recipient),
            tasks.unread_email,
            settings.unread_email_delay_seconds,
            {"conversation_id": str(conversation.id), "recipient_id": str(recipient)},
        ),
    )


# --- read markers -----------------------------------------------------------------------------


async def mark_read(
    session: PrimarySession,
    redis: aioredis.Redis,
    caller: Caller,
    conversation_id: uuid.UUID,
    *,
    up_to_message_id: uuid.UUID,
) -> ReadMarker:
    """Move the caller's read marker up to a message of the conversation (never backwards;
    an older message leaves it where it is). The other participant learns of a move."""
    conversation = await repository.get_conversation(session, conversation_id)
    if conversation is None:
        raise ConversationNotFound()
    other = rules.check_participant(caller.id, conversation)
    message = await repository.get_message(session, up_to_message_id)
    if message is None or message.conversation_id != conversation.id:
        raise message_not_in_conversation()
    if await repository.advance_read(session, conversation.id, caller.id, seq=message.seq):
        if message.seq >= conversation.last_seq:
            # All read: the conversation's message notification has nothing left to say.
            await notifications.mark_group_read(
                session, caller.id, conversation_group(conversation.id), now=utcnow()
            )
        await events.emit(
            session,
            redis,
            (other,),
            CONVERSATION_READ,
            {
                "conversation_id": str(conversation.id),
                "reader_id": str(caller.id),
                "up_to_seq": message.seq,
            },
        )
    marker = await repository.read_marker(session, conversation.id, caller.id)
    assert marker is not None
    return marker
