"""The payment-provider interface the payments domain depends on (provider-neutral).

Amounts are integer cents. A provider's object for one payment (a Stripe PaymentIntent, a
PayPal order) is named by its `provider_ref`; refunds by theirs. Every call that creates
something carries an idempotency key, so a retried call creates nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

ProviderName = Literal["stripe", "paypal"]
PROVIDERS: tuple[ProviderName, ...] = ("stripe", "paypal")

# requires_action: the payer must approve (the approval page); processing: approved, being
# captured; succeeded: the money moved; failed: declined or abandoned; cancelled: voided.
IntentStatus = Literal["requires_action", "processing", "succeeded", "failed", "cancelled"]
RefundStatus = Literal["pending", "succeeded", "failed"]
# What a verified webhook event means for us; "ignored": a type we do not act on.
EventKind = Literal[
    "payment_approved",  # PayPal: the payer approved; the order must be captured now
    "payment_succeeded",
    "payment_failed",
    "refund_succeeded",
    "refund_failed",
    "ignored",
]


@dataclass(frozen=True, slots=True)
class ProviderIntent:
    provider: ProviderName
    provider_ref: str  # pi_… (Stripe) or the order id (PayPal)
    status: IntentStatus
    amount_cents: int
    currency: str
    # Where the payer approves the payment (the provider's page; in the stack, the fake's).
    approval_url: str | None
    # Set when the provider says so: the capture's / charge's id (refunds refer to it).
    charge_ref: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    provider: ProviderName
    refund_ref: str
    provider_ref: str  # the payment it refunds
    status: RefundStatus
    amount_cents: int


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A webhook event whose signature was verified."""

    provider: ProviderName
    event_id: str  # the provider's event id: deliveries of one event share it
    kind: EventKind
    raw_type: str  # e.g. payment_intent.succeeded, PAYMENT.CAPTURE.COMPLETED
    provider_ref: str | None  # the payment (intent / order) it concerns
    refund_ref: str | None
    amount_cents: int | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ProviderPayment:
    """The provider's view of one payment, for reconciliation."""

    provider_ref: str
    status: IntentStatus
    amount_cents: int
    refunded_cents: int
    currency: str


class PaymentDeclined(Exception):
    """The provider refused this payment or refund (a card decline, an invalid request): a
    final answer for these arguments, not an outage."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class WebhookRejected(Exception):
    """A webhook delivery that is not provably the provider's (bad or missing signature, a
    timestamp outside the tolerance, a malformed body): answered 400, nothing applied."""


class PaymentProvider(Protocol):
    """One provider. Outage-type failures raise `platform.resilience`'s
    `DependencyUnavailable` (the caller answers 503 or a job retries); refusals raise
    `PaymentDeclined`."""

    name: ProviderName
    # How late a new payment may appear in `list_payments` (reconciliation waits that long).
    listing_delay: timedelta

    async def create_intent(
        self,
        *,
        amount_cents: int,
        currency: str,
        idempotency_key: str,
        description: str,
        metadata: Mapping[str, str],
        return_url: str,
    ) -> ProviderIntent: ...

    async def get_intent(self, provider_ref: str) -> ProviderIntent: ...

    async def capture(self, provider_ref: str, *, idempotency_key: str) -> ProviderIntent:
        """Take the money of an approved payment (PayPal's capture; Stripe: the intent as is)."""
        ...

    async def refund(
        self, provider_ref: str, *, amount_cents: int, idempotency_key: str
    ) -> ProviderRefund: ...

    async def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        """The event in a webhook delivery, after proving it is the provider's; raises
        `WebhookRejected` otherwise."""
        ...

    async def list_payments(self, *, created_after: datetime) -> Sequence[ProviderPayment]:
        """The provider's payments created after a time (reconciliation)."""
        ...

    async def aclose(self) -> None: ...
