"""The ledger: signed integer cents in EUR, one entry per money movement at the provider (the
charge of an intent, each refund), balancing after a payment and its refund; amounts are
the server's (a request that names one is refused and starts nothing)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.payments.conftest import (
    Wired,
    booked,
    declined,
    intent_body,
    ledger_of,
    paid,
    payments_of,
    rows,
    run_jobs,
)
from tests.viewings.conftest import API, Stage, field_names

pytestmark = pytest.mark.usefixtures("wired")


async def test_a_payment_and_its_refund_balance_in_integer_euro_cents(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage, settings: Settings
) -> None:
    booking, ref = await paid(client, db, wired, stage)
    payment_id = booking["payment"]["id"]
    r = await client.post(f"{API}/viewings/{booking['id']}/cancel", headers=stage.tenant.headers)
    assert r.status_code == 200, r.text
    await run_jobs(wired)

    entries = await ledger_of(db, payment_id)
    fee = settings.payments.viewing_fee_cents
    assert all(type(e["amount_cents"]) is int and e["currency"] == "EUR" for e in entries)
    charges = sum(e["amount_cents"] for e in entries if e["kind"] == "charge")
    refunds = sum(e["amount_cents"] for e in entries if e["kind"] == "refund")
    (net,) = await rows(
        db,
        "SELECT sum(amount_cents) AS net, count(*) AS n FROM ledger_entries WHERE payment_id = :p",
        p=payment_id,
    )
    assert (charges, refunds) == (fee, -fee)
    assert charges + refunds == net["net"] == 0
    assert net["n"] == 2

    # Each entry is one movement the provider made, for the amount it moved.
    stripe = wired.stripe.state
    intent = stripe.intents[ref]
    charge = stripe.charges[intent["latest_charge"]]
    (refund,) = [r for r in stripe.refunds.values() if r["payment_intent"] == ref]
    assert {(e["kind"], e["object_ref"]): e["amount_cents"] for e in entries} == {
        ("charge", ref): intent["amount_received"],
        ("refund", refund["id"]): -refund["amount"],
    }
    assert charge["amount_refunded"] == refund["amount"] == fee

    # The database itself refuses entries that are not signed EUR cents, or a second entry
    # for the same provider object.
    bad = [
        ("charge", -1, "EUR", f"x-{uuid.uuid4()}"),
        ("refund", 1, "EUR", f"x-{uuid.uuid4()}"),
        ("charge", 100, "USD", f"x-{uuid.uuid4()}"),
        ("charge", 100, "EUR", ref),  # the charge of this intent is recorded already
    ]
    for kind, amount, currency, object_ref in bad:
        async with db.primary.connect() as conn:
            with pytest.raises(IntegrityError):
                await conn.execute(
                    text(
                        "INSERT INTO ledger_entries (payment_id, kind, provider, object_ref,"
                        " amount_cents, currency) VALUES (:p, :k, 'stripe', :o, :a, :c)"
                    ),
                    {"p": payment_id, "k": kind, "o": object_ref, "a": amount, "c": currency},
                )
    columns = await rows(
        db,
        "SELECT table_name, data_type FROM information_schema.columns"
        " WHERE column_name = 'amount_cents'"
        " AND table_name IN ('ledger_entries', 'payments', 'payment_refunds')",
    )
    assert {c["data_type"] for c in columns} == {"bigint"}
    assert len(columns) == 3


async def test_unpaid_and_failed_payments_move_nothing_in_the_ledger(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    booking = await declined(client, db, wired, stage)
    (payment,) = await payments_of(db, booking["id"])
    assert await ledger_of(db, payment["id"]) == []


@pytest.mark.parametrize(
    "extra",
    [{"amount_cents": 1}, {"amount": 1}, {"currency": "USD"}, {"amount_cents": 250000}],
    ids=["amount_cents", "amount", "currency", "larger"],
)
async def test_amounts_in_the_request_are_refused(
    client: httpx.AsyncClient,
    db: Database,
    wired: Wired,
    stage: Stage,
    settings: Settings,
    extra: dict[str, int | str],
) -> None:
    booking = await declined(client, db, wired, stage)
    r = await client.post(
        f"{API}/payments/intents",
        json=intent_body(booking["id"], **extra),
        headers={**stage.tenant.headers, "Idempotency-Key": f"amount-{uuid.uuid4()}"},
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field_names(r.json()) == set(extra)
    assert len(await payments_of(db, booking["id"])) == 1  # nothing started
    # Without it the server's fee is charged, at the provider too.
    r = await client.post(
        f"{API}/payments/intents", json=intent_body(booking["id"]), headers=stage.tenant.headers
    )
    assert r.status_code == 201, r.text
    assert (r.json()["amount_cents"], r.json()["currency"]) == (
        settings.payments.viewing_fee_cents,
        "EUR",
    )
    new = (await payments_of(db, booking["id"]))[-1]
    assert wired.stripe.state.intents[new["provider_ref"]]["amount"] == new["amount_cents"]


async def test_the_booking_fee_is_the_servers(
    client: httpx.AsyncClient, db: Database, stage: Stage, settings: Settings
) -> None:
    booking = await booked(client, stage)
    (payment,) = await payments_of(db, booking["id"])
    assert payment["amount_cents"] == settings.payments.viewing_fee_cents == 2500
    assert payment["currency"] == "EUR"
