"""What the payments domain keeps for the life of a process (built by the composition root)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sichrplace.integrations.payments.types import PaymentProvider
from sichrplace.payments.idempotency import IdempotencyStore
from sichrplace.payments.sources import ChargeSource, Purpose
from sichrplace.platform.parts import Key


@dataclass(frozen=True, slots=True)
class PaymentsParts:
    # New payments go to this provider (settings.payments.provider).
    provider: PaymentProvider
    # Every configured provider by name: webhooks, captures and refunds go to the payment's own.
    providers: Mapping[str, PaymentProvider]
    # What each purpose charges for, told by the domain that sells it (sources.py).
    sources: Mapping[Purpose, ChargeSource]
    idempotency: IdempotencyStore = field(default_factory=IdempotencyStore)
    # Where the provider sends the payer back after approval.
    return_url: str = ""
    currency: str = "EUR"
    # The payments jobs' queue (None: the tasks' own); tests use a queue of their own.
    job_queue: str | None = None

    def provider_named(self, name: str) -> PaymentProvider | None:
        return self.providers.get(name)


PAYMENTS = Key[PaymentsParts]("payments")
