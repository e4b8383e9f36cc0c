"""What the contracts repository returns: typed, immutable rows (never dicts or ORM entities)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sichrplace.contracts.vocabulary import (
    ContractStatus,
    DepositPlan,
    DepositStatus,
    EventKind,
    Party,
)


@dataclass(frozen=True, slots=True)
class ContractRow:
    """A contract as stored (without its frozen document's bytes)."""

    id: uuid.UUID
    listing_id: uuid.UUID
    viewing_id: uuid.UUID | None
    landlord_id: uuid.UUID
    tenant_id: uuid.UUID
    status: ContractStatus
    start_date: date
    end_date: date | None
    cold_rent_cents: int
    utilities_cents: int
    deposit_cents: int
    deposit_plan: DepositPlan
    # Set when the tenant starts the first deposit payment: the plan can no longer change.
    deposit_plan_fixed_at: datetime | None
    deposit_status: DepositStatus
    document_sha256: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    fully_signed_at: datetime | None

    @property
    def warm_rent_cents(self) -> int:
        return self.cold_rent_cents + self.utilities_cents


@dataclass(frozen=True, slots=True)
class SignatureRow:
    contract_id: uuid.UUID
    party: Party
    signer_id: uuid.UUID
    full_name: str
    document_sha256: str
    signed_at: datetime
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    contract_id: uuid.UUID
    kind: EventKind
    actor_id: uuid.UUID | None
    ip: str | None
    user_agent: str | None
    detail: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InstallmentRow:
    """One deposit part paid (and perhaps refunded)."""

    contract_id: uuid.UUID
    installment: int
    amount_cents: int
    payment_id: uuid.UUID
    paid_at: datetime
    refunded_at: datetime | None


@dataclass(frozen=True, slots=True)
class PersonRow:
    id: uuid.UUID
    full_name: str
    email: str
    role: str
    language: str = "de"  # of the emails to them


@dataclass(frozen=True, slots=True)
class ListingRef:
    """What a contract needs of its listing: the owner, the address and the rents."""

    id: uuid.UUID
    owner_id: uuid.UUID
    status: str
    street: str
    house_number: str
    postal_code: str
    city: str
    rooms: float
    size_sqm: float


@dataclass(frozen=True, slots=True)
class ViewingRef:
    """What a contract needs of a viewing (read from the viewings table)."""

    id: uuid.UUID
    listing_id: uuid.UUID
    tenant_id: uuid.UUID
    landlord_id: uuid.UUID
    status: str


@dataclass(frozen=True, slots=True)
class Parties:
    """The people and the flat a contract's document names."""

    landlord: PersonRow
    tenant: PersonRow
    listing: ListingRef


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request came from, as the audit trail records it: the client address as the
    app sees it (behind nginx: X-Forwarded-For from a trusted proxy) and the user agent."""

    ip: str | None
    user_agent: str | None
