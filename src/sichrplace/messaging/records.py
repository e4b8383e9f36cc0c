"""What the messaging repository returns: typed, immutable rows (times timezone-aware UTC)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class ListingBrief:
    """What starting a conversation needs of a listing."""

    id: uuid.UUID
    owner_id: uuid.UUID
    status: str
    title: str


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: uuid.UUID
    listing_id: uuid.UUID
    tenant_id: uuid.UUID
    landlord_id: uuid.UUID
    last_seq: int
    created_at: datetime
    last_message_at: datetime


class MessageRow(NamedTuple):
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    author_id: uuid.UUID
    body: str
    client_message_id: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message just stored, with what its recipient's notification says."""

    message: MessageRow
    recipient_id: uuid.UUID
    author_name: str
    listing_title: str
    recipient_unread: int  # the author's messages the recipient has not read, this one too


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What one send statement did to a conversation it found (as it was before): the
    message it stored, or None (a retry of a stored client_message_id, or a caller who does
    not take part in the conversation)."""

    conversation: ConversationRow
    new: NewMessage | None


@dataclass(frozen=True, slots=True)
class LastMessage:
    id: uuid.UUID
    seq: int
    author_id: uuid.UUID
    excerpt: str
    sent_at: datetime


class ConversationView(NamedTuple):
    """A conversation as one participant sees it (the list's and the detail's item)."""

    id: uuid.UUID
    listing_id: uuid.UUID
    listing_title: str
    tenant_id: uuid.UUID
    landlord_id: uuid.UUID
    other_id: uuid.UUID
    other_name: str
    created_at: datetime
    last_activity_at: datetime
    archived: bool
    read_seq: int
    unread_count: int
    last_message: LastMessage | None


@dataclass(frozen=True, slots=True)
class ReadMarker:
    """A participant's read marker: the seq they have read up to, the message at it (None
    before the first read) and what is still unread."""

    conversation_id: uuid.UUID
    user_id: uuid.UUID
    read_seq: int
    message_id: uuid.UUID | None
    unread_count: int


@dataclass(frozen=True, slots=True)
class UnreadState:
    """A recipient's unread messages in one conversation (from the other participant)."""

    recipient_id: uuid.UUID
    recipient_email: str
    recipient_name: str
    recipient_language: str
    recipient_preferences: dict[str, Any]
    other_name: str
    listing_title: str
    read_seq: int
    newest_seq: int  # the other participant's newest message (0: none)
    unread_count: int
