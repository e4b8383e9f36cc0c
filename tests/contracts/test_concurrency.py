"""Signatures race: one party's parallel signatures → exactly one succeeds; both parties at
once → both succeed and the contract ends fully signed (real parallel requests, each on its
own database connection), in-process and through the running stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.contracts.conftest import (
    API,
    Deal,
    MakeDeal,
    MakeUser,
    count,
    create_contract,
    insert_viewing,
    new_listing,
    send,
    sign,
)


async def test_one_party_signing_in_parallel_succeeds_once(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database
) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    sha = (await send(client, deal, contract["id"]))["document_sha256"]
    responses = await asyncio.gather(
        *(sign(client, deal.tenant, contract["id"], sha) for _ in range(6))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409, 409, 409, 409, 409], [r.text for r in responses]
    assert all(
        r.json()["type"].endswith("/already-signed") for r in responses if r.status_code == 409
    )
    rows = await count(
        db, "SELECT count(*) FROM contract_signatures WHERE contract_id = :id", id=contract["id"]
    )
    assert rows == 1
    signed_events = await count(
        db,
        "SELECT count(*) FROM contract_events WHERE contract_id = :id AND kind = 'signed'",
        id=contract["id"],
    )
    assert signed_events == 1


async def test_both_parties_at_once_end_fully_signed(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database
) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    sha = (await send(client, deal, contract["id"]))["document_sha256"]
    responses = await asyncio.gather(
        sign(client, deal.tenant, contract["id"], sha),
        sign(client, deal.landlord, contract["id"], sha),
    )
    assert [r.status_code for r in responses] == [200, 200]
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["fully_signed", "partially_signed"]
    got = await client.get(f"{API}/contracts/{contract['id']}", headers=deal.tenant.headers)
    assert got.json()["status"] == "fully_signed"
    fully = await count(
        db,
        "SELECT count(*) FROM contract_events WHERE contract_id = :id AND kind = 'fully_signed'",
        id=contract["id"],
    )
    assert fully == 1


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The running stack through nginx (two API instances, PgBouncer in transaction mode)."""
    async with httpx.AsyncClient(base_url=settings.app.public_base_url, timeout=30) as client:
        if (
            f"{API}/contracts/{{contract_id}}/sign"
            not in (await client.get("/openapi.json")).json()["paths"]
        ):
            pytest.fail("the stack's API instances lack the contract routes: restart them")
        yield client


@pytest.mark.stack
async def test_one_party_signing_twice_at_once_through_the_stack(
    stack: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    """Two signatures of the tenant race through nginx (each instance its own process and
    pooled connections): one is recorded, the other is a 409 problem; the landlord's then
    completes the contract."""
    landlord, tenant = await make_user("landlord"), await make_user("tenant")
    listing_id = await new_listing(stack, landlord)
    viewing_id = await insert_viewing(db, listing_id, tenant.id, landlord.id, "confirmed")
    deal = Deal(landlord, tenant, listing_id, viewing_id)
    contract_id = (await create_contract(stack, deal))["id"]
    sha = (await send(stack, deal, contract_id))["document_sha256"]
    # Two open connections first, so both signatures leave at the same moment.
    await asyncio.gather(*(stack.get("/healthz") for _ in range(2)))

    first, second = await asyncio.gather(
        sign(stack, tenant, contract_id, sha), sign(stack, tenant, contract_id, sha)
    )
    won, lost = (first, second) if first.status_code == 200 else (second, first)
    assert (won.status_code, lost.status_code) == (200, 409), [first.text, second.text]
    assert won.json()["status"] == "partially_signed"
    assert lost.headers["content-type"].startswith("application/problem+json")
    problem = lost.json()
    assert problem["status"] == 409
    assert problem["type"].endswith("/already-signed")

    audit = await stack.get(f"{API}/contracts/{contract_id}/audit", headers=landlord.headers)
    assert audit.status_code == 200, audit.text
    signed = [e for e in audit.json()["events"] if e["kind"] == "signed"]
    assert [(e["actor_id"], e["actor_party"]) for e in signed] == [(str(tenant.id), "tenant")]
    assert signed[0]["user_agent"] == "pytest-tenant"
    assert signed[0]["ip"] == "127.0.0.1"  # the caller's address, through nginx
    assert (
        await count(
            db, "SELECT count(*) FROM contract_signatures WHERE contract_id = :id", id=contract_id
        )
        == 1
    )

    done = await sign(stack, landlord, contract_id, sha)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "fully_signed"
    assert {s["party"] for s in done.json()["signatures"]} == {"tenant", "landlord"}
    audit = await stack.get(f"{API}/contracts/{contract_id}/audit", headers=tenant.headers)
    kinds = [e["kind"] for e in audit.json()["events"]]
    assert kinds == ["created", "sent", "signed", "signed", "fully_signed"]
