"""Messaging rules as pure functions (no I/O): who takes part in a conversation, who may start
one, what a message's text must be, and the two cursors.

The service reads and writes; these decide, on typed rows and values, and raise the domain's
problems.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sichrplace.kit.cursor import decode_time_id, encode_time_id
from sichrplace.kit.errors import Forbidden, Unprocessable
from sichrplace.kit.i18n import N_, Msg
from sichrplace.listings import rules as listing_rules
from sichrplace.listings.rules import Caller
from sichrplace.messaging.errors import ConversationNotFound, not_a_cursor, own_listing
from sichrplace.messaging.records import ConversationRow, ListingBrief
from sichrplace.messaging.vocabulary import MAX_BODY

# --- who ------------------------------------------------------------------------------------


def check_participant(user_id: uuid.UUID, conversation: ConversationRow) -> uuid.UUID:
    """The other participant, if `user_id` is one of the two; everyone else (admins too) gets
    404: a conversation is private, its existence is never revealed."""
    if user_id == conversation.tenant_id:
        return conversation.landlord_id
    if user_id == conversation.landlord_id:
        return conversation.tenant_id
    raise ConversationNotFound()


def may_see_listing(caller: Caller, listing: ListingBrief | None) -> bool:
    """The listings' own visibility rule (an archived listing only for who manages it)."""
    return listing is not None and listing_rules.may_see(
        caller, owner_id=listing.owner_id, status=listing.status
    )


def check_may_start(caller: Caller, listing: ListingBrief) -> None:
    """Tenants start conversations (403 for other roles; the route says so first), never
    about a listing of their own (422 naming `listing_id`)."""
    if caller.role != "tenant":
        raise Forbidden(N_("Only tenants start conversations."))
    if caller.id == listing.owner_id:
        raise own_listing()


# --- what -----------------------------------------------------------------------------------


def trim_body(text: str) -> str:
    return text.strip()


def body_problem(trimmed: str) -> Msg | None:
    """Why a (trimmed) message text is refused, or None when it is fine."""
    if not trimmed:
        return N_("must not be empty")
    if len(trimmed) > MAX_BODY:
        return N_("must be at most {n} characters", n=MAX_BODY)
    return None


def check_body(text: str) -> str:
    """The message text to store (trimmed), or 422 naming `body`."""
    trimmed = trim_body(text)
    problem = body_problem(trimmed)
    if problem is not None:
        raise Unprocessable.field("body", problem)
    return trimmed


def rfc3339(moment: datetime) -> str:
    """A time in UTC as the API writes it (`Z`), also inside events."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- cursors --------------------------------------------------------------------------------


def next_message_cursor(seqs: list[int], limit: int) -> int | None:
    """A message page (newest first) goes on before its oldest seq, unless it reached the
    first message (seqs have no gaps, so seq 1 is the end) or came out short."""
    if len(seqs) < limit or not seqs or seqs[-1] <= 1:
        return None
    return seqs[-1]


def encode_cursor(moment: datetime, conversation_id: uuid.UUID) -> str:
    return encode_time_id(moment, conversation_id)


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        return decode_time_id(cursor)
    except ValueError:
        raise not_a_cursor("cursor") from None
