"""Messaging routes: conversations between a tenant and a listing's landlord, their messages,
read markers and archiving. Mounted under /api/v1.

Only the two participants see a conversation or anything in it: everyone else gets 404 on
every route (never 403). Reads go to the primary: what the other participant just sent must
show at once.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from sichrplace.accounts.dependencies import CurrentUser, TenantUser
from sichrplace.kit.clock import utcnow
from sichrplace.messaging import service
from sichrplace.messaging.errors import ConversationNotFound
from sichrplace.messaging.records import ConversationView, MessageRow, ReadMarker
from sichrplace.messaging.schemas import (
    ConversationCreate,
    ConversationOut,
    ConversationPage,
    ConversationStarted,
    LastMessageOut,
    ListingRef,
    MessageCreate,
    MessageOut,
    MessagePage,
    ParticipantRef,
    ReadCreate,
    ReadMarkerOut,
)
from sichrplace.platform.http.dependencies import PrimaryDB, RedisDep, SettingsDep
from sichrplace.platform.http.openapi import problems

router = APIRouter(prefix="/conversations", tags=["messaging"])

_S404 = "No such conversation, or the caller does not take part in it"
_S429 = "The caller sent too many messages: retry after `Retry-After` seconds"


def _conversation_id(value: str) -> uuid.UUID:
    """Ids are opaque: anything that is not one of ours is simply not found."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ConversationNotFound() from None


def _message_out(message: MessageRow) -> MessageOut:
    return MessageOut(
        id=message.id,
        conversation_id=message.conversation_id,
        seq=message.seq,
        author_id=message.author_id,
        body=message.body,
        client_message_id=message.client_message_id,
        sent_at=message.sent_at,
    )


def _conversation_fields(view: ConversationView) -> dict[str, Any]:
    last = view.last_message
    return {
        "id": view.id,
        "listing": ListingRef(id=view.listing_id, title=view.listing_title),
        "other_participant": ParticipantRef(id=view.other_id, display_name=view.other_name),
        "last_message": None
        if last is None
        else LastMessageOut(
            id=last.id,
            seq=last.seq,
            author_id=last.author_id,
            body_excerpt=last.excerpt,
            sent_at=last.sent_at,
        ),
        "unread_count": view.unread_count,
        "archived": view.archived,
        "read_seq": view.read_seq,
        "created_at": view.created_at,
        "last_activity_at": view.last_activity_at,
    }


def _conversation_out(view: ConversationView) -> ConversationOut:
    return ConversationOut(**_conversation_fields(view))


