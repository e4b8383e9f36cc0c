"""DELETE /api/v1/me: re-authenticated, the account anonymised in one transaction; messages
stay for the other participant, kept records stay, the deletion is audited."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.messaging.conftest import Stage as TalkStage
from tests.messaging.conftest import sent, started
from tests.privacy.conftest import API, insert_contract, login, registered, rows
from tests.viewings.conftest import MakeUser, book, create_listing, create_slot, slug

pytestmark = pytest.mark.usefixtures("payments")


async def _delete(
    client: httpx.AsyncClient, headers: dict[str, str], password: str
) -> httpx.Response:
    return await client.request("DELETE", f"{API}/me", json={"password": password}, headers=headers)


async def test_deleting_anonymises_keeps_the_conversation_and_is_audited(
    client: httpx.AsyncClient, db: Database, settings: Settings, make_user: MakeUser
) -> None:
    landlord = await make_user("landlord")
    account = await registered(client, db, settings, "tenant", "privacy-del")
    tenant = account.member
    listing_id = await create_listing(client, landlord)
    slot = await create_slot(client, landlord, listing_id)
    booked = await book(client, tenant, slot["id"])
    assert booked.status_code == 201, booked.text
    conversation = await started(client, TalkStage(landlord, tenant, listing_id), "Noch frei?")
    await sent(client, landlord, conversation["id"], "Ja, gern.")

    # A wrong password: 401, and nothing changed.
    r = await _delete(client, tenant.headers, "not-the-password")
    assert r.status_code == 401
    assert slug(r) == "wrong-password"
    [user] = await rows(db, "SELECT email, deleted_at FROM users WHERE id = :u", u=tenant.id)
    assert (user["email"], user["deleted_at"]) == (tenant.email, None)
    assert (await client.get(f"{API}/me", headers=tenant.headers)).status_code == 200
    assert await rows(db, "SELECT 1 FROM privacy_audit WHERE user_id = :u", u=tenant.id) == []

    r = await _delete(client, {**tenant.headers, "User-Agent": "del/1"}, account.password)
    assert r.status_code == 204, r.text

    [user] = await rows(
        db,
        "SELECT email, full_name, email_verified_at, deleted_at FROM users WHERE id = :u",
        u=tenant.id,
    )
    assert user["email"] == f"deleted-{tenant.id}@deleted.invalid"
    assert user["full_name"] == "Gelöschtes Konto"
    assert user["email_verified_at"] is None
    assert user["deleted_at"] is not None
    live = await rows(
        db,
        "SELECT id FROM refresh_token_families WHERE user_id = :u AND revoked_at IS NULL",
        u=tenant.id,
    )
    assert live == []
    # The old credentials and the old token are refused.
    # 401; 429 when the suite's failed logins from this address throttle it: no token either way.
    assert (await login(client, tenant.email, account.password)).status_code in (401, 429)
    assert (await client.get(f"{API}/me", headers=tenant.headers)).status_code == 401
    assert (await client.get(f"{API}/me/export", headers=tenant.headers)).status_code == 401
    # The pending booking was cancelled through viewings: the slot is free again.
    [viewing] = await rows(db, "SELECT status FROM viewings WHERE id = :v", v=booked.json()["id"])
    assert viewing["status"] == "cancelled"
    free = await client.get(f"{API}/listings/{listing_id}/slots", headers=landlord.headers)
    assert slot["id"] in [s["id"] for s in free.json()["items"]], free.text
    # The landlord still has the conversation, the tenant shown as deleted.
    r = await client.get(f"{API}/conversations/{conversation['id']}", headers=landlord.headers)
    assert r.status_code == 200, r.text
    assert r.json()["other_participant"]["display_name"] == "Gelöschtes Konto"
    r = await client.get(
        f"{API}/conversations/{conversation['id']}/messages", headers=landlord.headers
    )
    assert [m["body"] for m in r.json()["items"]] == ["Ja, gern.", "Noch frei?"]
    # Audited, and the audit cannot be rewritten.
    [audit] = await rows(
        db, "SELECT action, ip, user_agent FROM privacy_audit WHERE user_id = :u", u=tenant.id
    )
    assert (audit["action"], audit["user_agent"]) == ("delete", "del/1")
    assert audit["ip"]
    for statement in (
        "UPDATE privacy_audit SET ip = 'x' WHERE user_id = :u",
        "DELETE FROM privacy_audit WHERE user_id = :u",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.primary.begin() as conn:
                await conn.execute(text(statement), {"u": tenant.id})


async def test_a_landlords_listings_are_archived(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    account = await registered(client, db, settings, "landlord", "privacy-ll")
    listing_id = await create_listing(client, account.member)
    r = await _delete(client, account.member.headers, account.password)
    assert r.status_code == 204, r.text
    [listing] = await rows(db, "SELECT status FROM listings WHERE id = :l", l=listing_id)
    assert listing["status"] == "archived"


async def test_an_open_contract_refuses_the_deletion(
    client: httpx.AsyncClient, db: Database, settings: Settings, make_user: MakeUser
) -> None:
    landlord = await make_user("landlord")
    account = await registered(client, db, settings, "tenant", "privacy-open")
    listing_id = await create_listing(client, landlord)
    await insert_contract(
        db, listing_id=listing_id, landlord=landlord, tenant=account.member, status="sent"
    )
    r = await _delete(client, account.member.headers, account.password)
    assert r.status_code == 409
    assert slug(r) == "account-has-open-obligations"
    [user] = await rows(db, "SELECT deleted_at FROM users WHERE id = :u", u=account.member.id)
    assert user["deleted_at"] is None
    assert (await client.get(f"{API}/me", headers=account.member.headers)).status_code == 200


async def test_deleting_needs_a_signed_in_caller(client: httpx.AsyncClient) -> None:
    r = await client.request("DELETE", f"{API}/me", json={"password": "x"})
    assert r.status_code == 401


async def test_repeated_wrong_passwords_are_slowed_down_with_429(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    """Guessing the password through DELETE /me is throttled like a login (per account and
    address): after the free failures 429 with Retry-After, even for the right password."""
    account = await registered(client, db, settings, "tenant", "privacy-429")
    headers = account.member.headers
    free = settings.auth.login_free_failures_per_account_ip
    answers = [(await _delete(client, headers, f"wrong-{i}")).status_code for i in range(free + 1)]
    assert answers == [401] * (free + 1)  # the last one counted starts a block of 1 s
    r = await _delete(client, headers, "wrong-again")
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    await asyncio.sleep(int(r.headers["Retry-After"]) + 0.2)
    r = await _delete(client, headers, "wrong-after-the-wait")
    assert r.status_code == 401  # counted again: the next block is twice as long
    r = await _delete(client, headers, account.password)
    assert r.status_code == 429  # the block holds for the right password too
    assert int(r.headers["Retry-After"]) >= 1
    [user] = await rows(db, "SELECT deleted_at FROM users WHERE id = :u", u=account.member.id)
    assert user["deleted_at"] is None
    assert (await client.get(f"{API}/me", headers=headers)).status_code == 200
