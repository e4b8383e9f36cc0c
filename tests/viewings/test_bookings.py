"""Bookings over HTTP: the contract's Viewings rules. A tenant books a free slot (pending
payment with the server's fee), pays through the fake Stripe (its webhook confirms), either
party cancels (a paid one is refunded), the landlord completes; only the parties see it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from sichrplace.payments import service as payments_service
from sichrplace.platform.db.engines import Database
from sichrplace.viewings import service as viewings_service
from tests.listings.conftest import replica_caught_up
from tests.payments.conftest import rows, wait_until
from tests.viewings.conftest import (
    API,
    MakeUser,
    Payments,
    Stage,
    approve,
    book,
    create_slot,
    field_names,
    pay,
    provider_ref_of,
    slug,
)

pytestmark = pytest.mark.usefixtures("payments")


async def _booked(client: httpx.AsyncClient, stage: Stage, **extra: Any) -> dict[str, Any]:
    r = await book(client, stage.tenant, stage.slot["id"], **extra)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _rows(db: Database, slot_id: str) -> list[tuple[str, int]]:
    async with db.primary.connect() as conn:
        rows = await conn.execute(
            text("SELECT status, sequence FROM viewings WHERE slot_id = :s ORDER BY created_at"),
            {"s": slot_id},
        )
        return [(r[0], r[1]) for r in rows.all()]


async def _move_slot(db: Database, slot_id: str, starts_at: datetime) -> None:
    """Time passes for one slot (the API refuses slots in the past)."""
    async with db.primary.begin() as conn:
        await conn.execute(
            text("UPDATE viewing_slots SET starts_at = :s, ends_at = :e WHERE id = :id"),
            {"s": starts_at, "e": starts_at + timedelta(minutes=30), "id": slot_id},
        )


# --- booking ----------------------------------------------------------------------------------


async def test_a_tenant_books_a_slot_pending_payment_of_the_fee(
    client: httpx.AsyncClient, stage: Stage, db: Database
) -> None:
    r = await book(client, stage.tenant, stage.slot["id"], message="Ich komme gern vorbei.")
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"].endswith(f"/viewings/{body['id']}")
    assert body["status"] == "pending_payment"
    assert body["listing_id"] == stage.listing_id
    assert body["slot"] == {
        "id": stage.slot["id"],
        "starts_at": stage.slot["starts_at"],
        "ends_at": stage.slot["ends_at"],
    }
    assert body["message"] == "Ich komme gern vorbei."
    assert body["tenant_id"] == str(stage.tenant.id)
    assert body["landlord_id"] == str(stage.landlord.id)
    payment = body["payment"]
    assert (payment["amount_cents"], payment["currency"]) == (2500, "EUR")
    assert (payment["status"], payment["provider"]) == ("requires_action", "stripe")
    assert payment["approval_url"].startswith("http")
    # The payment window: 15 minutes (times shown with Berlin's offset).
    created = datetime.fromisoformat(body["created_at"])
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=14) < expires - created <= timedelta(minutes=15, seconds=5)
    assert body["expires_at"].endswith(("+01:00", "+02:00"))
    assert await _rows(db, stage.slot["id"]) == [("pending_payment", 0)]


async def test_amounts_and_unknown_fields_are_refused(
    client: httpx.AsyncClient, stage: Stage, db: Database
) -> None:
    for extra in ({"amount_cents": 1}, {"currency": "USD"}, {"status": "confirmed"}):
        r = await book(client, stage.tenant, stage.slot["id"], **extra)
        assert r.status_code == 422, r.text
        assert field_names(r.json()) == set(extra)
    r = await book(client, stage.tenant, stage.slot["id"], message="x" * 2001)
    assert r.status_code == 422
    assert field_names(r.json()) == {"message"}
    assert await _rows(db, stage.slot["id"]) == []  # nothing half-written


async def test_who_may_book(client: httpx.AsyncClient, stage: Stage, make_user: MakeUser) -> None:
    for member in (stage.landlord, await make_user("landlord"), await make_user("admin")):
        r = await book(client, member, stage.slot["id"])
        assert r.status_code == 403, r.text
    r = await client.post(f"{API}/viewings", json={"slot_id": stage.slot["id"]})
    assert r.status_code == 401


async def test_unknown_slots_are_404_malformed_ids_422(
    client: httpx.AsyncClient, stage: Stage
) -> None:
    r = await book(client, stage.tenant, str(uuid.uuid4()))
    assert r.status_code == 404
    assert slug(r) == "slot-not-found"
    r = await book(client, stage.tenant, "not-a-uuid")
    assert r.status_code == 422
    assert field_names(r.json()) == {"slot_id"}


async def test_booking_ones_own_listing_is_422(
    client: httpx.AsyncClient, stage: Stage, db: Database
) -> None:
    """A tenant account cannot publish, so the listing is handed to the tenant directly."""
    async with db.primary.begin() as conn:
        await conn.execute(
            text("UPDATE listings SET owner_id = :t WHERE id = :l"),
            {"t": stage.tenant.id, "l": stage.listing_id},
        )
    r = await book(client, stage.tenant, stage.slot["id"])
    assert r.status_code == 422
    assert slug(r) == "own-listing"
    assert field_names(r.json()) == {"slot_id"}


async def test_a_slot_that_has_begun_is_409(
    client: httpx.AsyncClient, stage: Stage, db: Database
) -> None:
    await _move_slot(db, stage.slot["id"], datetime.now(UTC) - timedelta(minutes=5))
    r = await book(client, stage.tenant, stage.slot["id"])
    assert r.status_code == 409
    assert slug(r) == "slot-started"


async def test_a_taken_slot_is_409_and_the_database_holds_one_live_booking(
    client: httpx.AsyncClient, stage: Stage, db: Database, make_user: MakeUser
) -> None:
    await _booked(client, stage)
    r = await book(client, await make_user("tenant"), stage.slot["id"])
    assert r.status_code == 409
    assert slug(r) == "slot-taken"
    r = await book(client, stage.tenant, stage.slot["id"])  # the same tenant again
    assert r.status_code == 409
    # The partial unique index itself refuses a second live booking.
    async with db.primary.connect() as conn:
        with pytest.raises(IntegrityError, match="ux_viewings_live_slot"):
            await conn.execute(
                text(
                    "INSERT INTO viewings (id, slot_id, listing_id, tenant_id, landlord_id, "
                    "status, expires_at) SELECT gen_random_uuid(), slot_id, listing_id, "
                    "tenant_id, landlord_id, 'confirmed', now() FROM viewings WHERE slot_id = :s"
                ),
                {"s": stage.slot["id"]},
            )
    assert await _rows(db, stage.slot["id"]) == [("pending_payment", 0)]


async def test_idempotency_key_replays_the_first_response(
    client: httpx.AsyncClient, stage: Stage, db: Database
) -> None:
    headers = {**stage.tenant.headers, "Idempotency-Key": f"book-{uuid.uuid4()}"}
    body = {"slot_id": stage.slot["id"]}
    first = await client.post(f"{API}/viewings", json=body, headers=headers)
    again = await client.post(f"{API}/viewings", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    other = await client.post(
        f"{API}/viewings", json={**body, "message": "anders"}, headers=headers
    )
    assert other.status_code == 422
    assert field_names(other.json()) == {"Idempotency-Key"}
    assert len(await _rows(db, stage.slot["id"])) == 1


# --- reading ----------------------------------------------------------------------------------


async def test_only_the_parties_see_a_viewing(
    client: httpx.AsyncClient, stage: Stage, make_user: MakeUser
) -> None:
    booked = await _booked(client, stage)
    url = f"{API}/viewings/{booked['id']}"
    for party in (stage.tenant, stage.landlord):
        r = await client.get(url, headers=party.headers)
        assert r.status_code == 200
        assert r.json()["id"] == booked["id"]
        assert r.json()["payment"]["id"] == booked["payment"]["id"]
    for role in ("tenant", "landlord", "admin"):
        r = await client.get(url, headers=(await make_user(role)).headers)
        assert r.status_code == 404
        assert slug(r) == "viewing-not-found"
    assert (await client.get(url)).status_code == 401
    for missing in (str(uuid.uuid4()), "nope"):
        r = await client.get(f"{API}/viewings/{missing}", headers=stage.tenant.headers)
        assert r.status_code == 404


async def test_a_viewing_and_its_payment_are_read_in_one_snapshot(
    client: httpx.AsyncClient,
    stage: Stage,
    db: Database,
    payments: Payments,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GET /viewings/{id} reads the viewing, then its payment. The payment's webhook
    committing between the two reads must not show an unpaid viewing beside a succeeded
    payment: the answer is the state before the webhook or after it."""
    booked = await _booked(client, stage)
    ref = await provider_ref_of(db, booked["payment"]["id"])
    read_payment = viewings_service.payment_of

    async def paid_in_between(session: Any, viewing_id: uuid.UUID) -> Any:
        await approve(payments, ref)  # the fake's webhook confirms, in its own transaction
        await wait_until(confirmed, within=15, what="the webhook's confirmation")
        return await read_payment(session, viewing_id)

    async def confirmed() -> bool:  # read past the API: its GET is the one patched here
        found = await rows(db, "SELECT status FROM viewings WHERE id = :id", id=booked["id"])
        return bool(found[0]["status"] == "confirmed")

    monkeypatch.setattr(viewings_service, "payment_of", paid_in_between)
    r = await client.get(f"{API}/viewings/{booked['id']}", headers=stage.tenant.headers)
    monkeypatch.undo()
    assert r.status_code == 200, r.text
    before = (booked["status"], booked["payment"]["status"])
    assert before == ("pending_payment", "requires_action")
    assert (r.json()["status"], r.json()["payment"]["status"]) == before
    r = await client.get(f"{API}/viewings/{booked['id']}", headers=stage.tenant.headers)
    assert (r.json()["status"], r.json()["payment"]["status"]) == ("confirmed", "succeeded")


