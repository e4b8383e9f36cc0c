"""Reconciliation: the periodic job compares our payments and their ledger with the provider's
list; a difference becomes an open issue (counted by the metric once, shown by `sichrplace
payments issues`), found again it is only touched, fixed it is resolved; no difference, no
issue.

The database is shared, so each test isolates its own data in time and at the provider: a
fake Stripe of its own (its list holds only this test's intents) and this test's payments
moved to an instant in the past that nothing else uses, with the job's clock set there
(the job asks `kit.clock` for the time; the test answers).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from sichrplace.config import Settings
from sichrplace.integrations.payments.paypal import PaypalProvider
from sichrplace.integrations.payments.types import PaymentProvider
from sichrplace.payments import tasks
from sichrplace.payments.vocabulary import IssueKind
from sichrplace.platform.db.engines import Database
from sichrplace.platform.jobs.app import job_app
from sichrplace.platform.jobs.runtime import use_job_parts
from tests.payments.conftest import (
    Fake,
    Wired,
    booked,
    make_stripe,
    paid,
    payment_row,
    provider_settings,
    ref_of,
    rows,
    run_jobs,
    start_fake,
    wait_payment,
)
from tests.platform.jobs.workers import run_cli
from tests.viewings.conftest import API, MakeUser, Stage, create_listing, create_slot


@dataclass
class Isolated:
    """This test's fake provider, and its payments' place in time."""

    name: str
    fake: Fake
    provider: PaymentProvider
    at: datetime  # the job's "now"
    moved: dict[str, datetime]  # payment id -> its real created_at (restored afterwards)
    refs: set[str]


@asynccontextmanager
async def isolation(
    name: str, wired: Wired, settings: Settings, app_url: str, db: Database
) -> AsyncIterator[Isolated]:
    """A fresh fake `name` is the app's one provider (new payments and the comparison) for
    the block; the job's clock is a random instant of 2001-2024 (no real payment is there)."""
    fake, server = start_fake(app_url, name)
    provider: PaymentProvider
    if name == "stripe":
        provider = make_stripe(settings, fake)
    else:
        provider = PaypalProvider(
            provider_settings(settings, paypal_api_base=fake.url),
            redis=None,
            dependency=f"paypal_test_{uuid.uuid4().hex[:8]}",
        )
    wired.swap(provider=provider, providers={name: provider})
    at = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(seconds=random.randrange(24 * 365 * 86400))
    state = Isolated(name, fake, provider, at, {}, set())
    try:
        yield state
    finally:
        wired.swap()
        await provider.aclose()
        server.stop()
        async with db.primary.begin() as conn:
            for payment_id, created_at in state.moved.items():
                await conn.execute(
                    text("UPDATE payments SET created_at = :c WHERE id = :id"),
                    {"c": created_at, "id": payment_id},
                )
            refs = {"p": name, "refs": sorted(state.refs)}
            await conn.execute(
                text(
                    "UPDATE reconciliation_issues SET resolved_at = now()"
                    " WHERE provider = :p AND provider_ref = ANY(:refs) AND resolved_at IS NULL"
                ),
                refs,
            )
            await conn.execute(
                text(
                    "DELETE FROM payment_events WHERE provider = :p"
                    " AND provider_ref = ANY(:refs) AND payment_id IS NULL"
                ),
                refs,
            )


@pytest.fixture
async def isolated(
    wired: Wired, settings: Settings, app_url: str, db: Database
) -> AsyncIterator[Isolated]:
    async with isolation("stripe", wired, settings, app_url, db) as state:
        yield state


@pytest.fixture
async def isolated_paypal(
    wired: Wired, settings: Settings, app_url: str, db: Database
) -> AsyncIterator[Isolated]:
    async with isolation("paypal", wired, settings, app_url, db) as state:
        yield state


