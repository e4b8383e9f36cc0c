"""Tables of the notifications domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text, func
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
