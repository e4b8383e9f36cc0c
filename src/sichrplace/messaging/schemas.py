"""Messaging input and output shapes (Pydantic). Times are RFC 3339 in UTC."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sichrplace.kit.errors import InvalidValue
from sichrplace.messaging import rules
from sichrplace.messaging.vocabulary import EXCERPT_LENGTH, MAX_BODY, MAX_CLIENT_MESSAGE_ID


def _body(value: str) -> str:
    trimmed = rules.trim_body(value)
    problem = rules.body_problem(trimmed)
    if problem is not None:
        raise InvalidValue(problem)
    return trimmed


Body = Annotated[
    str,
    AfterValidator(_body),
    Field(
        description=f"the text, trimmed; 1 to {MAX_BODY} characters after trimming "
        "(links are not rewritten)",
        # What a client may send before trimming: the limit plus generous whitespace.
        max_length=2 * MAX_BODY,
    ),
]
ClientMessageId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_CLIENT_MESSAGE_ID,
        description="the client's id of this message: sending it again returns the stored "
        "message instead of a second one",
    ),
]


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listing_id: uuid.UUID
    body: Body
    client_message_id: ClientMessageId | None = Field(
        default=None,
        description="optional: makes the first message's send safe to repeat, as for "
        "POST /conversations/{id}/messages",
    )


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Body
    client_message_id: ClientMessageId


class ReadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    up_to_message_id: uuid.UUID = Field(description="a message of this conversation")


class MessageOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int = Field(description="the server's order in the conversation: 1, 2, 3 ...")
    author_id: uuid.UUID
    body: str
    client_message_id: str
    sent_at: datetime


class MessagePage(BaseModel):
    items: list[MessageOut] = Field(description="newest first")
    next_cursor: int | None = Field(
        description="pass as `before` for the older messages; null at the first message"
    )


class ListingRef(BaseModel):
    id: uuid.UUID
    title: str


class ParticipantRef(BaseModel):
    id: uuid.UUID
    display_name: str


class LastMessageOut(BaseModel):
    id: uuid.UUID
    seq: int
    author_id: uuid.UUID
    body_excerpt: str = Field(description=f"the first {EXCERPT_LENGTH} characters")
    sent_at: datetime


class ConversationOut(BaseModel):
    id: uuid.UUID
    listing: ListingRef
    other_participant: ParticipantRef
    last_message: LastMessageOut | None
    unread_count: int = Field(
        description="messages of the other participant after the caller's read marker"
    )
    archived: bool = Field(description="archived by the caller (each participant for themself)")
    read_seq: int = Field(description="the caller's read marker (0: nothing read)")
    created_at: datetime
    last_activity_at: datetime


class ConversationStarted(ConversationOut):
    message: MessageOut = Field(description="the message this request sent")


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class ReadMarkerOut(BaseModel):
    conversation_id: uuid.UUID
    up_to_seq: int = Field(description="the caller has read up to this seq (never decreases)")
    up_to_message_id: uuid.UUID | None
    unread_count: int
