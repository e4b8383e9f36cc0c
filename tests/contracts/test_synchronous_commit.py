"""Sending a contract (its frozen document) and each signature commit with
`synchronous_commit = on` (docs/operations.md, "Synchronous commit per transaction"); a draft
and a document download (an audit event) stay at the server's default. Checked in the
statements the app's primary engine ran. (Deposits go through payments: tests/payments.)"""

from __future__ import annotations

import httpx

from sichrplace.platform.db.engines import Database
from tests.contracts.conftest import API, MakeDeal, create_contract, send, sign
from tests.helpers.transactions import record_transactions


async def test_send_and_signatures_commit_synchronously_a_draft_does_not(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database
) -> None:
    deal = await make_deal("confirmed")
    with record_transactions(db.primary) as recorded:
        contract = await create_contract(client, deal)
        sha = (await send(client, deal, contract["id"]))["document_sha256"]
        r = await client.get(
            f"{API}/contracts/{contract['id']}/document", headers=deal.tenant.headers
        )
        assert r.status_code == 200, r.text
        for member in (deal.tenant, deal.landlord):
            r = await sign(client, member, contract["id"], sha)
            assert r.status_code == 200, r.text
        assert r.json()["status"] == "fully_signed"

    (draft,) = recorded.writing("contracts", "INSERT")
    assert draft.synchronous_sets == []
    (sent,) = recorded.writing("contract_documents", "INSERT")
    sent.assert_synchronous_before("contract_documents", "INSERT")
    signatures = recorded.writing("contract_signatures", "INSERT")
    assert len(signatures) == 2
    for signature in signatures:
        signature.assert_synchronous_before("contract_signatures", "INSERT")
    (download,) = [
        t
        for t in recorded.writing("contract_events", "INSERT")
        if not t.writes("contracts") and not t.writes("contract_signatures")
    ]
    assert download.synchronous_sets == []
