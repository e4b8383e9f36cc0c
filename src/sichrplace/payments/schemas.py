"""Payment input and output shapes (Pydantic). Amounts are never input: the server decides
them (the viewing fee by setting, the deposit from the contract)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sichrplace.payments.sources import Purpose
from sichrplace.payments.vocabulary import PaymentStatus


class IntentCreate(BaseModel):
    """What to pay for. Unknown fields (e.g. `amount_cents`) are refused with 422 naming them."""

    model_config = ConfigDict(extra="forbid")

    purpose: Purpose
    viewing_id: uuid.UUID | None = Field(default=None, description="purpose viewing_fee")
    contract_id: uuid.UUID | None = Field(default=None, description="purpose deposit")


class PaymentOut(BaseModel):
    id: uuid.UUID
    status: PaymentStatus
    provider: str
    amount_cents: int
    currency: str
    approval_url: str | None = Field(
        description="where the payer approves the payment (the provider's page)"
    )
    purpose: Purpose
    viewing_id: uuid.UUID | None
    contract_id: uuid.UUID | None
    installment: int = Field(description="deposit in three parts (§551 Abs. 2 BGB): 1, 2 or 3")
    created_at: datetime
    updated_at: datetime


class WebhookAck(BaseModel):
    received: bool = True
    result: str = Field(
        description="applied | unmatched (kept until its payment exists) | duplicate | ignored"
    )
