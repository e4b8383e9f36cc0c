"""What payments charges for, told by the domains that sell it (viewings: the viewing fee;
contracts: the deposit). The composition root hands payments one `ChargeSource` per purpose,
so payments imports none of those domains (they import payments to start a payment)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal, Protocol

from sichrplace.listings.rules import Caller
from sichrplace.platform.db.sessions import PrimarySession

Purpose = Literal["viewing_fee", "deposit"]
PURPOSES: tuple[Purpose, ...] = ("viewing_fee", "deposit")


@dataclass(frozen=True, slots=True)
class Charge:
    """What a payer owes for one reference, decided by the server (never by the client)."""

    amount_cents: int
    payer_id: uuid.UUID
    payee_id: uuid.UUID
    description: str  # German; the provider shows it to the payer
    viewing_id: uuid.UUID | None = None
    contract_id: uuid.UUID | None = None
    # A deposit paid in three monthly parts (§551 Abs. 2 BGB): 1, 2 or 3; otherwise 1.
    installment: int = 1


class ChargeSource(Protocol):
    async def charge_for(
        self, session: PrimarySession, reference_id: uuid.UUID, payer: Caller
    ) -> Charge:
        """What `payer` owes now for the reference (a viewing, a contract). Raises the owning
        domain's 404 problem when the payer may not see it, its 409 when nothing is owed."""
        ...

    async def on_paid(
        self, session: PrimarySession, reference_id: uuid.UUID, payment_id: uuid.UUID
    ) -> bool:
        """The payment succeeded (called inside the webhook's transaction). False: what was
        paid for can no longer be had (e.g. the viewing expired meanwhile): payments refunds."""
        ...

    async def on_refunded(
        self, session: PrimarySession, reference_id: uuid.UUID, payment_id: uuid.UUID
    ) -> None: ...
