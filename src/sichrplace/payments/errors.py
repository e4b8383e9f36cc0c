"""Payment problems (problem+json `type` slugs are stable)."""

from __future__ import annotations

from sichrplace.kit.errors import (
    BadRequest,
    Conflict,
    NotFound,
    ProblemError,
    ServiceUnavailable,
    Unprocessable,
    field_detail,
)
from sichrplace.kit.i18n import N_

IDEMPOTENCY_HEADER = "Idempotency-Key"


class PaymentNotFound(NotFound):
    slug = "payment-not-found"

    def __init__(self) -> None:
        super().__init__(N_("No such payment."))


class UnknownProvider(NotFound):
    slug = "unknown-payment-provider"

    def __init__(self, name: str) -> None:
        super().__init__(N_("No payment provider '{name}'.", name=name))


class WebhookInvalid(BadRequest):
    """A delivery that is not provably the provider's: nothing was applied."""

    slug = "webhook-rejected"

    def __init__(self, reason: str) -> None:
        # The reason is the adapter's, in English: it is meant for the provider's logs.
        super().__init__(N_("The webhook was not accepted: {reason}", reason=reason))


class PaymentDeclined(ProblemError):
    """The provider refused the payment (402 Payment Required, as Stripe answers a decline)."""

    status, slug = 402, "payment-declined"

    def __init__(self, code: str) -> None:
        super().__init__(N_("The payment provider declined the payment ({code}).", code=code))


class ProviderUnavailable(ServiceUnavailable):
    slug = "payment-provider-unavailable"

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__(
            N_("The payment provider is unavailable right now."),
            retry_after=max(1, int(retry_after or 5)),
        )


class PaymentInProgress(Conflict):
    slug = "payment-in-progress"

    def __init__(self, status: str) -> None:
        super().__init__(
            N_("A payment for this is already '{status}'.", status=status),
            errors=[
                {"field": "status", "message": N_("a payment is already '{status}'", status=status)}
            ],
        )


class NotRefundable(Conflict):
    slug = "payment-not-refundable"

    def __init__(self, status: str) -> None:
        super().__init__(
            N_("A payment that is '{status}' cannot be refunded.", status=status),
            errors=[
                {"field": "status", "message": N_("not refundable when '{status}'", status=status)}
            ],
        )


class IdempotencyKeyReused(Unprocessable):
    slug = "idempotency-key-reused"

    def __init__(self) -> None:
        message = N_("was used for a different request (method, path or body)")
        super().__init__(
            field_detail(IDEMPOTENCY_HEADER, message),
            errors=[{"field": IDEMPOTENCY_HEADER, "message": message}],
        )


class IdempotencyKeyInvalid(Unprocessable):
    slug = "idempotency-key-invalid"

    def __init__(self) -> None:
        message = N_("must be 1 to 255 printable ASCII characters")
        super().__init__(
            field_detail(IDEMPOTENCY_HEADER, message),
            errors=[{"field": IDEMPOTENCY_HEADER, "message": message}],
        )


class IdempotencyKeyUnfinished(Conflict):
    slug = "idempotency-key-unfinished"

    def __init__(self) -> None:
        super().__init__(
            N_("The first request with this Idempotency-Key did not finish; use a new key."),
            errors=[{"field": IDEMPOTENCY_HEADER, "message": N_("first request did not finish")}],
        )
