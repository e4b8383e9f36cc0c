"""The booking journey end to end through the running stack (issue 16's acceptance): listing
and slot → booking → payment approved on the fake Stripe's checkout page → its signed webhook
(through nginx) confirms the viewing → both calendar feeds and both inboxes show it → the
tenant sees the address → contract drafted, sent, signed by both → deposit paid the same way
→ the ledger holds exactly the viewing fee and the deposit.

Everything goes through nginx to the stack's API instances; the stack's worker sends the
mails to its SMTP sink. Effects that follow a response (webhooks, jobs) are polled for with a
deadline."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy import text

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.helpers.mailbox import wait_for_mail
from tests.helpers.members import Member
from tests.journey.conftest import API, MakeMember, approve_in_browser, eventually
from tests.listings.conftest import listing_body

pytestmark = pytest.mark.stack

BERLIN = ZoneInfo("Europe/Berlin")
FEE_CENTS = 2_500
COLD, UTILITIES, DEPOSIT = 95_000, 22_000, 285_000  # deposit = 3 cold rents (§551 BGB)


def _slot_times() -> tuple[datetime, datetime]:
    """17:30-18:00 Berlin time, three days ahead (in the future whatever the hour)."""
    day = (datetime.now(UTC) + timedelta(days=3)).astimezone(BERLIN).date()
    start = datetime(day.year, day.month, day.day, 17, 30, tzinfo=BERLIN)
    return start, start + timedelta(minutes=30)


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"journey-{uuid.uuid4()}"}


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def _feed_event(stack: httpx.AsyncClient, member: Member, viewing_id: str) -> Any:
    """The viewing's VEVENT in the member's calendar feed (at a fresh secret URL)."""
    feed = _ok(await stack.post(f"{API}/calendar/feed", headers=member.headers), 201)
    r = await stack.get(feed["url"])  # no Authorization: the secret URL is the credential
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    events = [
        e
        for e in Calendar.from_ical(r.content).walk("VEVENT")
        if str(e["UID"]) == f"viewing-{viewing_id}@sichrplace.de"
    ]
    assert len(events) == 1, r.text
    return events[0]


def _ics_of(msg: EmailMessage) -> Any:
    (part,) = [p for p in msg.iter_attachments() if p.get_filename() == "besichtigung.ics"]
    assert part.get_content_type() == "text/calendar"
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    (event,) = Calendar.from_ical(data).walk("VEVENT")
    return event


async def _free_slots(stack: httpx.AsyncClient, listing_id: str, expected: set[str]) -> bool | None:
    body = _ok(await stack.get(f"{API}/listings/{listing_id}/slots"))
    return True if {s["id"] for s in body["items"]} == expected else None


async def _wait_paid(stack: httpx.AsyncClient, member: Member, payment_id: str) -> dict[str, Any]:
    async def succeeded() -> dict[str, Any] | None:
        body = _ok(await stack.get(f"{API}/payments/{payment_id}", headers=member.headers))
        return body if body["status"] == "succeeded" else None

    return await eventually(succeeded, f"payment {payment_id} succeeded")


async def test_booking_to_paid_deposit_through_the_stack(
    stack: httpx.AsyncClient, make_member: MakeMember, db: Database, settings: Settings
) -> None:
    landlord, tenant = await make_member("landlord"), await make_member("tenant")

    # --- the landlord publishes a listing and offers a slot ------------------------------
    listing = _ok(
        await stack.post(f"{API}/listings", json=listing_body(), headers=landlord.headers), 201
    )
    assert listing["status"] == "active"
    listing_id = listing["id"]
    starts, ends = _slot_times()
    slot = _ok(
        await stack.post(
            f"{API}/listings/{listing_id}/slots",
            json={"starts_at": starts.isoformat(), "ends_at": ends.isoformat()},
            headers=landlord.headers,
        ),
        201,
    )
    # The public list of free slots is read from the replica: it shows the slot once
    # replayed there.
    await eventually(lambda: _free_slots(stack, listing_id, {slot["id"]}), "the slot listed")

    async def listed() -> dict[str, Any] | None:
        r = await stack.get(f"{API}/listings/{listing_id}", headers=tenant.headers)
        return dict(r.json()) if r.status_code == 200 else None  # 404 while the replica lags

    public = await eventually(listed, "the listing readable by the tenant")
    assert (public["street"], public["house_number"]) == (None, None)  # no confirmed viewing

    # --- the tenant books and pays on the provider's page --------------------------------
    booked = _ok(
        await stack.post(
            f"{API}/viewings",
            json={"slot_id": slot["id"], "message": "Ich komme gern vorbei."},
            headers={**tenant.headers, **_key()},
        ),
        201,
    )
    viewing_id, fee = booked["id"], booked["payment"]
    assert booked["status"] == "pending_payment"
    assert (fee["amount_cents"], fee["currency"], fee["status"]) == (
        FEE_CENTS,
        "EUR",
        "requires_action",
    )
    back = await approve_in_browser(fee["approval_url"], amount_text="25,00 €")
    assert back.status_code == 303, back.text
    assert back.headers["location"].startswith(settings.app.public_base_url)
    assert "redirect_status=succeeded" in back.headers["location"]

    # --- the fake's signed webhook, through nginx, confirms the viewing ------------------
    async def confirmed() -> dict[str, Any] | None:
        body = _ok(await stack.get(f"{API}/viewings/{viewing_id}", headers=tenant.headers))
        return body if body["status"] == "confirmed" else None

    viewing = await eventually(confirmed, f"viewing {viewing_id} confirmed")
    assert viewing["payment"]["status"] == "succeeded"
    seen_by_landlord = _ok(
        await stack.get(f"{API}/viewings/{viewing_id}", headers=landlord.headers)
    )
    assert seen_by_landlord["status"] == "confirmed"
    await eventually(lambda: _free_slots(stack, listing_id, set()), "the slot no longer free")

    # --- both calendar feeds carry it, in Berlin time ------------------------------------
    for member in (tenant, landlord):
        event = await _feed_event(stack, member, viewing_id)
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert event.decoded("DTSTART") == starts
        assert getattr(event.decoded("DTSTART").tzinfo, "key", None) == "Europe/Berlin"
        assert event.decoded("DTEND") == ends
        assert str(event["STATUS"]) == "CONFIRMED"
        assert event.decoded("SEQUENCE") == viewing["sequence"]
        assert "Karl-Marx-Allee 12a" in str(event["LOCATION"])

    # --- the tenant now sees the exact address (the public still does not) ---------------
    async def address_shown() -> dict[str, Any] | None:
        body = _ok(await stack.get(f"{API}/listings/{listing_id}", headers=tenant.headers))
        return body if body["street"] is not None else None

    detail = await eventually(address_shown, "the tenant sees the address")
    assert (detail["street"], detail["house_number"]) == ("Karl-Marx-Allee", "12a")
    anonymous = _ok(await stack.get(f"{API}/listings/{listing_id}"))
    assert (anonymous["street"], anonymous["house_number"]) == (None, None)

    # --- both parties are mailed (German subject) with the .ics --------------------------
    for member in (tenant, landlord):
        msg = await wait_for_mail(member.email, subject_contains="Besichtigung bestätigt")
        assert str(msg["Subject"]).startswith("Besichtigung bestätigt")
        event = _ics_of(msg)
        assert str(event["UID"]) == f"viewing-{viewing_id}@sichrplace.de"
        assert event.decoded("DTSTART") == starts

    # --- the landlord drafts a contract from the viewing and sends it --------------------
    draft = _ok(
        await stack.post(
            f"{API}/contracts",
            json={
                "viewing_id": viewing_id,
                "start_date": (date.today() + timedelta(days=60)).isoformat(),
                "cold_rent_cents": COLD,
                "utilities_cents": UTILITIES,
                "deposit_cents": DEPOSIT,
            },
            headers=landlord.headers,
        ),
        201,
    )
    contract_id = draft["id"]
    assert (draft["status"], draft["warm_rent_cents"]) == ("draft", COLD + UTILITIES)
    sent = _ok(await stack.post(f"{API}/contracts/{contract_id}/send", headers=landlord.headers))
    sha = sent["document_sha256"]
    assert sent["status"] == "sent"
    pdf = await stack.get(f"{API}/contracts/{contract_id}/document", headers=tenant.headers)
    assert pdf.status_code == 200
    assert hashlib.sha256(pdf.content).hexdigest() == sha

    # --- both sign the frozen document ---------------------------------------------------
    statuses = []
    for member, name in ((tenant, "Erika Mustermann"), (landlord, "Max Vermieter")):
        signed = _ok(
            await stack.post(
                f"{API}/contracts/{contract_id}/sign",
                json={"full_name": name, "accept": True, "document_sha256": sha},
                headers=member.headers,
            )
        )
        statuses.append(signed["status"])
    assert statuses == ["partially_signed", "fully_signed"]

    # --- the deposit: an intent for the contract's amount, paid the same way -------------
    intent = _ok(
        await stack.post(
            f"{API}/payments/intents",
            json={"purpose": "deposit", "contract_id": contract_id},
            headers={**tenant.headers, **_key()},
        ),
        201,
    )
    assert (intent["status"], intent["amount_cents"], intent["currency"]) == (
        "requires_action",
        DEPOSIT,
        "EUR",
    )
    back = await approve_in_browser(intent["approval_url"], amount_text="2.850,00 €")
    assert back.status_code == 303, back.text
    await _wait_paid(stack, tenant, intent["id"])

    async def deposit_paid() -> dict[str, Any] | None:
        body = _ok(await stack.get(f"{API}/contracts/{contract_id}", headers=landlord.headers))
        return body if body["deposit_status"] == "paid" else None

    contract = await eventually(deposit_paid, f"contract {contract_id}'s deposit paid")
    assert contract["status"] == "fully_signed"

    audit = _ok(await stack.get(f"{API}/contracts/{contract_id}/audit", headers=tenant.headers))
    kinds = [e["kind"] for e in audit["events"] if e["kind"] != "document_viewed"]
    assert kinds == [
        "created",
        "sent",
        "signed",
        "signed",
        "fully_signed",
        "deposit_payment_started",
        "deposit_paid",
    ]

    # --- the ledger balances: the fee and the deposit, charged once, nothing refunded ----
    async with db.primary.connect() as conn:
        payments = (
            await conn.execute(
                text(
                    "SELECT purpose, status, amount_cents FROM payments "
                    "WHERE viewing_id = :v OR contract_id = :c ORDER BY created_at"
                ),
                {"v": viewing_id, "c": contract_id},
            )
        ).all()
        ledger = (
            await conn.execute(
                text(
                    "SELECT l.kind, l.amount_cents, l.currency FROM ledger_entries l "
                    "JOIN payments p ON p.id = l.payment_id "
                    "WHERE p.viewing_id = :v OR p.contract_id = :c ORDER BY l.id"
                ),
                {"v": viewing_id, "c": contract_id},
            )
        ).all()
    assert [tuple(p) for p in payments] == [
        ("viewing_fee", "succeeded", FEE_CENTS),
        ("deposit", "succeeded", DEPOSIT),
    ]
    assert [tuple(e) for e in ledger] == [
        ("charge", FEE_CENTS, "EUR"),
        ("charge", DEPOSIT, "EUR"),
    ]
    assert sum(e.amount_cents for e in ledger) == FEE_CENTS + DEPOSIT
