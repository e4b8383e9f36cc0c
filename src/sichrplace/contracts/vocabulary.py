"""The fixed vocabularies of a contract (defined once; schemas, models and rules use these)."""

from __future__ import annotations

from enum import StrEnum


class ContractStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    PARTIALLY_SIGNED = "partially_signed"
    FULLY_SIGNED = "fully_signed"


class Party(StrEnum):
    TENANT = "tenant"
    LANDLORD = "landlord"


class DepositPlan(StrEnum):
    """§551 Abs. 2 BGB: the tenant may pay the deposit in three monthly parts."""

    ONCE = "once"
    THREE_PARTS = "three_parts"


class DepositStatus(StrEnum):
    UNPAID = "unpaid"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    REFUNDED = "refunded"


class EventKind(StrEnum):
    """What the audit trail records (contract_events.kind)."""

    CREATED = "created"
    SENT = "sent"
    DOCUMENT_VIEWED = "document_viewed"
    DEPOSIT_PLAN_CHOSEN = "deposit_plan_chosen"
    SIGNED = "signed"
    FULLY_SIGNED = "fully_signed"
    DEPOSIT_PAYMENT_STARTED = "deposit_payment_started"
    DEPOSIT_PAID = "deposit_paid"
    DEPOSIT_REFUNDED = "deposit_refunded"


# The states in which a party may still sign (the document is frozen, not everyone signed).
SIGNABLE = frozenset({ContractStatus.SENT, ContractStatus.PARTIALLY_SIGNED})
# A viewing a contract may be drafted from (viewings' statuses).
CONTRACTABLE_VIEWING_STATUSES = frozenset({"confirmed", "completed"})
INSTALLMENTS = {DepositPlan.ONCE: 1, DepositPlan.THREE_PARTS: 3}


def sql_list(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)
