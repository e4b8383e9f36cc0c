"""Viewings tables (migration 0018 is the schema; these mirror it for Alembic's metadata and
the repository's Core statements)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sichrplace.platform.db.base import Base
from sichrplace.viewings.vocabulary import LIVE_STATUSES, ViewingStatus


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


LIVE_SQL = f"status IN ({_sql_list([s.value for s in LIVE_STATUSES])})"


class ViewingSlot(Base):
    __tablename__ = "viewing_slots"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ordered"),
        # Overlapping slots of one listing are refused by the database (btree_gist).
        ExcludeConstraint(
            ("listing_id", "="),
            (text("tstzrange(starts_at, ends_at)"), "&&"),
            name="ex_viewing_slots_no_overlap",
            using="gist",
            where=text("deleted_at IS NULL"),
        ),
        Index("ix_viewing_slots_listing_id", "listing_id"),  # the listing's cascade (0021)
        Index(
            "ix_viewing_slots_listing_id_starts_at",
            "listing_id",
            "starts_at",
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    listing_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("listings.id", ondelete="CASCADE"), nullable=False
    )
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # Soft delete: bookings of the past keep pointing at their slot.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Viewing(Base):
    __tablename__ = "viewings"
    __table_args__ = (
        CheckConstraint(
            f"status IN ({_sql_list([s.value for s in ViewingStatus])})", name="status"
        ),
        CheckConstraint("sequence >= 0", name="sequence"),
        CheckConstraint("char_length(message) <= 2000", name="message_length"),
        # At most one live booking per slot.
        Index("ux_viewings_live_slot", "slot_id", unique=True, postgresql_where=text(LIVE_SQL)),
        Index("ix_viewings_tenant_id_created_at", "tenant_id", "created_at", "id"),
        Index("ix_viewings_landlord_id_created_at", "landlord_id", "created_at", "id"),
        Index(
            "ix_viewings_pending_expires_at",
            "expires_at",
            postgresql_where=text("status = 'pending_payment'"),
        ),
        Index("ix_viewings_slot_id", "slot_id"),
        Index("ix_viewings_listing_id", "listing_id"),  # the listing's cascade (0021)
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    slot_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("viewing_slots.id", ondelete="CASCADE"), nullable=False
    )
    listing_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("listings.id", ondelete="CASCADE"), nullable=False
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    landlord_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(Text, nullable=False)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # RFC 5545 SEQUENCE of the viewing's calendar event: bumped on confirm and cancel.
    sequence: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CalendarFeed(Base):
    """A user's secret calendar feed: only the token's SHA-256 is stored."""

    __tablename__ = "calendar_feeds"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    token_sha256: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
