"""Provider webhook events and objects -> our provider-neutral types (pure mapping)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sichrplace.integrations.payments import paypal, stripe
from sichrplace.integrations.payments.types import WebhookRejected


def _stripe_event(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "evt_1",
        "object": "event",
        "created": 1_700_000_000,
        "type": event_type,
        "data": {"object": obj},
    }


PI = {
    "id": "pi_1",
    "object": "payment_intent",
    "amount": 2500,
    "amount_received": 2500,
    "currency": "eur",
    "status": "succeeded",
}
REFUND = {
    "id": "re_1",
    "object": "refund",
    "amount": 700,
    "payment_intent": "pi_1",
    "status": "succeeded",
}


@pytest.mark.parametrize(
    ("event_type", "obj", "kind", "provider_ref", "refund_ref", "amount"),
    [
        ("payment_intent.succeeded", PI, "payment_succeeded", "pi_1", None, 2500),
        (
            "payment_intent.payment_failed",
            {**PI, "status": "requires_payment_method"},
            "payment_failed",
            "pi_1",
            None,
            2500,
        ),
        (
            "payment_intent.canceled",
            {**PI, "status": "canceled"},
            "payment_failed",
            "pi_1",
            None,
            2500,
        ),
        ("payment_intent.created", PI, "ignored", "pi_1", None, 2500),
        (
            "charge.refunded",
            {
                "id": "ch_1",
                "object": "charge",
                "payment_intent": "pi_1",
                "amount_refunded": 700,
                "refunds": {"data": [REFUND]},
            },
            "refund_succeeded",
            "pi_1",
            "re_1",
            700,
        ),
        ("refund.updated", REFUND, "refund_succeeded", "pi_1", "re_1", 700),
        ("refund.updated", {**REFUND, "status": "pending"}, "ignored", "pi_1", "re_1", 700),
        ("refund.updated", {**REFUND, "status": "failed"}, "refund_failed", "pi_1", "re_1", 700),
        ("refund.failed", {**REFUND, "status": "failed"}, "refund_failed", "pi_1", "re_1", 700),
        ("customer.created", {"id": "cus_1"}, "ignored", None, None, None),
    ],
)
def test_stripe_events(
    event_type: str,
    obj: dict[str, Any],
    kind: str,
    provider_ref: str | None,
    refund_ref: str | None,
    amount: int | None,
) -> None:
    event = stripe.event_from(_stripe_event(event_type, obj))
    assert (event.kind, event.provider_ref, event.refund_ref, event.amount_cents) == (
        kind,
        provider_ref,
        refund_ref,
        amount,
    )
    assert (event.provider, event.event_id, event.raw_type) == ("stripe", "evt_1", event_type)
    assert event.occurred_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"id": "evt_1"},
        {
            "id": "e",
            "type": "payment_intent.succeeded",
            "created": 1,
            "data": {"object": {"id": "pi_1"}},
        },
        {"id": "e", "type": "x", "created": "soon", "data": {"object": {}}},
    ],
)
def test_malformed_stripe_events_are_rejected(payload: object) -> None:
    with pytest.raises(WebhookRejected):
        stripe.event_from(payload)


@pytest.mark.parametrize(
    ("status", "error", "ours"),
    [
        ("requires_action", None, "requires_action"),
        ("requires_payment_method", None, "requires_action"),
        ("requires_payment_method", {"code": "card_declined"}, "failed"),
        ("processing", None, "processing"),
        ("succeeded", None, "succeeded"),
        ("canceled", None, "cancelled"),
    ],
)
def test_stripe_intent_status(status: str, error: object, ours: str) -> None:
    assert stripe.intent_status({"status": status, "last_payment_error": error}) == ours


def test_stripe_intent_takes_the_redirect_url_and_charge() -> None:
    intent = stripe.intent_from(
        {
            **PI,
            "status": "requires_action",
            "latest_charge": {"id": "ch_9"},
            "next_action": {
                "type": "redirect_to_url",
                "redirect_to_url": {"url": "https://hooks.stripe.com/r/1"},
            },
        }
    )
    assert (intent.approval_url, intent.charge_ref, intent.currency) == (
        "https://hooks.stripe.com/r/1",
        "ch_9",
        "EUR",
    )


def _paypal_event(event_type: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "WH-1",
        "event_type": event_type,
        "create_time": "2026-12-05T19:00:00Z",
        "resource": resource,
    }


ORDER = {
    "id": "ORDER1",
    "status": "APPROVED",
    "purchase_units": [{"amount": {"currency_code": "EUR", "value": "25.00"}}],
}
CAPTURE = {
    "id": "CAP1",
    "status": "COMPLETED",
    "amount": {"currency_code": "EUR", "value": "25.00"},
    "supplementary_data": {"related_ids": {"order_id": "ORDER1"}},
}


@pytest.mark.parametrize(
    ("event_type", "resource", "kind", "provider_ref", "refund_ref", "amount"),
    [
        ("CHECKOUT.ORDER.APPROVED", ORDER, "payment_approved", "ORDER1", None, 2500),
        ("PAYMENT.CAPTURE.COMPLETED", CAPTURE, "payment_succeeded", "ORDER1", None, 2500),
        (
            "PAYMENT.CAPTURE.DENIED",
            {**CAPTURE, "status": "DECLINED"},
            "payment_failed",
            "ORDER1",
            None,
            2500,
        ),
        (
            "PAYMENT.CAPTURE.REFUNDED",
            {
                "id": "REF1",
                "status": "COMPLETED",
                "amount": {"currency_code": "EUR", "value": "7.50"},
            },
            "refund_succeeded",
            None,
            "REF1",
            750,
        ),
        ("CHECKOUT.ORDER.COMPLETED", ORDER, "ignored", None, None, None),
    ],
)
def test_paypal_events(
    event_type: str,
    resource: dict[str, Any],
    kind: str,
    provider_ref: str | None,
    refund_ref: str | None,
    amount: int | None,
) -> None:
    event = paypal.event_from(_paypal_event(event_type, resource))
    assert (event.kind, event.provider_ref, event.refund_ref, event.amount_cents) == (
        kind,
        provider_ref,
        refund_ref,
        amount,
    )
    assert event.occurred_at == datetime(2026, 12, 5, 19, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        _paypal_event("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP1", "amount": {"value": "1"}}),
        _paypal_event("CHECKOUT.ORDER.APPROVED", {"id": "O", "purchase_units": []}),
        {**_paypal_event("X", {}), "create_time": "yesterday"},
    ],
)
def test_malformed_paypal_events_are_rejected(payload: object) -> None:
    with pytest.raises(WebhookRejected):
        paypal.event_from(payload)


@pytest.mark.parametrize(
    ("order", "status"),
    [
        ({"status": "PAYER_ACTION_REQUIRED"}, "requires_action"),
        ({"status": "APPROVED"}, "processing"),
        ({"status": "VOIDED"}, "cancelled"),
        (
            {
                "status": "COMPLETED",
                "purchase_units": [
                    {"payments": {"captures": [{"id": "C", "status": "COMPLETED"}]}}
                ],
            },
            "succeeded",
        ),
        (
            {
                "status": "COMPLETED",
                "purchase_units": [{"payments": {"captures": [{"id": "C", "status": "DECLINED"}]}}],
            },
            "failed",
        ),
        (
            {
                "status": "COMPLETED",
                "purchase_units": [{"payments": {"captures": [{"id": "C", "status": "PENDING"}]}}],
            },
            "processing",
        ),
    ],
)
def test_paypal_order_status(order: dict[str, Any], status: str) -> None:
    assert paypal.order_status(order) == status


def test_paypal_approval_link_prefers_payer_action() -> None:
    assert (
        paypal.approval_link(
            {"links": [{"rel": "self", "href": "s"}, {"rel": "payer-action", "href": "p"}]}
        )
        == "p"
    )
    assert paypal.approval_link({"links": [{"rel": "approve", "href": "a"}]}) == "a"
    assert paypal.approval_link({"links": []}) is None


def _row(txn: str, code: str, ref: str, ref_type: str, value: str) -> dict[str, Any]:
    return {
        "transaction_info": {
            "transaction_id": txn,
            "transaction_event_code": code,
            "paypal_reference_id": ref,
            "paypal_reference_id_type": ref_type,
            "transaction_status": "S",
            "transaction_amount": {"currency_code": "EUR", "value": value},
        }
    }


def test_transaction_search_rows_become_payments_with_refunds_summed() -> None:
    rows = [
        _row("CAP1", "T0006", "ORDER1", "ODR", "25.00"),
        _row("CAP2", "T0006", "ORDER2", "ODR", "30.00"),
        _row("R1", "T1107", "CAP1", "TXN", "-10.00"),
        _row("R2", "T1107", "CAP1", "TXN", "-5.50"),
        _row("X", "T0400", "", "", "-100.00"),  # a withdrawal: not ours
    ]
    payments = {p.provider_ref: p for p in paypal.payments_from_transactions(rows)}
    assert set(payments) == {"ORDER1", "ORDER2"}
    assert (payments["ORDER1"].amount_cents, payments["ORDER1"].refunded_cents) == (2500, 1550)
    assert payments["ORDER2"].refunded_cents == 0
