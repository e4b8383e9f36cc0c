"""`GET /api/v1/events`: the caller's event stream (Server-Sent Events).

The platform knows no accounts: the application hands in the dependency that authenticates
the caller (`events_router(current_user)`); whatever it returns has the user's `id`.

(No postponed annotations here: the route's parameters name the dependency handed in, which
FastAPI could not find by name.)
"""

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Header, Query

from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.unit import transaction
from sichrplace.platform.events import repository
from sichrplace.platform.events.delivery import frames
from sichrplace.platform.events.errors import bad_last_event_id
from sichrplace.platform.events.hub import EVENT_HUB, EventHub
from sichrplace.platform.events.sse import EventStreamResponse
from sichrplace.platform.http.dependencies import database, part
from sichrplace.platform.http.openapi import problems

EVENTS_PATH = "/events"

_DESCRIPTION = """\
The caller's events as Server-Sent Events (`text/event-stream`), whichever instance produced
them. Each event is `id: <n>` (numbered per user), `event: <kind>`, `data: <JSON>`; a comment
line (`: ping`) is sent when the stream has been quiet for a while, `retry:` once at the start.

Kinds: `message.created` (a message in one of the caller's conversations, the caller's own
included), `conversation.read` (the other participant read up to a message),
`notification.created` (a new in-app notification, as `GET /notifications` shows it),
`viewing.updated` (a booking of the caller's, as tenant or landlord, changed its status:
`{id, status, listing_id, slot_id, starts_at, ends_at, updated_at, sequence}`).

A new stream starts with what happens from now on. A client that reconnects with
`Last-Event-ID: <n>` (or `?last_event_id=<n>` where it cannot set headers) first receives
everything after n, in order, then live events; no event is sent twice on a stream. When an
instance shuts down it ends its streams: reconnect with the last id received.
"""


class Caller(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


def _event_id(value: str | None, field: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise bad_last_event_id(field)
    return int(value)


def events_router(current_user: Callable[..., Any]) -> APIRouter:
    """The stream's route, authenticated by `current_user` (401 without a valid token)."""
    router = APIRouter(tags=["events"])

    @router.get(
        EVENTS_PATH,
        response_class=EventStreamResponse,
        status_code=200,
        summary="The caller's event stream (Server-Sent Events)",
        description=_DESCRIPTION,
        responses={
            200: {
                "description": "The stream; it stays open until the client or server ends it.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **problems(
                401,
                422,
                429,
                503,
                s422="Last-Event-ID or last_event_id is not an event id",
                s429="too many open streams of this user on this instance",
                s503="this instance takes no more streams (full or shutting down): reconnect",
            ),
        },
    )
    async def events(
        user: Annotated[Caller, Depends(current_user)],
        hub: Annotated[EventHub, Depends(part(EVENT_HUB))],
        db: Annotated[Database, Depends(database)],
        last_event_id_header: Annotated[
            str | None,
            Header(alias="Last-Event-ID", description="the last event id received"),
        ] = None,
        last_event_id: Annotated[
            str | None,
            Query(description="the last event id received (for clients without headers)"),
        ] = None,
    ) -> EventStreamResponse:
        after = _event_id(last_event_id_header, "Last-Event-ID")
        if after is None:
            after = _event_id(last_event_id, "last_event_id")
        # Subscribed first, then the start read: anything committed after that read is
        # published while the hub listens, anything before is replayed or not wanted.
        stream = await hub.open(user.id)
        try:
            async with transaction(db) as session:
                newest = await repository.last_seq(session, user.id)
        except BaseException:
            hub.release(stream)
            raise
        # An id from the future (another database, a made-up one) would drop real events.
        stream.last_sent = newest if after is None else min(after, newest)
        body = frames(stream, db, hub.settings, replay=stream.last_sent < newest)
        return EventStreamResponse(body, hub, stream)

    return router
