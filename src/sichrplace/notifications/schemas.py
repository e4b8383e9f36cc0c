"""Notifications request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from sichrplace.notifications.records import NotificationRow


class NotificationOut(BaseModel):
    id: int = Field(description="Increases with creation: newer notifications have larger ids")
    kind: str = Field(description='"message" or "viewing"')
    title: str = Field(description="German first, English after ' / '")
    data: dict[str, Any] = Field(description="What it is about (ids, counts); no message text")
    created_at: datetime
    read: bool

    @classmethod
    def of(cls, row: NotificationRow) -> NotificationOut:
        return cls(
            id=row.id,
            kind=row.kind,
            title=row.title,
            data=row.data,
            created_at=row.created_at,
            read=row.read_at is not None,
        )


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page")


class ReadIn(BaseModel):
    up_to_id: Annotated[int, Field(ge=1, le=2**63 - 1)]


class ReadOut(BaseModel):
    marked: int = Field(description="How many notifications this call marked read")
    unread_count: int = Field(description="The caller's unread notifications left")
