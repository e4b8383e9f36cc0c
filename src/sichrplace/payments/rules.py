"""The payments rules, pure: what a provider event does to a payment in a given state, the
fingerprint of a request under an Idempotency-Key, and what reconciliation calls a difference.

The state machine is total: every (state, event) pair has an answer, so duplicates and
events out of order end in the right state (a late "failed" after "succeeded" changes
nothing; a refund reported before the success waits for it).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from sichrplace.integrations.payments.types import EventKind, ProviderPayment
from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.i18n import N_
from sichrplace.payments.records import LedgerTotal
from sichrplace.payments.vocabulary import PAID_STATUSES, IssueKind, PaymentStatus

S = PaymentStatus

# What applying an event asks the service to do, in this order.
Effect = Literal[
    "capture",  # enqueue the capture job (PayPal: the payer approved)
    "record_charge",  # ledger +amount, once per provider payment
    "notify_paid",  # source.on_paid; False -> refund
    "record_refund",  # ledger -amount, once per provider refund
    "notify_refunded",  # source.on_refunded
]


@dataclass(frozen=True, slots=True)
class Transition:
    """The answer for one event: the new status (the current one when nothing changes), the
    effects, and `defer` when the event must wait for a later state (kept, applied then)."""

    status: PaymentStatus
    effects: tuple[Effect, ...] = ()
    defer: bool = False

    def changes(self, current: PaymentStatus) -> bool:
        return self.status != current


_PAID = Transition(S.SUCCEEDED, ("record_charge", "notify_paid"))
_REFUNDED = Transition(S.REFUNDED, ("record_refund", "notify_refunded"))


def transition(current: PaymentStatus, kind: EventKind) -> Transition:
    """What `kind` does to a payment in state `current`."""
    if kind == "ignored":
        return Transition(current)
    if kind == "payment_approved":
        if current == S.REQUIRES_ACTION:
            return Transition(S.PROCESSING, ("capture",))
        return Transition(current)  # a repeat, or later news already arrived
    if kind == "payment_succeeded":
        # From failed too: a payer may retry the same intent after a decline.
        if current in (S.REQUIRES_ACTION, S.PROCESSING, S.FAILED):
            return _PAID
        return Transition(current)
    if kind == "payment_failed":
        # Never after money moved: a late "failed" loses against "succeeded".
        if current in (S.REQUIRES_ACTION, S.PROCESSING):
            return Transition(S.FAILED)
        return Transition(current)
    if kind == "refund_succeeded":
        if current in (S.SUCCEEDED, S.REFUND_PENDING, S.REFUND_FAILED):
            return _REFUNDED
        if current == S.REFUNDED:
            return Transition(current)
        # A refund reported before its payment's success: kept until the success arrives.
        return Transition(current, defer=True)
    if kind == "refund_failed":
        if current == S.REFUND_PENDING:
            return Transition(S.REFUND_FAILED)
        if current in (S.REQUIRES_ACTION, S.PROCESSING, S.FAILED):
            return Transition(current, defer=True)
        return Transition(current)
    raise ValueError(f"unknown event kind {kind!r}")


RefundAction = Literal["refund", "nothing", "refuse"]


def refund_action(current: PaymentStatus) -> RefundAction:
    """What asking to refund a payment in state `current` does: start the refund (the money
    moved), nothing (it is under way or done, or no money moved yet: should it still move,
    the source's `on_paid` answers False and it is refunded then), or refuse (a refund the
    provider refused needs an operator)."""
    if current == S.SUCCEEDED:
        return "refund"
    if current == S.REFUND_FAILED:
        return "refuse"
    return "nothing"


# --- Idempotency-Key ---------------------------------------------------------------------------


def fingerprint(method: str, path: str, body: Mapping[str, Any] | None) -> bytes:
    """SHA-256 of the method, the path and the body in canonical JSON (sorted keys, no
    whitespace): the same request in another key order is the same request."""
    canonical = orjson.dumps(body or {}, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256()
    digest.update(method.upper().encode() + b"\n" + path.encode() + b"\n" + canonical)
    return digest.digest()


def valid_key(key: str) -> bool:
    """Stripe's rule: up to 255 characters; ours: printable ASCII (it is logged and stored)."""
    return 0 < len(key) <= 255 and all(" " <= ch <= "~" for ch in key)


