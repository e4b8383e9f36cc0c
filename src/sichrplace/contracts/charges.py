"""The deposit as payments sees it: the `ChargeSource` for purpose "deposit" (wired by the
composition root). Payer the tenant, payee the landlord, the amount the contract's deposit
at once or its next part of three (§551 Abs. 2 BGB), only once the contract is fully signed."""

from __future__ import annotations

import uuid

from sichrplace.contracts import service
from sichrplace.listings.rules import Caller
from sichrplace.payments.sources import Charge
from sichrplace.platform.db.sessions import PrimarySession


class DepositSource:
    """`payments.sources.ChargeSource` for contracts' deposits."""

    async def charge_for(
        self, session: PrimarySession, reference_id: uuid.UUID, payer: Caller
    ) -> Charge:
        """404 (contract-not-found) for anyone but its parties, 403 for the landlord,
        409 (deposit-not-due) unless fully signed with a part still unpaid."""
        due = await service.deposit_due(session, reference_id, payer)
        return Charge(
            amount_cents=due.amount_cents,
            payer_id=due.contract.tenant_id,
            payee_id=due.contract.landlord_id,
            description=due.description,
            contract_id=due.contract.id,
            installment=due.installment,
        )

    async def on_paid(
        self, session: PrimarySession, reference_id: uuid.UUID, payment_id: uuid.UUID
    ) -> bool:
        return await service.deposit_paid(session, reference_id, payment_id)

    async def on_refunded(
        self, session: PrimarySession, reference_id: uuid.UUID, payment_id: uuid.UUID
    ) -> None:
        await service.deposit_refunded(session, reference_id, payment_id)
