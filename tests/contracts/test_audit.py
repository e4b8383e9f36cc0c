"""The audit trail: every step in order (who, what, when, from where), and the database
refuses to change or remove any of it."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sichrplace.platform.db.engines import Database
from tests.contracts.conftest import API, MakeDeal, count, create_contract, send, sign


async def test_every_step_in_order(client: httpx.AsyncClient, make_deal: MakeDeal) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    cid = contract["id"]
    sha = (await send(client, deal, cid))["document_sha256"]
    r = await client.get(f"{API}/contracts/{cid}/document", headers=deal.tenant.headers)
    assert r.status_code == 200
    assert (await sign(client, deal.tenant, cid, sha)).status_code == 200
    assert (await sign(client, deal.landlord, cid, sha)).status_code == 200

    r = await client.get(f"{API}/contracts/{cid}/audit", headers=deal.tenant.headers)
    assert r.status_code == 200
    events = r.json()["events"]
    steps = [(e["kind"], e["actor_party"], e["detail"].get("party")) for e in events]
    assert steps == [
        ("created", "landlord", None),
        ("sent", "landlord", None),
        ("document_viewed", "tenant", None),
        ("signed", "tenant", "tenant"),
        ("signed", "landlord", "landlord"),
        ("fully_signed", "landlord", None),
    ]
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert all(e["ip"] == "127.0.0.1" for e in events)
    assert events[3]["user_agent"] == "pytest-tenant"
    assert events[1]["detail"]["document_sha256"] == sha
    assert events[3]["detail"]["document_sha256"] == sha
    assert events[0]["actor_id"] == str(deal.landlord.id)


async def _uncommitted(db: Database, statement: str, contract_id: str) -> None:
    """Run `statement` directly on the primary and never commit (should the database ever
    let it through, the shared test database keeps its rows)."""
    async with db.primary.connect() as conn:
        params = {"id": contract_id} if ":id" in statement else {}
        await conn.execute(text(statement), params)
        await conn.rollback()


async def test_audit_trail_cannot_be_changed(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database
) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    cid = contract["id"]
    sha = (await send(client, deal, cid))["document_sha256"]
    assert (await sign(client, deal.tenant, cid, sha)).status_code == 200
    before = await count(db, "SELECT count(*) FROM contract_events WHERE contract_id = :id", id=cid)
    for statement in (
        "UPDATE contract_events SET kind = 'created' WHERE contract_id = :id",
        "UPDATE contract_events SET ip = '10.0.0.1' WHERE contract_id = :id",
        "DELETE FROM contract_events WHERE contract_id = :id",
        "UPDATE contract_signatures SET full_name = 'Someone Else' WHERE contract_id = :id",
        "DELETE FROM contract_signatures WHERE contract_id = :id",
        "DELETE FROM contract_documents WHERE contract_id = :id",
        "DELETE FROM contracts WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            await _uncommitted(db, statement, cid)
    with pytest.raises(DBAPIError, match="append-only"):
        await _uncommitted(db, "TRUNCATE contract_events", cid)
    after = await count(db, "SELECT count(*) FROM contract_events WHERE contract_id = :id", id=cid)
    assert after == before
    r = await client.get(f"{API}/contracts/{cid}/audit", headers=deal.landlord.headers)
    assert [e["kind"] for e in r.json()["events"]] == ["created", "sent", "signed"]
