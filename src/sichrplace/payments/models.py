"""Payments tables (migration 0020 creates them; these mirror the schema for Alembic's metadata
and the repository's statements)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from sichrplace.payments.vocabulary import (
    LIVE_STATUSES,
    IssueKind,
    LedgerKind,
    PaymentStatus,
    RefundStatus,
    sql_list,
)
from sichrplace.platform.db.base import Base

PROVIDERS_SQL = "provider IN ('stripe', 'paypal')"
LIVE_SQL = f"status IN ({sql_list([s.value for s in LIVE_STATUSES])})"
PAYMENT_CHECKS: dict[str, str] = {
    "purpose": "purpose IN ('viewing_fee', 'deposit')",
    "provider": PROVIDERS_SQL,
    "status": f"status IN ({sql_list([s.value for s in PaymentStatus])})",
    "amount_positive": "amount_cents > 0",
    "currency": "currency = 'EUR'",
    "installment": "installment BETWEEN 1 AND 3",
    # The typed columns name the same thing as reference_id, so the live-reference index
    # also keeps one viewing's fee and one contract's installment from being charged twice.
    "viewing_ref": "viewing_id IS NULL OR (purpose = 'viewing_fee' AND viewing_id = reference_id)",
    "contract_ref": "contract_id IS NULL OR (purpose = 'deposit' AND contract_id = reference_id)",
}


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        *(CheckConstraint(sql, name=name) for name, sql in PAYMENT_CHECKS.items()),
        UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),
        # No double charge: one live payment per viewing fee / deposit installment.
        Index(
            "ux_payments_live_reference",
            "purpose",
            "reference_id",
            "installment",
            unique=True,
            postgresql_where=text(LIVE_SQL),
        ),
        Index("ix_payments_reference_id_created_at", "reference_id", "created_at"),
        Index("ix_payments_provider_created_at", "provider", "created_at"),
        # Under the foreign keys: a viewing's or contract's delete checks them (0021).
        Index(
            "ix_payments_viewing_id", "viewing_id", postgresql_where=text("viewing_id IS NOT NULL")
        ),
        Index(
            "ix_payments_contract_id",
            "contract_id",
            postgresql_where=text("contract_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    purpose: Mapped[str] = mapped_column(Text)
    reference_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    viewing_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("viewings.id"), nullable=True
    )
    contract_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("contracts.id"), nullable=True
    )
    installment: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"))
    payer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"))
    payee_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"))
    provider: Mapped[str] = mapped_column(Text)
    provider_ref: Mapped[str] = mapped_column(Text)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Text, server_default=text("'EUR'"))
    status: Mapped[str] = mapped_column(Text)
    approval_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class IdempotencyKey(Base):
    """The first response to a (user, Idempotency-Key), replayed for 24 h (idempotency.py)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        CheckConstraint("char_length(key) BETWEEN 1 AND 255", name="key_length"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[Any] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PaymentEvent(Base):
    """Every verified webhook event once (deliveries share the event id); one not yet applied
    (its payment row not stored yet, or a refund before its success) has no applied_at."""

    __tablename__ = "payment_events"
    __table_args__ = (
        CheckConstraint(PROVIDERS_SQL, name="provider"),
        Index(
            "ix_payment_events_pending",
            "provider",
            "provider_ref",
            postgresql_where=text("applied_at IS NULL"),
        ),
    )

    provider: Mapped[str] = mapped_column(Text, primary_key=True)
    event_id: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    raw_type: Mapped[str] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(Text, nullable=True)
    refund_ref: Mapped[str | None] = mapped_column(Text, nullable=True)
    amount_cents: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payments.id"), nullable=True
    )


class LedgerEntry(Base):
    """Every money movement, signed integer cents in EUR; one row per provider object and kind
    (the unique key makes a charge or a refund recorded once, whoever reports it first)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("kind", "provider", "object_ref", name="uq_ledger_entries_object"),
        CheckConstraint(
            f"(kind = '{LedgerKind.CHARGE}' AND amount_cents > 0) OR "
            f"(kind = '{LedgerKind.REFUND}' AND amount_cents < 0)",
            name="signed_by_kind",
        ),
        CheckConstraint("currency = 'EUR'", name="currency"),
        Index("ix_ledger_entries_payment_id", "payment_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("payments.id"))
    kind: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(Text)
    object_ref: Mapped[str] = mapped_column(Text)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Text, server_default=text("'EUR'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PaymentRefund(Base):
    """The (full) refund of a payment: one per payment; the job fills in the provider's ref."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_list([s.value for s in RefundStatus])})", name="status"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payments.id"), unique=True
    )
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    refund_ref: Mapped[str | None] = mapped_column(Text, nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ReconciliationIssue(Base):
    """A difference between our rows and the provider's, open until a run no longer finds it
    (the dead-letter-style list of `sichrplace payments issues`)."""

    __tablename__ = "reconciliation_issues"
    __table_args__ = (
        CheckConstraint(PROVIDERS_SQL, name="provider"),
        CheckConstraint(f"kind IN ({sql_list([k.value for k in IssueKind])})", name="kind"),
        Index(
            "ux_reconciliation_issues_open",
            "provider",
            "provider_ref",
            "kind",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    provider: Mapped[str] = mapped_column(Text)
    provider_ref: Mapped[str] = mapped_column(Text)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    kind: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
