"""The payments domain's closed sets: a payment's states, the ledger's kinds, reconciliation's
findings. Values are stored as text (CHECK constraints in migration 0020)."""

from __future__ import annotations

from enum import StrEnum


class PaymentStatus(StrEnum):
    # The payer must approve on the provider's page (the intent exists, nothing moved).
    REQUIRES_ACTION = "requires_action"
    # Approved (PayPal), being captured.
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    # Declined, abandoned or voided: nothing moved; a new payment may be started.
    FAILED = "failed"
    REFUND_PENDING = "refund_pending"
    REFUNDED = "refunded"
    # The provider refused the refund: needs an operator (listed by reconciliation).
    REFUND_FAILED = "refund_failed"


# A live payment holds its reference (a viewing, a contract's installment): at most one per
# reference, enforced by a partial unique index. Failed and refunded ones are history.
LIVE_STATUSES: tuple[PaymentStatus, ...] = (
    PaymentStatus.REQUIRES_ACTION,
    PaymentStatus.PROCESSING,
    PaymentStatus.SUCCEEDED,
    PaymentStatus.REFUND_PENDING,
    PaymentStatus.REFUND_FAILED,
)
# Money is with us (or on its way back): the ledger holds a charge.
PAID_STATUSES: tuple[PaymentStatus, ...] = (
    PaymentStatus.SUCCEEDED,
    PaymentStatus.REFUND_PENDING,
    PaymentStatus.REFUNDED,
    PaymentStatus.REFUND_FAILED,
)


class LedgerKind(StrEnum):
    CHARGE = "charge"  # + amount: the payer paid
    REFUND = "refund"  # - amount: paid back


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class IssueKind(StrEnum):
    """What reconciliation found between our rows and the provider's view."""

    # The provider took money for a payment we have no row of.
    MISSING_LOCALLY = "missing_locally"
    # We have a payment the provider does not know.
    MISSING_AT_PROVIDER = "missing_at_provider"
    # The provider's state and ours disagree (e.g. a lost webhook).
    STATUS_MISMATCH = "status_mismatch"
    AMOUNT_MISMATCH = "amount_mismatch"
    # The ledger's net for the payment is not what the provider moved.
    LEDGER_MISMATCH = "ledger_mismatch"


def sql_list(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)
