"""Only the two parties see a contract, its document and its audit trail; everyone else
(another tenant, another landlord, an admin) gets 404, as for a contract that does not exist."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.contracts.conftest import API, MakeDeal, MakeUser, create_contract


@pytest.mark.parametrize("suffix", ["", "/document", "/audit"])
async def test_parties_see_others_get_404(
    client: httpx.AsyncClient, make_deal: MakeDeal, make_user: MakeUser, suffix: str
) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    url = f"{API}/contracts/{contract['id']}{suffix}"
    for party in (deal.landlord, deal.tenant):
        r = await client.get(url, headers=party.headers)
        assert r.status_code == 200, r.text
    for role in ("tenant", "landlord", "admin"):
        outsider = await make_user(role)
        r = await client.get(url, headers=outsider.headers)
        assert r.status_code == 404, r.text
        assert r.json()["type"].endswith("/contract-not-found")
    assert (await client.get(url)).status_code == 401


@pytest.mark.parametrize("contract_id", [str(uuid.uuid4()), "not-an-id"])
async def test_unknown_contract_is_404(
    client: httpx.AsyncClient, make_user: MakeUser, contract_id: str
) -> None:
    user = await make_user("tenant")
    for suffix in ("", "/document", "/audit"):
        r = await client.get(f"{API}/contracts/{contract_id}{suffix}", headers=user.headers)
        assert r.status_code == 404
    r = await client.post(f"{API}/contracts/{contract_id}/send", headers=user.headers)
    assert r.status_code == 404


async def test_outsiders_cannot_send_or_sign(
    client: httpx.AsyncClient, make_deal: MakeDeal, make_user: MakeUser
) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    other = await make_user("landlord")
    r = await client.post(f"{API}/contracts/{contract['id']}/send", headers=other.headers)
    assert r.status_code == 404
    r = await client.post(
        f"{API}/contracts/{contract['id']}/sign",
        json={"full_name": "X Y", "accept": True, "document_sha256": "0" * 64},
        headers=other.headers,
    )
    assert r.status_code == 404


async def test_list_by_side(client: httpx.AsyncClient, make_deal: MakeDeal) -> None:
    deal = await make_deal("confirmed")
    first = await create_contract(client, deal)
    second = await create_contract(client, deal, start_date="2027-02-01")
    r = await client.get(f"{API}/contracts?as=landlord", headers=deal.landlord.headers)
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["items"]] == [second["id"], first["id"]]
    r = await client.get(f"{API}/contracts?as=tenant", headers=deal.tenant.headers)
    assert [c["id"] for c in r.json()["items"]] == [second["id"], first["id"]]
    # Each on the other side has none; the default side follows the caller's role.
    r = await client.get(f"{API}/contracts?as=tenant", headers=deal.landlord.headers)
    assert r.json()["items"] == []
    r = await client.get(f"{API}/contracts", headers=deal.tenant.headers)
    assert len(r.json()["items"]) == 2
    r = await client.get(f"{API}/contracts?as=owner", headers=deal.tenant.headers)
    assert r.status_code == 422
