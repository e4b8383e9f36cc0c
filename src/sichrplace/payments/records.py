"""What the payments repository returns: typed, immutable rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sichrplace.payments.vocabulary import IssueKind, PaymentStatus


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    id: uuid.UUID
    purpose: str
    reference_id: uuid.UUID
    viewing_id: uuid.UUID | None
    contract_id: uuid.UUID | None
    installment: int
    payer_id: uuid.UUID
    payee_id: uuid.UUID
    provider: str
    provider_ref: str
    amount_cents: int
    currency: str
    status: PaymentStatus
    approval_url: str | None
    description: str
    created_at: datetime
    updated_at: datetime
    succeeded_at: datetime | None
    refunded_at: datetime | None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A stored webhook event (verified) not applied yet."""

    provider: str
    event_id: str
    kind: str
    provider_ref: str | None
    refund_ref: str | None
    amount_cents: int | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class RefundRecord:
    id: uuid.UUID
    payment_id: uuid.UUID
    amount_cents: int
    reason: str
    status: str
    refund_ref: str | None


@dataclass(frozen=True, slots=True)
class LedgerTotal:
    """A payment as reconciliation compares it: our status and the ledger's net."""

    payment_id: uuid.UUID
    provider_ref: str
    status: PaymentStatus
    amount_cents: int
    ledger_net_cents: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IssueRecord:
    id: int
    provider: str
    provider_ref: str
    payment_id: uuid.UUID | None
    kind: IssueKind
    detail: str
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