async def test_each_side_lists_its_viewings_page_by_page(
    client: httpx.AsyncClient, stage: Stage, db: Database
) -> None:
    ids = [(await _booked(client, stage))["id"]]
    for hours in (48, 72):
        slot = await create_slot(client, stage.landlord, stage.listing_id, hours=hours)
        r = await book(client, stage.tenant, slot["id"])
        assert r.status_code == 201
        ids.append(r.json()["id"])
    newest_first = list(reversed(ids))
    r = await client.patch(
        f"{API}/me", json={"full_name": "Erika Mieterin"}, headers=stage.tenant.headers
    )
    assert r.status_code == 200, r.text
    await replica_caught_up(db)  # the landlord did not write these: replica reads
    for member, side in ((stage.tenant, "tenant"), (stage.landlord, "landlord")):
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"as": side, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            r = await client.get(f"{API}/viewings", params=params, headers=member.headers)
            assert r.status_code == 200, r.text
            seen += [v["id"] for v in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == newest_first
    # The default side follows the role; the other side is empty.
    r = await client.get(f"{API}/viewings", headers=stage.landlord.headers)
    assert [v["id"] for v in r.json()["items"]] == newest_first
    # Each party sees who the other is (the landlord's list shows the tenant's name).
    names = {(v["tenant_name"], v["landlord_name"]) for v in r.json()["items"]}
    assert names == {("Erika Mieterin", "Vw Test")}
    r = await client.get(f"{API}/viewings", params={"as": "landlord"}, headers=stage.tenant.headers)
    assert r.json() == {"items": [], "next_cursor": None}
    r = await client.get(
        f"{API}/viewings", params={"cursor": "kaputt"}, headers=stage.tenant.headers
    )
    assert r.status_code == 422
    assert field_names(r.json()) == {"cursor"}
    r = await client.get(f"{API}/viewings", params={"as": "admin"}, headers=stage.tenant.headers)
    assert r.status_code == 422


# --- paying, cancelling, completing -----------------------------------------------------------


async def test_paying_confirms_and_bumps_the_sequence(
    client: httpx.AsyncClient, stage: Stage, db: Database, payments: Payments
) -> None:
    booked = await _booked(client, stage)
    confirmed = await pay(client, db, payments, stage.tenant, booked)
    assert confirmed["sequence"] == 1
    assert confirmed["confirmed_at"] is not None
    assert confirmed["payment"]["status"] == "succeeded"
    r = await client.get(f"{API}/viewings/{booked['id']}", headers=stage.landlord.headers)
    assert r.json()["status"] == "confirmed"


async def test_cancelling_a_pending_booking_frees_the_slot(
    client: httpx.AsyncClient, stage: Stage, db: Database, make_user: MakeUser
) -> None:
    booked = await _booked(client, stage)
    r = await client.post(f"{API}/viewings/{booked['id']}/cancel", headers=stage.tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert r.json()["cancelled_at"] is not None
    r = await client.post(f"{API}/viewings/{booked['id']}/cancel", headers=stage.tenant.headers)
    assert r.status_code == 409
    assert slug(r) == "illegal-viewing-transition"
    await replica_caught_up(db)
    listed = (await client.get(f"{API}/listings/{stage.listing_id}/slots")).json()["items"]
    assert stage.slot["id"] in [s["id"] for s in listed]
    other = await make_user("tenant")
    assert (await book(client, other, stage.slot["id"])).status_code == 201
    assert [s for s, _ in await _rows(db, stage.slot["id"])] == ["cancelled", "pending_payment"]


async def test_strangers_cannot_cancel_or_complete(
    client: httpx.AsyncClient, stage: Stage, make_user: MakeUser
) -> None:
    booked = await _booked(client, stage)
    stranger = await make_user("tenant")
    for action in ("cancel", "complete"):
        r = await client.post(f"{API}/viewings/{booked['id']}/{action}", headers=stranger.headers)
        assert r.status_code == 404
        r = await client.post(
            f"{API}/viewings/{uuid.uuid4()}/{action}", headers=stage.tenant.headers
        )
        assert r.status_code == 404


async def test_cancelling_a_paid_viewing_refunds_it(
    client: httpx.AsyncClient, stage: Stage, db: Database, payments: Payments
) -> None:
    booked = await _booked(client, stage)
    await pay(client, db, payments, stage.tenant, booked)
    r = await client.post(f"{API}/viewings/{booked['id']}/cancel", headers=stage.landlord.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "cancelled"
    assert body["sequence"] == 2
    assert body["payment"]["status"] == "refund_pending"
    # The refund job's body (payments' job queue is the tests' own: no worker races it).
    await payments_service.run_refund(db, payments.parts, uuid.UUID(booked["payment"]["id"]))
    r = await client.get(f"{API}/viewings/{booked['id']}", headers=stage.tenant.headers)
    assert r.json()["payment"]["status"] == "refunded"
    async with db.primary.connect() as conn:
        refunded_at = (
            await conn.execute(
                text("SELECT refunded_at FROM viewings WHERE id = :id"), {"id": booked["id"]}
            )
        ).scalar_one()
    assert refunded_at is not None  # on_refunded recorded it
    r = await client.post(f"{API}/viewings/{booked['id']}/cancel", headers=stage.tenant.headers)
    assert r.status_code == 409


async def test_the_landlord_completes_after_the_slot_began(
    client: httpx.AsyncClient, stage: Stage, db: Database, payments: Payments
) -> None:
    booked = await _booked(client, stage)
    url = f"{API}/viewings/{booked['id']}/complete"
    r = await client.post(url, headers=stage.landlord.headers)
    assert r.status_code == 409  # still pending payment
    assert slug(r) == "illegal-viewing-transition"
    await pay(client, db, payments, stage.tenant, booked)
    r = await client.post(url, headers=stage.landlord.headers)
    assert r.status_code == 409
    assert slug(r) == "viewing-not-started"
    await _move_slot(db, stage.slot["id"], datetime.now(UTC) - timedelta(minutes=1))
    r = await client.post(url, headers=stage.tenant.headers)
    assert r.status_code == 403
    assert slug(r) == "not-viewing-landlord"
    r = await client.post(url, headers=stage.landlord.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed"
    assert r.json()["sequence"] == 1  # nothing a calendar shows changed
    for action in ("complete", "cancel"):
        r = await client.post(
            f"{API}/viewings/{booked['id']}/{action}", headers=stage.landlord.headers
        )
        assert r.status_code == 409
