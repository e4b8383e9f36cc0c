"""Notification routes: the caller's in-app notifications and marking them read. Mounted
under /api/v1.

The platform's layering puts accounts beside notifications, so the application hands in the
dependency that authenticates the caller (`notifications_router(current_user)`), as for the
event stream. (No postponed annotations: the routes' parameters name that dependency.)
"""

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Query

from sichrplace.kit.clock import utcnow
from sichrplace.notifications import service
from sichrplace.notifications.schemas import NotificationOut, NotificationPage, ReadIn, ReadOut
from sichrplace.platform.http.dependencies import PrimaryDB
from sichrplace.platform.http.openapi import problems


class Caller(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


def notifications_router(current_user: Callable[..., Any]) -> APIRouter:
    router = APIRouter(prefix="/notifications", tags=["notifications"])

    @router.get(
        "",
        response_model=NotificationPage,
        summary="The caller's notifications, newest first",
        responses=problems(401, 422, s422="cursor is not a cursor of this list"),
    )
    async def list_notifications(
        user: Annotated[Caller, Depends(current_user)],
        session: PrimaryDB,
        unread: Annotated[bool, Query(description="only unread ones")] = False,
        cursor: Annotated[str | None, Query(max_length=20)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> NotificationPage:
        rows, next_cursor = await service.list_notifications(
            session, user.id, unread=unread, cursor=cursor, limit=limit
        )
        return NotificationPage(
            items=[NotificationOut.of(r) for r in rows], next_cursor=next_cursor
        )

    @router.post(
        "/read",
        response_model=ReadOut,
        summary="Mark the caller's notifications up to an id read",
        description=(
            "Marks the caller's unread notifications with an id up to `up_to_id` read. Only "
            "the caller's own are touched; a read notification never becomes unread again."
        ),
        responses=problems(401, 422, s422="up_to_id is not a notification id"),
    )
    async def mark_read(
        body: ReadIn, user: Annotated[Caller, Depends(current_user)], session: PrimaryDB
    ) -> ReadOut:
        marked, unread = await service.mark_read(
            session, user.id, up_to_id=body.up_to_id, now=utcnow()
        )
        return ReadOut(marked=marked, unread_count=unread)

    return router
