"""The viewing fee as payments' charge source (purpose "viewing_fee"): what a tenant owes for
a booking, and what a paid or refunded fee does to it. The composition root hands it to
payments (payments imports no viewings code)."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from sichrplace.config import PaymentsSettings, ViewingsSettings
from sichrplace.kit.clock import utcnow
from sichrplace.listings.rules import Caller
from sichrplace.payments.sources import Charge
from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.viewings import repository, rules, service
from sichrplace.viewings.errors import ViewingNotFound, ViewingNotPayable
from sichrplace.viewings.vocabulary import ViewingStatus


class ViewingFeeSource:
    """payments.sources.ChargeSource for "viewing_fee"."""

    def __init__(
        self,
        payments: PaymentsSettings,
        viewings: ViewingsSettings,
        redis: aioredis.Redis | None = None,
    ) -> None:
        self.payments = payments
        self.viewings = viewings
        # Publishes the confirmation on the parties' event streams (without: stored only).
        self.redis = redis

    async def charge_for(
        self, session: PrimarySession, reference_id: uuid.UUID, payer: Caller
    ) -> Charge:
        """The fee (by setting, never the client's) for the payer's own pending booking;
        404 for a booking the payer is no party of, 409 when nothing is owed (the landlord,
        or a booking no longer pending)."""
        context = await repository.viewing_context(session, reference_id)
        if context is None:
            raise ViewingNotFound()
        viewing = context.viewing
        party = rules.check_party(payer, viewing)
        if party != "tenant" or viewing.status != ViewingStatus.PENDING_PAYMENT:
            raise ViewingNotPayable()
        return rules.fee_charge(
            viewing,
            context.title,
            fee_cents=self.payments.viewing_fee_cents,
            timezone=self.viewings.timezone,
        )

    async def on_paid(
        self, session: PrimarySession, reference_id: uuid.UUID, payment_id: uuid.UUID
    ) -> bool:
        return await service.confirm_paid(
            session, self.redis, reference_id, settings=self.viewings, now=utcnow()
        )

    async def on_refunded(
        self, session: PrimarySession, reference_id: uuid.UUID, payment_id: uuid.UUID
    ) -> None:
        await service.record_refund(session, reference_id, now=utcnow())