async def move_to_the_past(
    db: Database, isolated: Isolated, *payment_ids: str, before_now: timedelta = timedelta(hours=1)
) -> None:
    """Settled payments of the isolated instant: created an hour (or `before_now`) before
    the job's now."""
    async with db.primary.begin() as conn:
        for payment_id in payment_ids:
            before = (
                await conn.execute(
                    text("SELECT created_at, provider_ref FROM payments WHERE id = :id"),
                    {"id": payment_id},
                )
            ).one()
            isolated.moved.setdefault(payment_id, before.created_at)
            isolated.refs.add(before.provider_ref)
            await conn.execute(
                text("UPDATE payments SET created_at = :c WHERE id = :id"),
                {"c": isolated.at - before_now, "id": payment_id},
            )


async def run_reconcile_job(
    wired: Wired, isolated: Isolated, monkeypatch: pytest.MonkeyPatch
) -> int:
    """The periodic job's handler, with its clock at the isolated instant."""
    monkeypatch.setattr(tasks, "utcnow", lambda: isolated.at)
    with use_job_parts(wired.app_parts):
        found: int = await tasks.reconcile(timestamp=int(isolated.at.timestamp()))
    return found


def issues_counted() -> dict[str, float]:
    return {
        kind.value: REGISTRY.get_sample_value(
            "sichrplace_payment_reconciliation_issues_total", {"kind": kind.value}
        )
        or 0.0
        for kind in IssueKind
    }


async def open_issues(db: Database, refs: set[str]) -> list[dict[str, Any]]:
    return await rows(
        db,
        "SELECT id, provider_ref, payment_id, kind, detail, last_seen_at FROM"
        " reconciliation_issues WHERE provider_ref = ANY(:refs)"
        " AND resolved_at IS NULL ORDER BY provider_ref, kind",
        refs=sorted(refs),
    )


async def cli_issues(refs: set[str]) -> list[dict[str, Any]]:
    code, output = await run_cli("payments", "issues", "--json", "--limit", "10000")
    assert code == 0, output
    listed = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [i for i in listed if i["provider_ref"] in refs]


async def pay_and_refund(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage, fake: Fake
) -> tuple[str, str]:
    booking, ref = await paid(client, db, wired, stage, fake)
    r = await client.post(f"{API}/viewings/{booking['id']}/cancel", headers=stage.tenant.headers)
    assert r.status_code == 200, r.text
    await run_jobs(wired)
    return booking["payment"]["id"], ref


async def another_stage(client: httpx.AsyncClient, stage: Stage, make_user: MakeUser) -> Stage:
    listing_id = await create_listing(client, stage.landlord)
    slot = await create_slot(client, stage.landlord, listing_id)
    return Stage(stage.landlord, await make_user("tenant"), listing_id, slot)


def test_reconciliation_is_a_periodic_job(settings: Settings) -> None:
    schedule = {p.task.name: p.cron for p in job_app.periodic_registry.periodic_tasks.values()}
    assert schedule["payments.reconcile"] == settings.payments.reconcile_cron


