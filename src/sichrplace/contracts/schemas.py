"""Contract input and output shapes (Pydantic). Cross-field rules (dates, deposit cap, where
the parties come from) are in `rules` and `service`."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

from sichrplace.contracts.vocabulary import (
    ContractStatus,
    DepositPlan,
    DepositStatus,
    EventKind,
    Party,
)
from sichrplace.kit.errors import InvalidValue
from sichrplace.kit.i18n import N_
from sichrplace.listings.schemas import Cents, Day

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$", description="hex SHA-256")]
FullName = Annotated[str, Field(min_length=2, max_length=200)]


class ContractCreate(BaseModel):
    """From a confirmed viewing (`viewing_id`), or for a listing and a tenant."""

    model_config = ConfigDict(extra="forbid")

    viewing_id: uuid.UUID | None = None
    listing_id: uuid.UUID | None = None
    tenant_id: uuid.UUID | None = None
    start_date: Day
    end_date: Day | None = Field(default=None, description="none: unbefristet")
    cold_rent_cents: Cents
    utilities_cents: Cents
    deposit_cents: Cents = Field(description="at most 3 x cold_rent_cents (§551 BGB)")
    deposit_plan: DepositPlan = Field(
        default=DepositPlan.ONCE,
        description="a proposal: the tenant chooses (§551 Abs. 2 BGB) until the first payment",
    )


def _must_accept(value: bool) -> bool:
    if not value:
        raise InvalidValue(N_("must be true to sign"))
    return value


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: FullName
    accept: Annotated[bool, Strict(), AfterValidator(_must_accept)] = Field(
        description="must be true: the signer accepts the document"
    )
    document_sha256: Sha256


class DepositPlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deposit_plan: DepositPlan


class SignatureOut(BaseModel):
    party: Party
    full_name: str
    signed_at: datetime


class InstallmentOut(BaseModel):
    installment: int
    amount_cents: int
    due_date: date
    paid_at: datetime | None
    refunded_at: datetime | None


class ContractOut(BaseModel):
    id: uuid.UUID
    status: ContractStatus
    listing_id: uuid.UUID
    viewing_id: uuid.UUID | None
    landlord_id: uuid.UUID
    tenant_id: uuid.UUID
    start_date: date
    end_date: date | None
    cold_rent_cents: int
    utilities_cents: int
    warm_rent_cents: int
    deposit_cents: int
    deposit_plan: DepositPlan
    deposit_plan_fixed: bool
    deposit_status: DepositStatus
    deposit_installments: list[InstallmentOut]
    document_sha256: str | None
    signatures: list[SignatureOut]
    created_at: datetime
    sent_at: datetime | None
    fully_signed_at: datetime | None


class ContractPage(BaseModel):
    items: list[ContractOut]


class AuditEventOut(BaseModel):
    id: int
    kind: EventKind
    actor_id: uuid.UUID | None
    actor_party: Party | None
    ip: str | None
    user_agent: str | None
    detail: dict[str, object]
    at: datetime


class AuditOut(BaseModel):
    contract_id: uuid.UUID
    events: list[AuditEventOut]
