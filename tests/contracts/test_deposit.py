"""The deposit's charge source (what payments asks when a tenant pays the deposit): only once
fully signed, the tenant pays the landlord, at once or in three parts summing exactly to the
deposit; the tenant's choice of plan; payments recorded once, refunds recorded."""

from __future__ import annotations

import uuid

import httpx
import pytest

from sichrplace.contracts.charges import DepositSource
from sichrplace.contracts.errors import ContractNotFound, DepositNotDue, NotContractTenant
from sichrplace.payments.sources import ChargeSource
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from tests.contracts.conftest import (
    API,
    Deal,
    MakeDeal,
    MakeUser,
    create_contract,
    send,
    sign,
    signed_contract,
)

SOURCE: ChargeSource = DepositSource()


async def _charge(db: Database, contract_id: str, payer: object) -> tuple[int, int]:
    async with transaction(db) as session:
        charge = await SOURCE.charge_for(session, uuid.UUID(contract_id), payer)  # type: ignore[arg-type]
    return charge.installment, charge.amount_cents


async def _paid(db: Database, contract_id: str, payment_id: uuid.UUID) -> bool:
    async with transaction(db) as session:
        return await SOURCE.on_paid(session, uuid.UUID(contract_id), payment_id)


async def _get(client: httpx.AsyncClient, deal: Deal, contract_id: str) -> dict[str, object]:
    r = await client.get(f"{API}/contracts/{contract_id}", headers=deal.tenant.headers)
    return dict(r.json())


async def _kinds(client: httpx.AsyncClient, deal: Deal, contract_id: str) -> list[str]:
    r = await client.get(f"{API}/contracts/{contract_id}/audit", headers=deal.tenant.headers)
    return [e["kind"] for e in r.json()["events"]]


async def test_nothing_owed_until_fully_signed(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database
) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    with pytest.raises(DepositNotDue):
        await _charge(db, contract["id"], deal.tenant)
    sha = (await send(client, deal, contract["id"]))["document_sha256"]
    with pytest.raises(DepositNotDue):
        await _charge(db, contract["id"], deal.tenant)
    assert (await sign(client, deal.tenant, contract["id"], sha)).status_code == 200
    with pytest.raises(DepositNotDue) as exc:
        await _charge(db, contract["id"], deal.tenant)
    assert exc.value.status == 409


async def test_deposit_at_once(
    client: httpx.AsyncClient, make_deal: MakeDeal, make_user: MakeUser, db: Database
) -> None:
    deal = await make_deal("confirmed")
    contract = await signed_contract(client, deal)
    cid = contract["id"]
    with pytest.raises(ContractNotFound):
        await _charge(db, cid, await make_user("tenant"))
    with pytest.raises(NotContractTenant):
        await _charge(db, cid, deal.landlord)
    async with transaction(db) as session:
        charge = await SOURCE.charge_for(session, uuid.UUID(cid), deal.tenant)
    assert charge.amount_cents == 285_000
    assert charge.installment == 1
    assert charge.payer_id == deal.tenant.id
    assert charge.payee_id == deal.landlord.id
    assert charge.contract_id == uuid.UUID(cid)
    assert charge.viewing_id is None
    assert charge.description.startswith("Mietkaution: Karl-Marx-Allee 12a")

    payment = uuid.uuid4()
    assert await _paid(db, cid, payment) is True
    assert await _paid(db, cid, payment) is True  # a repeated webhook changes nothing
    got = await _get(client, deal, cid)
    assert got["deposit_status"] == "paid"
    assert got["deposit_plan_fixed"] is True
    with pytest.raises(DepositNotDue):
        await _charge(db, cid, deal.tenant)
    # Another payment for a deposit already paid: payments refunds it.
    assert await _paid(db, cid, uuid.uuid4()) is False
    kinds = await _kinds(client, deal, cid)
    assert kinds[-2:] == ["deposit_payment_started", "deposit_paid"]
    assert kinds.count("deposit_paid") == 1


async def test_deposit_in_three_parts(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database
) -> None:
    deal = await make_deal("confirmed")
    contract = await signed_contract(client, deal, deposit_cents=100_000)
    cid = contract["id"]
    url = f"{API}/contracts/{cid}/deposit-plan"
    r = await client.put(url, json={"deposit_plan": "three_parts"}, headers=deal.landlord.headers)
    assert r.status_code == 403
    r = await client.put(url, json={"deposit_plan": "three_parts"}, headers=deal.tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["deposit_plan"] == "three_parts"

    amounts = []
    for number in (1, 2, 3):
        installment, amount = await _charge(db, cid, deal.tenant)
        assert installment == number
        amounts.append(amount)
        if number == 1:
            # The first payment fixes the plan.
            r = await client.put(url, json={"deposit_plan": "once"}, headers=deal.tenant.headers)
            assert r.status_code == 409
            assert r.json()["type"].endswith("/deposit-plan-fixed")
        assert await _paid(db, cid, uuid.uuid4()) is True
        status = (await _get(client, deal, cid))["deposit_status"]
        assert status == ("paid" if number == 3 else "partially_paid")
    assert amounts == [33_334, 33_333, 33_333]
    assert sum(amounts) == 100_000
    with pytest.raises(DepositNotDue):
        await _charge(db, cid, deal.tenant)
    got = await _get(client, deal, cid)
    parts = got["deposit_installments"]
    assert isinstance(parts, list)
    assert [p["paid_at"] is not None for p in parts] == [True, True, True]
    assert (await _kinds(client, deal, cid)).count("deposit_paid") == 3


async def test_refund_is_recorded(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database
) -> None:
    deal = await make_deal("confirmed")
    contract = await signed_contract(client, deal)
    cid = contract["id"]
    await _charge(db, cid, deal.tenant)
    payment = uuid.uuid4()
    assert await _paid(db, cid, payment)
    for _ in range(2):  # once, however often payments reports it
        async with transaction(db) as session:
            await SOURCE.on_refunded(session, uuid.UUID(cid), payment)
    got = await _get(client, deal, cid)
    assert got["deposit_status"] == "refunded"
    kinds = await _kinds(client, deal, cid)
    assert kinds.count("deposit_refunded") == 1
    with pytest.raises(DepositNotDue):
        await _charge(db, cid, deal.tenant)


async def test_plan_choice_is_audited(client: httpx.AsyncClient, make_deal: MakeDeal) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    r = await client.put(
        f"{API}/contracts/{contract['id']}/deposit-plan",
        json={"deposit_plan": "three_parts"},
        headers=deal.tenant.headers,
    )
    assert r.status_code == 200
    assert (await _kinds(client, deal, contract["id"])) == ["created", "deposit_plan_chosen"]
    r = await client.put(
        f"{API}/contracts/{contract['id']}/deposit-plan",
        json={"deposit_plan": "weekly"},
        headers=deal.tenant.headers,
    )
    assert r.status_code == 422
