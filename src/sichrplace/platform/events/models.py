"""Tables of the per-user event stream (`platform.events`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from sichrplace.platform.db.base import Base


class UserEventCounter(Base):
    """The last sequence number handed out per user. Appending an event updates this row, so
    writers for one user take turns and their events commit in sequence order (a reader
    that has seen n never later finds an n-1 it missed)."""

    __tablename__ = "user_event_counters"

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger)


class UserEvent(Base):
    """One event for one user: what their streams (SSE) carry and replay from."""

    __tablename__ = "user_events"
    __table_args__ = (Index("ix_user_events_created_at", "created_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    data: Mapped[Any] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
