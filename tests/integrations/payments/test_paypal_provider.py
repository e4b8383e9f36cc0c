"""PaypalProvider against the fake PayPal (OAuth, Orders v2, refunds, webhook verification)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from sichrplace.config import PaymentsSettings
from sichrplace.integrations.payments.paypal import PaypalProvider
from sichrplace.integrations.payments.types import (
    PaymentDeclined,
    ProviderIntent,
    WebhookRejected,
)
from sichrplace.platform.resilience import DependencyFailed, DependencyUnavailable
from sichrplace.platform.secrets import InsecureSecretError, SecretsProvider
from sichrplace.stack.fake_payments.paypal import FakePaypal
from tests.integrations.payments.conftest import Fake, MakePaypal, Receiver

RETURN_URL = "http://127.0.0.1:58080/viewings/abc"


async def _create(provider: PaypalProvider, key: str, amount: int = 2500) -> ProviderIntent:
    return await provider.create_intent(
        amount_cents=amount,
        currency="EUR",
        idempotency_key=key,
        description="Besichtigungsgebühr Wohnung Altstadt",
        metadata={"payment_id": key},
        return_url=RETURN_URL,
    )


def _state(fake: Fake) -> FakePaypal:
    assert isinstance(fake.state, FakePaypal)
    return fake.state


async def _approved_and_captured(
    provider: PaypalProvider, fake: Fake, receiver: Receiver, key: str
) -> ProviderIntent:
    intent = await _create(provider, key)
    fake.control(f"approve/{intent.provider_ref}")
    captured = await provider.capture(intent.provider_ref, idempotency_key=f"capture:{key}")
    ref = intent.provider_ref.encode()
    await receiver.wait_for(
        "/paypal",
        lambda d: any(b"PAYMENT.CAPTURE.COMPLETED" in r.body and ref in r.body for r in d),
    )
    return captured


async def test_create_order_sends_exact_amounts_and_needs_approval(
    make_paypal: MakePaypal, paypal_fake: Fake, unique: str
) -> None:
    provider = await make_paypal()
    intent = await _create(provider, f"pay-{unique}", amount=1999)
    assert (intent.provider, intent.status, intent.amount_cents, intent.currency) == (
        "paypal",
        "requires_action",
        1999,
        "EUR",
    )
    assert intent.approval_url == f"{paypal_fake.url}/checkout/{intent.provider_ref}"
    order = _state(paypal_fake).orders[intent.provider_ref]
    unit = order["purchase_units"][0]
    assert unit["amount"] == {"currency_code": "EUR", "value": "19.99"}
    assert unit["custom_id"] == f"payment_id=pay-{unique}"
    assert order["intent"] == "CAPTURE"
    assert await provider.get_intent(intent.provider_ref) == intent


async def test_request_id_replays_and_another_body_is_refused(
    make_paypal: MakePaypal, paypal_fake: Fake, unique: str
) -> None:
    provider = await make_paypal()
    first = await _create(provider, f"pay-{unique}")
    assert await _create(provider, f"pay-{unique}") == first
    with pytest.raises(PaymentDeclined) as declined:
        await _create(provider, f"pay-{unique}", amount=3000)
    assert declined.value.code == "PAYPAL_REQUEST_ID_PREVIOUSLY_USED"


async def test_token_is_cached_and_refreshed_after_a_401(
    make_paypal: MakePaypal, paypal_fake: Fake, unique: str
) -> None:
    provider = await make_paypal()
    state = _state(paypal_fake)
    before = set(state.tokens)
    intent = await _create(provider, f"pay-{unique}")
    await provider.get_intent(intent.provider_ref)
    assert len(set(state.tokens) - before) == 1  # one token for both calls
    paypal_fake.control("expire-tokens")
    assert (await provider.get_intent(intent.provider_ref)).provider_ref == intent.provider_ref
    assert len(state.tokens) == 1  # a fresh one after the 401


async def test_wrong_client_credentials_are_unavailable(paypal_fake: Fake, unique: str) -> None:
    settings = PaymentsSettings(
        paypal_api_base=paypal_fake.url,
        paypal_client_id="someone-else",
        paypal_client_secret="not-the-secret-at-all-000",  # type: ignore[arg-type]
    )
    provider = PaypalProvider(
        settings, redis=None, secrets=SecretsProvider("test"), dependency=f"paypal_{unique}"
    )
    try:
        with pytest.raises(DependencyUnavailable, match="token refused"):
            await _create(provider, f"pay-{unique}")
    finally:
        await provider.aclose()


def test_production_refuses_the_development_credentials() -> None:
    with pytest.raises(InsecureSecretError):
        PaypalProvider(PaymentsSettings(), redis=None, secrets=SecretsProvider("production"))


async def test_approve_capture_and_the_events_verify(
    make_paypal: MakePaypal, paypal_fake: Fake, receiver: Receiver, unique: str
) -> None:
    provider = await make_paypal()
    intent = await _create(provider, f"pay-{unique}")
    assert intent.approval_url is not None
    page = paypal_fake.http.get(urlsplit(intent.approval_url).path)
    for text in ("Zahlung bestätigen", "25,00 €", "Bezahlen", "Ablehnen", "Altstadt"):
        assert text in page.text
    answer = paypal_fake.http.post(f"/checkout/{intent.provider_ref}/approve")
    assert answer.status_code == 303
    assert parse_qs(urlsplit(answer.headers["location"]).query)["token"] == [intent.provider_ref]

    (approved,) = await receiver.wait_for("/paypal", lambda d: len(d) == 1)
    event = await provider.verify_webhook(approved.headers, approved.body)
    assert (event.kind, event.provider_ref, event.amount_cents) == (
        "payment_approved",
        intent.provider_ref,
        2500,
    )
    assert (await provider.get_intent(intent.provider_ref)).status == "processing"

    captured = await provider.capture(intent.provider_ref, idempotency_key=f"capture:{unique}")
    assert captured.status == "succeeded"
    assert captured.charge_ref
    # The same key replays; another key finds it already captured and reads it back.
    assert await provider.capture(intent.provider_ref, idempotency_key=f"capture:{unique}") == (
        captured
    )
    assert (await provider.capture(intent.provider_ref, idempotency_key="other")).status == (
        "succeeded"
    )
    deliveries = await receiver.wait_for("/paypal", lambda d: len(d) == 2)
    completed = await provider.verify_webhook(deliveries[1].headers, deliveries[1].body)
    assert (completed.kind, completed.raw_type, completed.provider_ref) == (
        "payment_succeeded",
        "PAYMENT.CAPTURE.COMPLETED",
        intent.provider_ref,
    )
    assert completed.amount_cents == 2500


async def test_capture_before_approval_and_a_declined_instrument_are_declines(
    make_paypal: MakePaypal, paypal_fake: Fake, unique: str
) -> None:
    provider = await make_paypal()
    intent = await _create(provider, f"pay-{unique}")
    with pytest.raises(PaymentDeclined) as not_approved:
        await provider.capture(intent.provider_ref, idempotency_key=f"c1:{unique}")
    assert not_approved.value.code == "ORDER_NOT_APPROVED"
    paypal_fake.control(f"approve/{intent.provider_ref}")
    paypal_fake.fault("capture", "decline")
    with pytest.raises(PaymentDeclined) as declined:
        await provider.capture(intent.provider_ref, idempotency_key=f"c2:{unique}")
    assert declined.value.code == "INSTRUMENT_DECLINED"


async def test_denied_payment_is_failed(
    make_paypal: MakePaypal, paypal_fake: Fake, receiver: Receiver, unique: str
) -> None:
    provider = await make_paypal()
    intent = await _create(provider, f"pay-{unique}")
    paypal_fake.control(f"decline/{intent.provider_ref}")
    (delivery,) = await receiver.wait_for("/paypal", lambda d: len(d) == 1)
    event = await provider.verify_webhook(delivery.headers, delivery.body)
    assert (event.kind, event.raw_type, event.provider_ref) == (
        "payment_failed",
        "PAYMENT.CAPTURE.DENIED",
        intent.provider_ref,
    )
    assert (await provider.get_intent(intent.provider_ref)).status == "failed"


async def test_refund_once_through_a_timeout_and_its_event(
    make_paypal: MakePaypal, paypal_fake: Fake, receiver: Receiver, unique: str
) -> None:
    provider = await make_paypal()
    intent = await _approved_and_captured(provider, paypal_fake, receiver, f"pay-{unique}")
    paypal_fake.fault("refund", "timeout", times=1)
    refund = await provider.refund(
        intent.provider_ref, amount_cents=2500, idempotency_key=f"refund:{unique}"
    )
    assert (refund.status, refund.amount_cents, refund.provider_ref) == (
        "succeeded",
        2500,
        intent.provider_ref,
    )
    assert (
        await provider.refund(
            intent.provider_ref, amount_cents=2500, idempotency_key=f"refund:{unique}"
        )
        == refund
    )
    refunds = [
        r for r in _state(paypal_fake).refunds.values() if r["_capture_id"] == intent.charge_ref
    ]
    assert len(refunds) == 1
    with pytest.raises(PaymentDeclined) as declined:
        await provider.refund(intent.provider_ref, amount_cents=100, idempotency_key=unique)
    assert declined.value.code == "CAPTURE_FULLY_REFUNDED"
    deliveries = await receiver.wait_for("/paypal", lambda d: len(d) == 3)
    event = await provider.verify_webhook(deliveries[2].headers, deliveries[2].body)
    assert (event.kind, event.refund_ref, event.amount_cents) == (
        "refund_succeeded",
        refund.refund_ref,
        2500,
    )


async def test_5xx_retried_then_unavailable_and_timeouts_on_get(
    make_paypal: MakePaypal, paypal_fake: Fake, unique: str
) -> None:
    provider = await make_paypal()
    paypal_fake.fault("create", "http_500", times=2)
    intent = await _create(provider, f"pay-{unique}")
    paypal_fake.fault("create", "http_500", times=3)
    with pytest.raises(DependencyFailed):
        await _create(provider, f"pay2-{unique}")
    paypal_fake.fault("get", "timeout", times=3)
    with pytest.raises(DependencyUnavailable):
        await provider.get_intent(intent.provider_ref)
    paypal_fake.fault("create", "rate_limit", times=1)
    assert (await _create(provider, f"pay3-{unique}")).status == "requires_action"


async def test_verification_failures_are_rejected(
    make_paypal: MakePaypal, paypal_fake: Fake, receiver: Receiver, unique: str
) -> None:
    provider = await make_paypal()
    intent = await _create(provider, f"pay-{unique}")
    paypal_fake.control(f"approve/{intent.provider_ref}")
    (delivery,) = await receiver.wait_for("/paypal", lambda d: len(d) == 1)
    tampered = delivery.body.replace(b'"value":"25.00"', b'"value":"0.01"')
    assert tampered != delivery.body
    with pytest.raises(WebhookRejected, match="FAILURE"):
        await provider.verify_webhook(delivery.headers, tampered)
    forged = {**delivery.headers, "paypal-transmission-sig": "AAAA"}
    with pytest.raises(WebhookRejected, match="FAILURE"):
        await provider.verify_webhook(forged, delivery.body)
    missing = {k: v for k, v in delivery.headers.items() if k != "paypal-transmission-id"}
    with pytest.raises(WebhookRejected):
        await provider.verify_webhook(missing, delivery.body)
    for body in (b"{", b"[]", orjson.dumps({"id": "WH-1", "event_type": "X"})):
        with pytest.raises(WebhookRejected):
            await provider.verify_webhook(delivery.headers, body)
    other = PaypalProvider(
        PaymentsSettings(paypal_api_base=paypal_fake.url, paypal_webhook_id="WH-OTHER"),
        redis=None,
        secrets=SecretsProvider("test"),
        dependency=f"paypal_other_{unique}",
    )
    try:
        with pytest.raises(WebhookRejected):
            await other.verify_webhook(delivery.headers, delivery.body)
    finally:
        await other.aclose()
    assert (await provider.verify_webhook(delivery.headers, delivery.body)).kind == (
        "payment_approved"
    )


async def test_duplicates_and_out_of_order_deliveries(
    make_paypal: MakePaypal, paypal_fake: Fake, receiver: Receiver, unique: str
) -> None:
    provider = await make_paypal()
    intent = await _create(provider, f"pay-{unique}")
    paypal_fake.control("hold-webhooks")
    paypal_fake.control(f"approve/{intent.provider_ref}")
    await provider.capture(intent.provider_ref, idempotency_key=f"capture:{unique}")
    paypal_fake.control("release-webhooks")
    deliveries = await receiver.wait_for("/paypal", lambda d: len(d) == 2)
    kinds = [(await provider.verify_webhook(d.headers, d.body)).kind for d in deliveries]
    assert kinds == ["payment_succeeded", "payment_approved"]
    event_id = orjson.loads(deliveries[0].body)["id"]
    paypal_fake.control("redeliver", {"event_id": event_id, "times": 2})
    deliveries = await receiver.wait_for("/paypal", lambda d: len(d) == 4)
    again = [await provider.verify_webhook(d.headers, d.body) for d in deliveries[2:]]
    assert {e.event_id for e in again} == {event_id}
    assert {e.kind for e in again} == {"payment_succeeded"}


async def test_list_payments_from_transaction_search(
    make_paypal: MakePaypal, paypal_fake: Fake, receiver: Receiver, unique: str
) -> None:
    provider = await make_paypal()
    since = datetime.now(UTC) - timedelta(seconds=5)
    paid = await _approved_and_captured(provider, paypal_fake, receiver, f"a-{unique}")
    other = await _approved_and_captured(provider, paypal_fake, receiver, f"b-{unique}")
    await provider.refund(paid.provider_ref, amount_cents=1000, idempotency_key=unique)
    listed = {p.provider_ref: p for p in await provider.list_payments(created_after=since)}
    assert (listed[paid.provider_ref].status, listed[paid.provider_ref].amount_cents) == (
        "succeeded",
        2500,
    )
    assert listed[paid.provider_ref].refunded_cents == 1000
    assert listed[other.provider_ref].refunded_cents == 0
    # A window longer than 31 days is searched in 31-day pieces.
    older = await provider.list_payments(created_after=since - timedelta(days=40))
    assert {p.provider_ref for p in older} >= {paid.provider_ref, other.provider_ref}
