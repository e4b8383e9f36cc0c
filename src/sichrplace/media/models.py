"""The `listing_images` table: one row per upload; variant files are named by their sha256."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, func, text
from sqlalchemy.dialects.postgresql import CHAR, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from sichrplace.platform.db.base import Base


class ImageStatus(StrEnum):
    PROCESSING = "processing"  # original stored, variants not made yet
    READY = "ready"
    FAILED = "failed"  # the job could not make variants (permanent)


ORIGINAL_FORMATS = ("jpeg", "png", "webp")


class ListingImage(Base):
    __tablename__ = "listing_images"
    __table_args__ = (
        CheckConstraint("status IN ('processing', 'ready', 'failed')", name="status"),
        CheckConstraint("original_format IN ('jpeg', 'png', 'webp')", name="original_format"),
        CheckConstraint("original_sha256 ~ '^[0-9a-f]{64}$'", name="original_sha256"),
        CheckConstraint("width > 0 AND height > 0", name="dimensions"),
        Index("ix_listing_images_listing_id_created_at", "listing_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    listing_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("listings.id", ondelete="CASCADE"), nullable=False
    )
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[str] = mapped_column(Text, nullable=False)
    original_sha256: Mapped[str] = mapped_column(CHAR(64), nullable=False)
    original_format: Mapped[str] = mapped_column(Text, nullable=False)
    original_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    # {"320": {"sha256": "...", "width": 320, "height": 213, "bytes": 12345}, ...}
    variants: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