def _marker_out(marker: ReadMarker) -> ReadMarkerOut:
    return ReadMarkerOut(
        conversation_id=marker.conversation_id,
        up_to_seq=marker.read_seq,
        up_to_message_id=marker.message_id,
        unread_count=marker.unread_count,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ConversationStarted,
    responses={
        200: {
            "model": ConversationStarted,
            "description": "The tenant's conversation about this listing existed: `body` was "
            "sent in it as a new message (or, with a repeated `client_message_id`, the stored "
            "message is returned)",
        },
        **problems(
            401,
            403,
            404,
            422,
            429,
            s403="Only tenants start conversations",
            s404="No such listing (or not visible to the caller)",
            s422="Invalid input (an empty `body` after trimming), or the caller's own listing",
            s429=_S429,
        ),
    },
)
async def start_conversation(
    body: ConversationCreate,
    user: TenantUser,
    session: PrimaryDB,
    redis: RedisDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> ConversationStarted:
    """Write to a listing's landlord. There is one conversation per tenant and listing: the
    first request makes it (201, `Location`), a later one sends `body` as a new message in the
    existing conversation (200). The answer is the conversation with the message sent."""
    started = await service.start_conversation(
        session,
        redis,
        user,
        body.listing_id,
        body=body.body,
        client_message_id=body.client_message_id or str(uuid.uuid4()),
        settings=settings.messaging,
        now=utcnow(),
    )
    if started.created:
        response.headers["Location"] = f"{request.url.path.rstrip('/')}/{started.conversation.id}"
    else:
        response.status_code = status.HTTP_200_OK
    return ConversationStarted(
        **_conversation_fields(started.conversation), message=_message_out(started.message)
    )


@router.get("", response_model=ConversationPage, responses=problems(401, 422))
async def list_conversations(
    user: CurrentUser,
    session: PrimaryDB,
    archived: Annotated[
        bool, Query(description="the caller's archived conversations instead of the others")
    ] = False,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ConversationPage:
    """The caller's conversations (as tenant or as the listing's landlord), newest activity
    first (`next_cursor` pages on), each with its `unread_count` for the caller."""
    rows, next_cursor = await service.list_conversations(
        session, user, archived=archived, cursor=cursor, limit=limit
    )
    return ConversationPage(items=[_conversation_out(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/{conversation_id}", response_model=ConversationOut, responses=problems(401, 404, s404=_S404)
)
async def get_conversation(
    conversation_id: str, user: CurrentUser, session: PrimaryDB
) -> ConversationOut:
    view = await service.conversation_for(session, user, _conversation_id(conversation_id))
    return _conversation_out(view)


@router.get(
    "/{conversation_id}/messages",
    response_model=MessagePage,
    responses=problems(401, 404, 422, s404=_S404),
)
async def list_messages(
    conversation_id: str,
    user: CurrentUser,
    session: PrimaryDB,
    before: Annotated[
        int | None,
        Query(ge=1, description="a message's `seq`: the page holds the messages before it"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> MessagePage:
    """The conversation's messages, newest first; `next_cursor` is the `before` of the
    older page."""
    rows, next_cursor = await service.messages(
        session, user, _conversation_id(conversation_id), before=before, limit=limit
    )
    return MessagePage(items=[_message_out(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageOut,
    responses={
        200: {
            "model": MessageOut,
            "description": "The caller sent this `client_message_id` here before: the stored "
            "message (no second one)",
        },
        **problems(
            401,
            404,
            422,
            429,
            s404=_S404,
            s422="Invalid input: `body` empty after trimming or too long, `client_message_id` "
            "missing or too long",
            s429=_S429,
        ),
    },
)
async def send_message(
    conversation_id: str,
    body: MessageCreate,
    user: CurrentUser,
    session: PrimaryDB,
    redis: RedisDep,
    settings: SettingsDep,
    response: Response,
) -> MessageOut:
    """Send a message (trimmed). Idempotent by `client_message_id` per author and
    conversation: a retry answers 200 with the stored message. A new message un-archives
    the conversation for the recipient; both participants get a `message.created` event."""
    sent = await service.send(
        session,
        redis,
        user,
        _conversation_id(conversation_id),
        body=body.body,
        client_message_id=body.client_message_id,
        settings=settings.messaging,
        now=utcnow(),
    )
    if not sent.created:
        response.status_code = status.HTTP_200_OK
    return _message_out(sent.message)


@router.post(
    "/{conversation_id}/read",
    response_model=ReadMarkerOut,
    responses=problems(
        401,
        404,
        422,
        s404=_S404,
        s422="`up_to_message_id` is not a message of this conversation",
    ),
)
async def mark_read(
    conversation_id: str, body: ReadCreate, user: CurrentUser, session: PrimaryDB, redis: RedisDep
) -> ReadMarkerOut:
    """Move the caller's read marker up to this message; it never moves backwards (an older
    message leaves it as it is). When it moves, the other participant gets a
    `conversation.read` event."""
    marker = await service.mark_read(
        session,
        redis,
        user,
        _conversation_id(conversation_id),
        up_to_message_id=body.up_to_message_id,
    )
    return _marker_out(marker)


@router.post(
    "/{conversation_id}/archive",
    response_model=ConversationOut,
    responses=problems(401, 404, s404=_S404),
)
async def archive(conversation_id: str, user: CurrentUser, session: PrimaryDB) -> ConversationOut:
    """Archive the conversation for the caller only (idempotent). A new message from the
    other participant brings it back (un-archived) for the caller."""
    view = await service.set_archived(
        session, user, _conversation_id(conversation_id), archived=True
    )
    return _conversation_out(view)


@router.post(
    "/{conversation_id}/unarchive",
    response_model=ConversationOut,
    responses=problems(401, 404, s404=_S404),
)
async def unarchive(conversation_id: str, user: CurrentUser, session: PrimaryDB) -> ConversationOut:
    """Restore an archived conversation for the caller (idempotent)."""
    view = await service.set_archived(
        session, user, _conversation_id(conversation_id), archived=False
    )
    return _conversation_out(view)
