"""Messaging tables (migration 0023 is the schema; these mirror it for Alembic's metadata and
the repository's Core statements)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from sichrplace.platform.db.base import Base


class Conversation(Base):
    """One per (tenant, listing), between the tenant and the listing's landlord."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "listing_id", name="uq_conversations_tenant_id_listing_id"),
        CheckConstraint("tenant_id <> landlord_id", name="two_people"),
        CheckConstraint("last_seq >= 0", name="last_seq"),
        Index("ix_conversations_listing_id", "listing_id"),
        Index("ix_conversations_landlord_id", "landlord_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    listing_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("listings.id", ondelete="CASCADE"), nullable=False
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    landlord_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # The newest message's seq: the next one is last_seq + 1, taken under this row's lock.
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_message_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class ConversationMember(Base):
    """A participant's own state of a conversation: read marker, archived, last activity."""

    __tablename__ = "conversation_members"
    __table_args__ = (
        CheckConstraint("read_seq >= 0", name="read_seq"),
        Index(
            "ix_conversation_members_user_id_activity",
            "user_id",
            "archived",
            text("last_activity_at DESC"),
            text("conversation_id DESC"),
        ),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # The seq of the newest message the participant has read (0: none).
    read_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    archived: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index(
            "uq_messages_conversation_id_seq",
            "conversation_id",
            "seq",
            unique=True,
            postgresql_include=["author_id"],
        ),
        UniqueConstraint(
            "conversation_id",
            "author_id",
            "client_message_id",
            name="uq_messages_conversation_id_author_id_client_message_id",
        ),
        CheckConstraint("seq > 0", name="seq"),
        CheckConstraint("char_length(body) BETWEEN 1 AND 5000", name="body_length"),
        CheckConstraint(
            "char_length(client_message_id) BETWEEN 1 AND 100", name="client_message_id_length"
        ),
        Index("ix_messages_author_id", "author_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    author_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    body: Mapped[str] = mapped_column(Text, nullable=False)
    client_message_id: Mapped[str] = mapped_column(Text, nullable=False)
    sent_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
