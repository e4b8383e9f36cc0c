"""StripeProvider against the fake Stripe (PaymentIntents, Refunds, signed webhooks)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from sichrplace.config import PaymentsSettings
from sichrplace.integrations.payments import DEV_STRIPE_WEBHOOK_SECRET
from sichrplace.integrations.payments import stripe as stripe_module
from sichrplace.integrations.payments.stripe import StripeProvider, signature_header
from sichrplace.integrations.payments.types import (
    PaymentDeclined,
    ProviderIntent,
    WebhookRejected,
)
from sichrplace.platform.resilience import (
    DependencyFailed,
    DependencyTimeout,
    DependencyUnavailable,
)
from sichrplace.platform.secrets import InsecureSecretError, SecretsProvider
from sichrplace.stack.fake_payments.stripe import FakeStripe
from tests.integrations.payments.conftest import Fake, MakeStripe, Receiver

RETURN_URL = "http://127.0.0.1:58080/viewings/abc"


async def _create(provider: StripeProvider, key: str, amount: int = 2500) -> ProviderIntent:
    return await provider.create_intent(
        amount_cents=amount,
        currency="EUR",
        idempotency_key=key,
        description="Besichtigungsgebühr Wohnung Prenzlauer Berg",
        metadata={"payment_id": key},
        return_url=RETURN_URL,
    )


def _state(fake: Fake) -> FakeStripe:
    assert isinstance(fake.state, FakeStripe)
    return fake.state


def _intents_with_key(fake: Fake, key: str) -> list[str]:
    return [i for i, pi in _state(fake).intents.items() if pi["metadata"].get("payment_id") == key]


async def test_create_sends_the_documented_request_and_needs_approval(
    make_stripe: MakeStripe, stripe_fake: Fake, unique: str
) -> None:
    provider = await make_stripe()
    intent = await _create(provider, f"pay-{unique}")
    assert intent.provider == "stripe"
    assert intent.provider_ref.startswith("pi_")
    assert (intent.status, intent.amount_cents, intent.currency) == ("requires_action", 2500, "EUR")
    assert intent.approval_url == f"{stripe_fake.url}/checkout/{intent.provider_ref}"
    stored = _state(stripe_fake).intents[intent.provider_ref]
    assert stored["currency"] == "eur"
    assert stored["metadata"] == {"payment_id": f"pay-{unique}"}
    assert stored["payment_method_types"] == [stripe_module.REDIRECT_METHOD]
    assert stored["next_action"]["redirect_to_url"]["return_url"] == RETURN_URL
    assert await provider.get_intent(intent.provider_ref) == intent


async def test_same_key_replays_and_other_params_are_an_idempotency_error(
    make_stripe: MakeStripe, stripe_fake: Fake, unique: str
) -> None:
    provider = await make_stripe()
    first = await _create(provider, f"pay-{unique}")
    again = await _create(provider, f"pay-{unique}")
    assert again == first
    assert _intents_with_key(stripe_fake, f"pay-{unique}") == [first.provider_ref]
    with pytest.raises(PaymentDeclined) as declined:
        await _create(provider, f"pay-{unique}", amount=3000)
    assert declined.value.code == "idempotency_error"


async def test_a_declined_card_is_payment_declined(
    make_stripe: MakeStripe, stripe_fake: Fake, unique: str
) -> None:
    stripe_fake.fault("create", "decline")
    provider = await make_stripe()
    with pytest.raises(PaymentDeclined) as declined:
        await _create(provider, f"pay-{unique}")
    assert declined.value.code == "generic_decline"
    # Stripe stores the decline under the key: a retry gets the same answer, no new intent.
    with pytest.raises(PaymentDeclined):
        await _create(provider, f"pay-{unique}")
    assert len(_intents_with_key(stripe_fake, f"pay-{unique}")) == 1


async def test_a_timeout_is_retried_with_the_key_and_creates_one_intent(
    make_stripe: MakeStripe, stripe_fake: Fake, unique: str
) -> None:
    stripe_fake.fault("create", "timeout", times=1)
    provider = await make_stripe()
    intent = await _create(provider, f"pay-{unique}")
    # The first attempt did create it (the answer was lost): the retry replayed it.
    assert _intents_with_key(stripe_fake, f"pay-{unique}") == [intent.provider_ref]


async def test_timeouts_on_every_attempt_are_dependency_unavailable(
    make_stripe: MakeStripe, stripe_fake: Fake, unique: str
) -> None:
    stripe_fake.fault("create", "timeout", times=3)
    provider = await make_stripe()
    started = time.monotonic()
    with pytest.raises(DependencyTimeout):
        await _create(provider, f"pay-{unique}")
    assert time.monotonic() - started < 3.0
    # Later, the same key finds what the lost attempts made.
    intent = await _create(provider, f"pay-{unique}")
    assert _intents_with_key(stripe_fake, f"pay-{unique}") == [intent.provider_ref]


@pytest.mark.parametrize(
    ("fault", "times", "succeeds"),
    [
        ("http_500", 2, True),
        ("http_500", 3, False),
        ("rate_limit", 1, True),
        ("rate_limit", 3, False),
    ],
)
async def test_5xx_and_429_are_retried(
    make_stripe: MakeStripe,
    stripe_fake: Fake,
    unique: str,
    fault: str,
    times: int,
    succeeds: bool,
) -> None:
    stripe_fake.fault("create", fault, times=times)
    provider = await make_stripe()
    if succeeds:
        intent = await _create(provider, f"pay-{unique}")
        assert intent.status == "requires_action"
    else:
        with pytest.raises(DependencyFailed):
            await _create(provider, f"pay-{unique}")
        assert _intents_with_key(stripe_fake, f"pay-{unique}") == []


async def test_get_timeouts_become_unavailable(
    make_stripe: MakeStripe, stripe_fake: Fake, unique: str
) -> None:
    provider = await make_stripe()
    intent = await _create(provider, f"pay-{unique}")
    stripe_fake.fault("get", "timeout", times=3)
    with pytest.raises(DependencyUnavailable):
        await provider.get_intent(intent.provider_ref)


async def test_a_wrong_api_key_is_unavailable_not_a_decline(stripe_fake: Fake, unique: str) -> None:
    settings = PaymentsSettings(
        stripe_api_base=stripe_fake.url,
        stripe_secret_key="sk_test_" + "x" * 30,  # type: ignore[arg-type]
    )
    provider = StripeProvider(
        settings, redis=None, secrets=SecretsProvider("test"), dependency=f"stripe_{unique}"
    )
    try:
        with pytest.raises(DependencyUnavailable, match="authentication"):
            await _create(provider, f"pay-{unique}")
    finally:
        await provider.aclose()


def test_production_refuses_the_development_keys() -> None:
    with pytest.raises(InsecureSecretError):
        StripeProvider(PaymentsSettings(), redis=None, secrets=SecretsProvider("production"))


async def test_approval_page_pays_redirects_and_the_webhook_verifies(
    make_stripe: MakeStripe, stripe_fake: Fake, receiver: Receiver, unique: str
) -> None:
    provider = await make_stripe()
    intent = await _create(provider, f"pay-{unique}")
    assert intent.approval_url is not None
    page = stripe_fake.http.get(urlsplit(intent.approval_url).path)
    assert page.status_code == 200
    for text in ("Zahlung bestätigen", "25,00 €", "Bezahlen", "Ablehnen", "Prenzlauer Berg"):
        assert text in page.text
    answer = stripe_fake.http.post(f"/checkout/{intent.provider_ref}/approve")
    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert target.path == "/viewings/abc"
    assert parse_qs(target.query)["redirect_status"] == ["succeeded"]

    (delivery,) = await receiver.wait_for("/stripe", lambda d: len(d) == 1)
    event = await provider.verify_webhook(delivery.headers, delivery.body)
    assert (event.kind, event.raw_type) == ("payment_succeeded", "payment_intent.succeeded")
    assert (event.provider_ref, event.amount_cents) == (intent.provider_ref, 2500)
    assert abs((event.occurred_at - datetime.now(UTC)).total_seconds()) < 60

    paid = await provider.capture(intent.provider_ref, idempotency_key=f"capture-{unique}")
    assert paid.status == "succeeded"
    assert paid.charge_ref is not None
    assert paid.charge_ref.startswith("ch_")


async def test_declined_approval_fails_the_intent(
    make_stripe: MakeStripe, stripe_fake: Fake, receiver: Receiver, unique: str
) -> None:
    provider = await make_stripe()
    intent = await _create(provider, f"pay-{unique}")
    stripe_fake.control(f"decline/{intent.provider_ref}")
    (delivery,) = await receiver.wait_for("/stripe", lambda d: len(d) == 1)
    event = await provider.verify_webhook(delivery.headers, delivery.body)
    assert (event.kind, event.provider_ref) == ("payment_failed", intent.provider_ref)
    assert (await provider.get_intent(intent.provider_ref)).status == "failed"


async def test_refund_once_with_its_key_and_the_refund_event(
    make_stripe: MakeStripe, stripe_fake: Fake, receiver: Receiver, unique: str
) -> None:
    provider = await make_stripe()
    intent = await _create(provider, f"pay-{unique}")
    stripe_fake.control(f"approve/{intent.provider_ref}")
    stripe_fake.fault("refund", "timeout", times=1)
    refund = await provider.refund(
        intent.provider_ref, amount_cents=2500, idempotency_key=f"refund:{unique}"
    )
    assert (refund.status, refund.amount_cents, refund.provider_ref) == (
        "succeeded",
        2500,
        intent.provider_ref,
    )
    again = await provider.refund(
        intent.provider_ref, amount_cents=2500, idempotency_key=f"refund:{unique}"
    )
    assert again == refund
    refunds = [
        r
        for r in _state(stripe_fake).refunds.values()
        if r["payment_intent"] == intent.provider_ref
    ]
    assert len(refunds) == 1
    with pytest.raises(PaymentDeclined) as declined:
        await provider.refund(
            intent.provider_ref, amount_cents=100, idempotency_key=f"refund2:{unique}"
        )
    assert declined.value.code == "charge_already_refunded"

    deliveries = await receiver.wait_for("/stripe", lambda d: len(d) == 2)
    events = [await provider.verify_webhook(d.headers, d.body) for d in deliveries]
    refunded = next(e for e in events if e.raw_type == "charge.refunded")
    assert (refunded.kind, refunded.refund_ref, refunded.amount_cents) == (
        "refund_succeeded",
        refund.refund_ref,
        2500,
    )
    assert refunded.provider_ref == intent.provider_ref


async def test_refund_of_an_unpaid_intent_is_declined(
    make_stripe: MakeStripe, stripe_fake: Fake, unique: str
) -> None:
    provider = await make_stripe()
    intent = await _create(provider, f"pay-{unique}")
    with pytest.raises(PaymentDeclined):
        await provider.refund(intent.provider_ref, amount_cents=2500, idempotency_key=unique)


async def test_bad_signatures_stale_timestamps_and_malformed_bodies_are_rejected(
    make_stripe: MakeStripe, stripe_fake: Fake, receiver: Receiver, unique: str
) -> None:
    provider = await make_stripe()
    intent = await _create(provider, f"pay-{unique}")
    stripe_fake.control(f"approve/{intent.provider_ref}")
    (delivery,) = await receiver.wait_for("/stripe", lambda d: len(d) == 1)
    header = delivery.headers["stripe-signature"]
    tampered = delivery.body.replace(b'"amount":2500', b'"amount":1')
    assert tampered != delivery.body
    with pytest.raises(WebhookRejected):
        await provider.verify_webhook({"Stripe-Signature": header}, tampered)
    with pytest.raises(WebhookRejected):
        await provider.verify_webhook({}, delivery.body)
    wrong = signature_header("whsec_" + "y" * 32, delivery.body, int(time.time()))
    with pytest.raises(WebhookRejected):
        await provider.verify_webhook({"Stripe-Signature": wrong}, delivery.body)
    stale = signature_header(DEV_STRIPE_WEBHOOK_SECRET, delivery.body, int(time.time()) - 301)
    with pytest.raises(WebhookRejected, match="tolerance"):
        await provider.verify_webhook({"Stripe-Signature": stale}, delivery.body)
    for body in (b"not json", b"[]", orjson.dumps({"id": "evt_1", "type": "x"})):
        signed = signature_header(DEV_STRIPE_WEBHOOK_SECRET, body, int(time.time()))
        with pytest.raises(WebhookRejected):
            await provider.verify_webhook({"Stripe-Signature": signed}, body)
    # The untouched delivery still verifies.
    assert (await provider.verify_webhook(delivery.headers, delivery.body)).kind == (
        "payment_succeeded"
    )


async def test_duplicate_and_out_of_order_deliveries_reach_the_receiver(
    make_stripe: MakeStripe, stripe_fake: Fake, receiver: Receiver, unique: str
) -> None:
    provider = await make_stripe()
    intent = await _create(provider, f"pay-{unique}")
    stripe_fake.control("hold-webhooks")
    stripe_fake.control(f"approve/{intent.provider_ref}")
    await provider.refund(intent.provider_ref, amount_cents=2500, idempotency_key=unique)
    assert receiver.deliveries("/stripe") == []
    stripe_fake.control("release-webhooks")
    deliveries = await receiver.wait_for("/stripe", lambda d: len(d) == 2)
    kinds = [(await provider.verify_webhook(d.headers, d.body)).kind for d in deliveries]
    assert kinds == ["refund_succeeded", "payment_succeeded"]  # newest first

    first_id = orjson.loads(deliveries[1].body)["id"]
    stripe_fake.control("redeliver", {"event_id": first_id, "times": 2})
    deliveries = await receiver.wait_for("/stripe", lambda d: len(d) == 4)
    events = [await provider.verify_webhook(d.headers, d.body) for d in deliveries[2:]]
    assert {e.event_id for e in events} == {first_id}


async def test_failed_deliveries_are_retried_until_accepted(
    make_stripe: MakeStripe, stripe_fake: Fake, receiver: Receiver, unique: str
) -> None:
    provider = await make_stripe()
    intent = await _create(provider, f"pay-{unique}")
    receiver.statuses.extend([500, 503])
    stripe_fake.control(f"approve/{intent.provider_ref}")
    deliveries = await receiver.wait_for("/stripe", lambda d: len(d) == 3)
    assert [d.status for d in deliveries] == [500, 503, 200]
    assert len({orjson.loads(d.body)["id"] for d in deliveries}) == 1
    (event,) = [e for e in stripe_fake.events() if e["ref"] == intent.provider_ref]
    assert [d["status"] for d in event["deliveries"]] == [500, 503, 200]


async def test_list_payments_pages_through_intents_created_after(
    make_stripe: MakeStripe, stripe_fake: Fake, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_module, "LIST_PAGE_SIZE", 2)
    provider = await make_stripe()
    since = datetime.now(UTC) - timedelta(seconds=2)
    made = [await _create(provider, f"pay-{unique}-{i}", amount=1000 + i) for i in range(5)]
    stripe_fake.control(f"approve/{made[0].provider_ref}")
    await provider.refund(made[0].provider_ref, amount_cents=400, idempotency_key=unique)
    listed = await provider.list_payments(created_after=since)
    by_ref = {p.provider_ref: p for p in listed}
    assert len(by_ref) == len(listed)  # no page repeats an item
    for intent in made:
        assert by_ref[intent.provider_ref].amount_cents == intent.amount_cents
    paid = by_ref[made[0].provider_ref]
    assert (paid.status, paid.refunded_cents, paid.currency) == ("succeeded", 400, "EUR")
    assert by_ref[made[1].provider_ref].status == "requires_action"
    future = await provider.list_payments(created_after=datetime.now(UTC) + timedelta(hours=1))
    assert list(future) == []