# --- reconciliation ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    provider_ref: str
    payment_id: Any  # uuid.UUID | None
    kind: IssueKind
    detail: str


_PROVIDER_PAID = ("succeeded",)


def expected_net(theirs: ProviderPayment) -> int:
    """What the ledger should hold for a payment, as the provider sees it."""
    if theirs.status not in _PROVIDER_PAID:
        return 0
    return theirs.amount_cents - theirs.refunded_cents


def _status_agrees(ours: PaymentStatus, theirs: ProviderPayment) -> bool:
    if theirs.status == "succeeded":
        if theirs.refunded_cents >= theirs.amount_cents:
            return ours in (S.REFUNDED, S.REFUND_PENDING)
        return ours in PAID_STATUSES and ours != S.REFUNDED
    if theirs.status in ("failed", "cancelled"):
        return ours == S.FAILED
    # requires_action / processing: ours may not claim money moved.
    return ours not in PAID_STATUSES


def compare(ours: Iterable[LedgerTotal], theirs: Iterable[ProviderPayment]) -> list[Finding]:
    """The differences between our payments (with their ledger nets) and the provider's list.

    The caller passes only payments old enough to have settled (a payment whose webhook is
    on its way is not a difference). A provider payment we do not know is a difference only
    when money moved (an abandoned intent from a rolled-back booking is not), and so is one
    of ours the provider does not list (PayPal lists captured orders only)."""
    mine = {row.provider_ref: row for row in ours}
    found: list[Finding] = []
    seen: set[str] = set()
    for payment in theirs:
        seen.add(payment.provider_ref)
        row = mine.get(payment.provider_ref)
        if row is None:
            if payment.status == "succeeded":
                found.append(
                    Finding(
                        payment.provider_ref,
                        None,
                        IssueKind.MISSING_LOCALLY,
                        f"provider took {payment.amount_cents} cents; no payment row",
                    )
                )
            continue
        if row.amount_cents != payment.amount_cents:
            found.append(
                Finding(
                    row.provider_ref,
                    row.payment_id,
                    IssueKind.AMOUNT_MISMATCH,
                    f"ours {row.amount_cents} cents, provider {payment.amount_cents} cents",
                )
            )
        if not _status_agrees(row.status, payment):
            found.append(
                Finding(
                    row.provider_ref,
                    row.payment_id,
                    IssueKind.STATUS_MISMATCH,
                    f"ours {row.status.value}, provider {payment.status}"
                    f" (refunded {payment.refunded_cents} cents)",
                )
            )
        net = expected_net(payment)
        if row.ledger_net_cents != net:
            found.append(
                Finding(
                    row.provider_ref,
                    row.payment_id,
                    IssueKind.LEDGER_MISMATCH,
                    f"ledger net {row.ledger_net_cents} cents, provider moved {net} cents",
                )
            )
    for ref, row in mine.items():
        # Only money is reconciled: a payment that moved none by our records (an order its
        # payer never approved) may be absent from a list of moved money (PayPal's).
        if ref not in seen and (row.status in PAID_STATUSES or row.ledger_net_cents != 0):
            found.append(
                Finding(
                    ref,
                    row.payment_id,
                    IssueKind.MISSING_AT_PROVIDER,
                    f"ours {row.status.value}, {row.amount_cents} cents; unknown to the provider",
                )
            )
    return found


# --- what an intent is for -----------------------------------------------------------------


def reference_of(
    purpose: str, viewing_id: uuid.UUID | None, contract_id: uuid.UUID | None
) -> uuid.UUID:
    """The reference an intent request names: a viewing for the fee, a contract for the
    deposit; the other one must be absent (422 naming the field)."""
    wanted, other = (
        ("viewing_id", "contract_id")
        if purpose == "viewing_fee"
        else (
            "contract_id",
            "viewing_id",
        )
    )
    given = {"viewing_id": viewing_id, "contract_id": contract_id}
    if given[other] is not None:
        raise Unprocessable.field(other, N_("not allowed for purpose '{purpose}'", purpose=purpose))
    reference = given[wanted]
    if reference is None:
        raise Unprocessable.field(wanted, N_("required for purpose '{purpose}'", purpose=purpose))
    return reference
