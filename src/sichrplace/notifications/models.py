"""Tables of the notifications domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from sichrplace.platform.db.base import Base


class SentEmail(Base):
    """A dedupe key whose email was handed to the SMTP server (claimed in the sending tx)."""

    __tablename__ = "notification_emails_sent"

    dedupe_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Notification(Base):
    """An in-app notification (migration 0024 is the schema). At most one unread row per
    (user, group_key): a partial unique index."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_id_id", "user_id", text("id DESC")),
        Index(
            "ix_notifications_user_id_unread",
            "user_id",
            text("id DESC"),
            postgresql_where=text("read_at IS NULL"),
        ),
        Index(
            "uq_notifications_user_id_group_key_unread",
            "user_id",
            "group_key",
            unique=True,
            postgresql_where=text("read_at IS NULL AND group_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    group_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PendingEmail(Base):
    """A delayed email that is scheduled (one job per key until that job runs)."""

    __tablename__ = "notification_email_pending"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
