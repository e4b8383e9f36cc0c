"""The payments state machine over every order of events, the fingerprint, reconciliation."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

import pytest

from sichrplace.integrations.payments.types import EventKind, ProviderPayment
from sichrplace.kit.errors import Unprocessable
from sichrplace.payments import rules
from sichrplace.payments.records import LedgerTotal
from sichrplace.payments.vocabulary import IssueKind, PaymentStatus

S = PaymentStatus
KINDS: tuple[EventKind, ...] = (
    "payment_approved",
    "payment_succeeded",
    "payment_failed",
    "refund_succeeded",
    "refund_failed",
    "ignored",
)


def run(events: list[EventKind], start: S = S.REQUIRES_ACTION) -> tuple[S, list[str]]:
    """Apply events as the service does: deferred ones are retried after each change."""
    status, pending = start, list(events)
    effects: list[str] = []
    progress = True
    while progress:
        progress = False
        for i, kind in enumerate(pending):
            step = rules.transition(status, kind)
            if step.defer:
                continue
            effects.extend(step.effects)
            status = step.status
            del pending[i]
            progress = True
            break  # the list changed: start over (a deferred event may apply now)
    return status, effects


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations(["payment_succeeded", "refund_succeeded", "payment_failed"])),
)
def test_success_then_refund_in_any_order_ends_refunded_once(order: tuple[EventKind, ...]) -> None:
    status, effects = run(list(order))
    assert status == S.REFUNDED
    assert effects.count("record_charge") == 1
    assert effects.count("record_refund") == 1
    assert effects.count("notify_paid") == 1


@pytest.mark.parametrize(
    "order", list(itertools.permutations(["payment_succeeded", "payment_failed"]))
)
def test_late_failure_never_undoes_success(order: tuple[EventKind, ...]) -> None:
    status, effects = run(list(order))
    assert status == S.SUCCEEDED
    assert effects.count("record_charge") == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("start", list(S))
def test_every_pair_has_an_answer_and_repeats_change_nothing(kind: EventKind, start: S) -> None:
    first = rules.transition(start, kind)
    if first.defer:
        assert first.status == start
        assert not first.effects
        return
    again = rules.transition(first.status, kind)
    assert not again.changes(first.status)
    assert not again.effects


def test_paypal_approval_enqueues_capture_once() -> None:
    status, effects = run(["payment_approved", "payment_approved", "payment_succeeded"])
    assert status == S.SUCCEEDED
    assert effects.count("capture") == 1


def test_refund_pending_then_refund_failed() -> None:
    assert rules.transition(S.REFUND_PENDING, "refund_failed").status == S.REFUND_FAILED
    assert rules.refund_action(S.REFUND_FAILED) == "refuse"
    assert rules.refund_action(S.SUCCEEDED) == "refund"
    assert rules.refund_action(S.REQUIRES_ACTION) == "nothing"
    assert rules.refund_action(S.REFUNDED) == "nothing"


def test_fingerprint_ignores_key_order_but_not_values_or_path() -> None:
    a = rules.fingerprint("POST", "/p", {"purpose": "deposit", "contract_id": "x"})
    assert a == rules.fingerprint("post", "/p", {"contract_id": "x", "purpose": "deposit"})
    assert a != rules.fingerprint("POST", "/p", {"contract_id": "y", "purpose": "deposit"})
    assert a != rules.fingerprint("POST", "/q", {"contract_id": "x", "purpose": "deposit"})


@pytest.mark.parametrize(
    ("key", "ok"), [("k", True), ("a" * 255, True), ("", False), ("a" * 256, False), ("ä", False)]
)
def test_valid_key(key: str, ok: bool) -> None:
    assert rules.valid_key(key) is ok


def test_reference_of_names_the_field() -> None:
    ref = uuid.uuid4()
    assert rules.reference_of("viewing_fee", ref, None) == ref
    with pytest.raises(Unprocessable) as missing:
        rules.reference_of("deposit", ref, None)
    assert missing.value.errors[0]["field"] == "viewing_id"
    with pytest.raises(Unprocessable) as absent:
        rules.reference_of("deposit", None, None)
    assert absent.value.errors[0]["field"] == "contract_id"


def _ours(ref: str, status: S, net: int, amount: int = 2500) -> LedgerTotal:
    return LedgerTotal(uuid.uuid4(), ref, status, amount, net, datetime.now(UTC))


def test_compare_finds_each_kind_of_difference() -> None:
    ours = [
        _ours("pi_ok", S.SUCCEEDED, 2500),
        _ours("pi_lost_webhook", S.REQUIRES_ACTION, 0),
        _ours("pi_ledger", S.SUCCEEDED, 0),
        _ours("pi_gone", S.SUCCEEDED, 2500),
    ]
    theirs = [
        ProviderPayment("pi_ok", "succeeded", 2500, 0, "EUR"),
        ProviderPayment("pi_lost_webhook", "succeeded", 2500, 0, "EUR"),
        ProviderPayment("pi_ledger", "succeeded", 2500, 0, "EUR"),
        ProviderPayment("pi_unknown", "succeeded", 2500, 0, "EUR"),
        ProviderPayment("pi_abandoned", "requires_action", 2500, 0, "EUR"),
    ]
    found = {(f.provider_ref, f.kind) for f in rules.compare(ours, theirs)}
    assert found == {
        ("pi_lost_webhook", IssueKind.STATUS_MISMATCH),
        ("pi_lost_webhook", IssueKind.LEDGER_MISMATCH),
        ("pi_ledger", IssueKind.LEDGER_MISMATCH),
        ("pi_unknown", IssueKind.MISSING_LOCALLY),
        ("pi_gone", IssueKind.MISSING_AT_PROVIDER),
    }


def test_refunded_payment_agrees_with_provider() -> None:
    ours = [_ours("pi_r", S.REFUNDED, 0)]
    theirs = [ProviderPayment("pi_r", "succeeded", 2500, 2500, "EUR")]
    assert rules.compare(ours, theirs) == []
