"""GET /api/v1/me/export: every kind of the caller's data, nobody else's, audited."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from sichrplace.platform.db.engines import Database
from tests.messaging.conftest import Stage as TalkStage
from tests.messaging.conftest import sent, started
from tests.privacy.conftest import API, insert_contract, rows
from tests.viewings.conftest import MakeUser, Stage, book, create_slot, pay
from tests.viewings.conftest import Payments as PaymentsFixture

pytestmark = pytest.mark.usefixtures("payments")


async def test_the_export_holds_every_kind_of_the_callers_data_and_nobody_elses(
    client: httpx.AsyncClient,
    db: Database,
    stage: Stage,
    payments: PaymentsFixture,
    make_user: MakeUser,
) -> None:
    tenant, landlord = stage.tenant, stage.landlord
    # A paid viewing: a payment (tenant pays, landlord is paid) with its ledger entry.
    r = await book(client, tenant, stage.slot["id"])
    assert r.status_code == 201, r.text
    viewing = await pay(client, db, payments, tenant, r.json())
    # A conversation both took part in.
    conversation = await started(client, TalkStage(landlord, tenant, stage.listing_id), "Hallo T")
    await sent(client, landlord, conversation["id"], "Antwort vom Vermieter")
    # A signed contract: each party's signature with its own IP.
    contract_id = await insert_contract(
        db,
        listing_id=stage.listing_id,
        landlord=landlord,
        tenant=tenant,
        status="fully_signed",
        signatures={"tenant": "10.9.8.1", "landlord": "10.9.8.2"},
    )
    # A third person on the same listing: a conversation and a booking of their own.
    stranger = await make_user("tenant")
    theirs = await started(client, TalkStage(landlord, stranger, stage.listing_id), "Geheim-X")
    other_slot = await create_slot(client, landlord, stage.listing_id, hours=48)
    assert (await book(client, stranger, other_slot["id"])).status_code == 201

    r = await client.get(f"{API}/me/export", headers={**tenant.headers, "User-Agent": "exp/1"})
    assert r.status_code == 200, r.text
    assert re.fullmatch(
        r'attachment; filename="sichrplace-export-\d{4}-\d{2}-\d{2}\.json"',
        r.headers["content-disposition"],
    )
    doc = r.json()
    assert doc["profile"]["id"] == str(tenant.id)
    assert doc["profile"]["email"] == tenant.email
    assert "password_hash" not in doc["profile"]
    assert [s["id"] for s in doc["sessions"]], "the member's login session"
    assert doc["listings"] == []
    assert [(v["id"], v["role"], v["status"]) for v in doc["viewings"]] == [
        (viewing["id"], "tenant", "confirmed")
    ]
    [payment] = doc["payments"]
    assert (payment["role"], payment["status"]) == ("payer", "succeeded")
    assert payment["amount_cents"] > 0
    assert "provider_ref" not in payment
    assert "approval_url" not in payment
    assert [(e["payment_id"], e["kind"]) for e in doc["ledger_entries"]] == [
        (payment["id"], "charge")
    ]
    [contract] = doc["contracts"]
    assert contract["id"] == str(contract_id)
    signatures = {s["party"]: s for s in contract["signatures"]}
    assert (signatures["tenant"]["ip"], signatures["tenant"]["user_agent"]) == (
        "10.9.8.1",
        "agent-of-tenant",
    )
    # The landlord's signature is part of the contract; where they signed from is theirs.
    assert signatures["landlord"]["ip"] is None
    assert signatures["landlord"]["user_agent"] is None
    [talk] = doc["conversations"]
    assert talk["id"] == conversation["id"]
    assert [(m["body"], m["mine"]) for m in talk["messages"]] == [
        ("Hallo T", True),
        ("Antwort vom Vermieter", False),
    ]
    assert doc["calendar_feed"]["exists"] is False
    retention = json.dumps(doc["retention"], ensure_ascii=False)
    assert "§ 147 AO" in retention
    assert "§ 257 HGB" in retention

    text = r.text
    for foreign in (str(stranger.id), stranger.email, theirs["id"], "Geheim-X", "10.9.8.2"):
        assert foreign not in text, foreign
    assert landlord.email not in text

    [audit] = await rows(
        db, "SELECT action, ip, user_agent FROM privacy_audit WHERE user_id = :u", u=tenant.id
    )
    assert (audit["action"], audit["user_agent"]) == ("export", "exp/1")
    assert audit["ip"]


async def test_the_landlord_sees_their_listings_and_both_conversations(
    client: httpx.AsyncClient, stage: Stage, make_user: MakeUser
) -> None:
    landlord = stage.landlord
    first = await started(client, TalkStage(landlord, stage.tenant, stage.listing_id), "Eins")
    other = await make_user("tenant")
    second = await started(client, TalkStage(landlord, other, stage.listing_id), "Zwei")
    r = await book(client, stage.tenant, stage.slot["id"])
    assert r.status_code == 201, r.text

    doc = (await client.get(f"{API}/me/export", headers=landlord.headers)).json()
    assert [item["id"] for item in doc["listings"]] == [stage.listing_id]
    assert [(v["id"], v["role"]) for v in doc["viewings"]] == [(r.json()["id"], "landlord")]
    assert [p["role"] for p in doc["payments"]] == ["payee"]
    assert sorted(c["id"] for c in doc["conversations"]) == sorted([first["id"], second["id"]])
    assert "location" not in doc["listings"][0]
    assert "search_tsv" not in doc["listings"][0]


async def test_the_export_needs_a_signed_in_caller(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{API}/me/export")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