async def test_no_difference_reports_nothing(
    client: httpx.AsyncClient,
    db: Database,
    wired: Wired,
    isolated: Isolated,
    stage: Stage,
    make_user: MakeUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refunded_id, _ = await pay_and_refund(client, db, wired, stage, isolated.fake)
    second = await another_stage(client, stage, make_user)
    booking, _ = await paid(client, db, wired, second, isolated.fake)
    third = await another_stage(client, stage, make_user)
    waiting = await booked(client, third)  # requires_action: nothing moved on either side
    ids = (refunded_id, booking["payment"]["id"], waiting["payment"]["id"])
    await move_to_the_past(db, isolated, *ids)
    assert len(isolated.fake.state.intents) == 3
    before = issues_counted()

    found = await run_reconcile_job(wired, isolated, monkeypatch)
    assert (found, await open_issues(db, isolated.refs)) == (0, [])
    assert issues_counted() == before
    assert await cli_issues(isolated.refs) == []


async def test_differences_are_counted_listed_and_resolved_once_fixed(
    client: httpx.AsyncClient,
    db: Database,
    wired: Wired,
    isolated: Isolated,
    stage: Stage,
    make_user: MakeUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stripe = isolated.fake.state
    # A: paid and refunded, but the provider shows no refund (as if ours never happened).
    refunded_id, refunded_ref = await pay_and_refund(client, db, wired, stage, isolated.fake)
    charge = stripe.charges[stripe.intents[refunded_ref]["latest_charge"]]
    charge["amount_refunded"] = 0
    # B: paid, and a refund in our ledger that the provider never made.
    second = await another_stage(client, stage, make_user)
    paid_booking, paid_ref = await paid(client, db, wired, second, isolated.fake)
    paid_id = paid_booking["payment"]["id"]
    bogus = f"re_bogus_{uuid.uuid4().hex[:12]}"
    async with db.primary.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO ledger_entries (payment_id, kind, provider, object_ref, amount_cents)"
                " VALUES (:p, 'refund', 'stripe', :o, -2500)"
            ),
            {"p": paid_id, "o": bogus},
        )
    # C: money taken at the provider for an intent we hold no payment of.
    stray = await isolated.provider.create_intent(
        amount_cents=4200,
        currency="EUR",
        idempotency_key=f"stray-{uuid.uuid4()}",
        description="Unbekannt",
        metadata={},
        return_url=wired.parts.return_url,
    )
    await isolated.fake.approve(stray.provider_ref)
    isolated.refs.add(stray.provider_ref)
    # D: a paid payment the provider does not know (its intent gone from the provider's list).
    third = await another_stage(client, stage, make_user)
    vanished, vanished_ref = await paid(client, db, wired, third, isolated.fake)
    vanished_id = vanished["payment"]["id"]
    kept_intent = stripe.intents.pop(vanished_ref)
    stripe._order.remove(vanished_ref)
    await move_to_the_past(db, isolated, refunded_id, paid_id, vanished_id)

    before = issues_counted()
    assert await run_reconcile_job(wired, isolated, monkeypatch) == 5
    expected: set[tuple[str, str | None, str]] = {
        (refunded_ref, refunded_id, "status_mismatch"),
        (refunded_ref, refunded_id, "ledger_mismatch"),
        (paid_ref, paid_id, "ledger_mismatch"),
        (stray.provider_ref, None, "missing_locally"),
        (vanished_ref, vanished_id, "missing_at_provider"),
    }

    def as_set(found: list[dict[str, Any]], key: Callable[[Any], str | None]) -> set[Any]:
        return {(i["provider_ref"], key(i["payment_id"]), i["kind"]) for i in found}

    def uuid_text(value: Any) -> str | None:
        return None if value is None else str(value)

    first = await open_issues(db, isolated.refs)
    assert as_set(first, uuid_text) == expected
    after = issues_counted()
    assert {k: after[k] - before[k] for k in after} == {
        "status_mismatch": 1,
        "ledger_mismatch": 2,
        "missing_locally": 1,
        "missing_at_provider": 1,
        "amount_mismatch": 0,
    }
    open_now = REGISTRY.get_sample_value("sichrplace_payment_reconciliation_open_issues")
    assert open_now is not None
    assert open_now >= 5
    listed = await cli_issues(isolated.refs)
    assert as_set(listed, uuid_text) == expected
    assert all(i["detail"] for i in listed)

    # Found again: the same issues, touched, not counted twice.
    assert await run_reconcile_job(wired, isolated, monkeypatch) == 5
    again = await open_issues(db, isolated.refs)
    assert [i["id"] for i in again] == [i["id"] for i in first]
    assert all(a["last_seen_at"] > f["last_seen_at"] for a, f in zip(again, first, strict=True))
    assert issues_counted() == after

    # Fixed (A, B, D): resolved; C is still a difference.
    charge["amount_refunded"] = 2500
    async with db.primary.begin() as conn:
        await conn.execute(text("DELETE FROM ledger_entries WHERE object_ref = :o"), {"o": bogus})
    stripe.intents[vanished_ref] = kept_intent
    stripe._order.append(vanished_ref)
    assert await run_reconcile_job(wired, isolated, monkeypatch) == 1
    assert as_set(await open_issues(db, isolated.refs), uuid_text) == {
        (stray.provider_ref, None, "missing_locally")
    }
    assert [i["kind"] for i in await cli_issues(isolated.refs)] == ["missing_locally"]
    resolved = await rows(
        db,
        "SELECT count(*) AS n FROM reconciliation_issues WHERE provider_ref = ANY(:refs)"
        " AND resolved_at IS NOT NULL",
        refs=[refunded_ref, paid_ref, vanished_ref],
    )
    assert resolved == [{"n": 4}]


