"""Contracts tables (migration 0019). The audit trail and the frozen documents are append-only:
triggers in the migration refuse UPDATE and DELETE on them, and a sent contract's terms."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import CHAR, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from sichrplace.contracts.vocabulary import (
    ContractStatus,
    DepositPlan,
    DepositStatus,
    EventKind,
    Party,
    sql_list,
)
from sichrplace.platform.db.base import Base

SHA256_CHECK = "~ '^[0-9a-f]{64}$'"

CONTRACT_CHECKS: dict[str, str] = {
    "status": f"status IN ({sql_list([s.value for s in ContractStatus])})",
    "deposit_plan": f"deposit_plan IN ({sql_list([p.value for p in DepositPlan])})",
    "deposit_status": f"deposit_status IN ({sql_list([s.value for s in DepositStatus])})",
    "cents_non_negative": "cold_rent_cents >= 0 AND utilities_cents >= 0 AND deposit_cents >= 0",
    # §551 BGB, as for listings.
    "deposit_cap": "deposit_cents <= 3 * cold_rent_cents",
    "dates": "end_date IS NULL OR end_date > start_date",
    "two_parties": "landlord_id <> tenant_id",
    "document_sha256": f"document_sha256 IS NULL OR document_sha256 {SHA256_CHECK}",
    "sent_has_document": "status = 'draft' OR document_sha256 IS NOT NULL",
}


def _ts(*, nullable: bool = False, default_now: bool = False) -> Mapped[Any]:
    return mapped_column(
        DateTime(timezone=True),
        nullable=nullable,
        server_default=text("now()") if default_now else None,
    )


class Contract(Base):
    __tablename__ = "contracts"
    __table_args__ = (
        *(CheckConstraint(sql, name=name) for name, sql in CONTRACT_CHECKS.items()),
        Index("ix_contracts_landlord_id_created_at", "landlord_id", "created_at"),
        Index("ix_contracts_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_contracts_viewing_id", "viewing_id"),
        Index("ix_contracts_listing_id", "listing_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id"), nullable=False)
    viewing_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("viewings.id"), nullable=True)
    landlord_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    cold_rent_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    utilities_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    deposit_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    deposit_plan: Mapped[str] = mapped_column(Text, nullable=False)
    deposit_plan_fixed_at: Mapped[datetime | None] = _ts(nullable=True)
    deposit_status: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text("'unpaid'")
    )
    document_sha256: Mapped[str | None] = mapped_column(CHAR(64), nullable=True)
    created_at: Mapped[datetime] = _ts(default_now=True)
    updated_at: Mapped[datetime] = _ts(default_now=True)
    sent_at: Mapped[datetime | None] = _ts(nullable=True)
    fully_signed_at: Mapped[datetime | None] = _ts(nullable=True)


class ContractDocument(Base):
    """The PDF as sent: the bytes both parties sign (their SHA-256 is the contract's)."""

    __tablename__ = "contract_documents"
    __table_args__ = (CheckConstraint(f"sha256 {SHA256_CHECK}", name="sha256"),)

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id"), primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    sha256: Mapped[str] = mapped_column(CHAR(64), nullable=False)
    created_at: Mapped[datetime] = _ts(default_now=True)


class ContractSignature(Base):
    """One signature per party: the primary key makes a second one (or a racing one) fail."""

    __tablename__ = "contract_signatures"
    __table_args__ = (
        CheckConstraint(f"party IN ({sql_list([p.value for p in Party])})", name="party"),
        CheckConstraint(f"document_sha256 {SHA256_CHECK}", name="document_sha256"),
    )

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id"), primary_key=True)
    party: Mapped[str] = mapped_column(Text, primary_key=True)
    signer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    full_name: Mapped[str] = mapped_column(Text, nullable=False)
    document_sha256: Mapped[str] = mapped_column(CHAR(64), nullable=False)
    signed_at: Mapped[datetime] = _ts(default_now=True)
    ip: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_agent: Mapped[str | None] = mapped_column(Text, nullable=True)


class ContractEvent(Base):
    """The audit trail (append-only: the database refuses UPDATE and DELETE)."""

    __tablename__ = "contract_events"
    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_list([k.value for k in EventKind])})", name="kind"),
        Index("ix_contract_events_contract_id_id", "contract_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id"), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    ip: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_agent: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    # clock_timestamp(): when the step happened, not when its transaction began.
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )


class ContractDepositInstallment(Base):
    """A deposit part paid: one row per (contract, installment), one per payment."""

    __tablename__ = "contract_deposit_installments"
    __table_args__ = (
        CheckConstraint("installment BETWEEN 1 AND 3", name="installment"),
        CheckConstraint("amount_cents > 0", name="amount_cents"),
    )

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id"), primary_key=True)
    installment: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    amount_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    payment_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, unique=True)
    paid_at: Mapped[datetime] = _ts(default_now=True)
    refunded_at: Mapped[datetime | None] = _ts(nullable=True)
