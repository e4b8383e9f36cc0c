"""Privacy tables: the append-only audit of exports and deletions (migration 0025)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Identity, Index, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import text

from sichrplace.platform.db.base import Base


class PrivacyAudit(Base):
    """Who exported or deleted their data, when and from where. Triggers refuse UPDATE,
    DELETE and TRUNCATE."""

    __tablename__ = "privacy_audit"
    __table_args__ = (
        CheckConstraint("action IN ('export', 'delete')", name="action"),
        Index("ix_privacy_audit_user_id_at", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )
    ip: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_agent: Mapped[str | None] = mapped_column(Text, nullable=True)