LOOKBACK = timedelta(days=7)  # the job's


async def test_payments_at_the_edge_of_the_window_are_no_difference(
    client: httpx.AsyncClient,
    db: Database,
    wired: Wired,
    isolated: Isolated,
    stage: Stage,
    make_user: MakeUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A payment's row is stamped when its booking's transaction began, before the provider
    made the payment, and the provider filters on its own clock in whole seconds: at the
    lookback's edge the provider can list a payment whose row lies just outside the window,
    or leave out one whose row lies just inside. Both payments agree with the provider."""
    stripe = isolated.fake.state
    edge = int((isolated.at - LOOKBACK).timestamp())
    outside, outside_ref = await paid(client, db, wired, stage, isolated.fake)
    second = await another_stage(client, stage, make_user)
    inside, inside_ref = await paid(client, db, wired, second, isolated.fake)
    # Booked 0.3 s before the edge, the provider's call took 1.3 s: listed, row outside.
    await move_to_the_past(
        db, isolated, outside["payment"]["id"], before_now=LOOKBACK + timedelta(seconds=0.3)
    )
    stripe.intents[outside_ref]["created"] = edge + 1
    # Booked 0.3 s after the edge, made by the provider 0.2 s later: row inside, not listed
    # (created in the edge's second, and the list asks for created > edge).
    await move_to_the_past(
        db, isolated, inside["payment"]["id"], before_now=LOOKBACK - timedelta(seconds=0.3)
    )
    stripe.intents[inside_ref]["created"] = edge

    found = await run_reconcile_job(wired, isolated, monkeypatch)
    assert (found, await open_issues(db, isolated.refs)) == (0, [])


async def test_unpaid_paypal_orders_are_no_difference(
    client: httpx.AsyncClient,
    db: Database,
    wired: Wired,
    isolated_paypal: Isolated,
    stage: Stage,
    make_user: MakeUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PayPal's list (Transaction Search) holds captured orders only: an order its payer
    never approved moved no money and is no difference; a captured one agrees."""
    isolated = isolated_paypal
    abandoned = await booked(client, stage)
    second = await another_stage(client, stage, make_user)
    captured = await booked(client, second)
    captured_id = captured["payment"]["id"]
    await isolated.fake.approve(await ref_of(db, captured_id))
    await wait_payment(db, captured_id, "processing")
    await run_jobs(wired)
    assert (await payment_row(db, captured_id))["status"] == "succeeded"
    # Past PayPal's listing delay (up to 3 h): compared, not waited for.
    await move_to_the_past(
        db, isolated, abandoned["payment"]["id"], captured_id, before_now=timedelta(hours=4)
    )
    before = issues_counted()

    found = await run_reconcile_job(wired, isolated, monkeypatch)
    assert (found, await open_issues(db, isolated.refs)) == (0, [])
    assert issues_counted() == before


async def test_a_provider_that_lists_late_is_given_its_delay(
    client: httpx.AsyncClient,
    db: Database,
    wired: Wired,
    isolated: Isolated,
    stage: Stage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A provider that lists new payments late (PayPal: up to three hours) is not compared
    with a payment younger than that: a paid payment its list does not show yet is no
    difference while the delay lasts, and one after it."""
    assert PaypalProvider.listing_delay == timedelta(hours=3)
    stripe = isolated.fake.state
    booking, ref = await paid(client, db, wired, stage, isolated.fake)
    payment_id = booking["payment"]["id"]
    stripe.intents.pop(ref)  # not (yet) in the provider's list
    stripe._order.remove(ref)
    await move_to_the_past(db, isolated, payment_id)  # an hour before the job's now
    monkeypatch.setattr(isolated.provider, "listing_delay", timedelta(hours=2))
    assert await run_reconcile_job(wired, isolated, monkeypatch) == 0
    assert await open_issues(db, isolated.refs) == []
    monkeypatch.setattr(isolated.provider, "listing_delay", timedelta(0))
    assert await run_reconcile_job(wired, isolated, monkeypatch) == 1
    assert [i["kind"] for i in await open_issues(db, isolated.refs)] == ["missing_at_provider"]
