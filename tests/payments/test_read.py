"""GET /payments/{id}: the payer and the payee see it; everyone else, and every id that is not
one of ours, gets the same 404 problem (a payment's existence is not revealed); no token 401.
Starting a payment for someone else's viewing is the same 404."""

from __future__ import annotations

import uuid

import httpx
import pytest

from sichrplace.platform.db.engines import Database
from tests.payments.conftest import Wired, booked, intent_body, paid
from tests.viewings.conftest import API, MakeUser, Stage, slug

pytestmark = pytest.mark.usefixtures("wired")


async def test_the_payer_and_the_payee_see_the_payment(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    booking, _ = await paid(client, db, wired, stage)
    url = f"{API}/payments/{booking['payment']['id']}"
    seen = []
    for party in (stage.tenant, stage.landlord):
        r = await client.get(url, headers=party.headers)
        assert r.status_code == 200, r.text
        seen.append(r.json())
    assert seen[0] == seen[1]
    payment = seen[0]
    assert payment["id"] == booking["payment"]["id"]
    assert (payment["status"], payment["provider"], payment["purpose"]) == (
        "succeeded",
        "stripe",
        "viewing_fee",
    )
    assert (payment["amount_cents"], payment["currency"]) == (2500, "EUR")
    assert (payment["viewing_id"], payment["contract_id"]) == (booking["id"], None)


async def test_others_unknown_and_malformed_ids_are_404_problems(
    client: httpx.AsyncClient, stage: Stage, make_user: MakeUser
) -> None:
    booking = await booked(client, stage)
    url = f"{API}/payments/{booking['payment']['id']}"
    unknown = await client.get(f"{API}/payments/{uuid.uuid4()}", headers=stage.tenant.headers)
    for role in ("tenant", "landlord", "admin"):
        r = await client.get(url, headers=(await make_user(role)).headers)
        assert r.status_code == 404, (role, r.text)
        assert slug(r) == "payment-not-found"
        # Indistinguishable from a payment that does not exist.
        assert {k: v for k, v in r.json().items() if k != "instance"} == {
            k: v for k, v in unknown.json().items() if k != "instance"
        }
    for missing in (str(uuid.uuid4()), "nope", "1", uuid.uuid4().hex[:10]):
        r = await client.get(f"{API}/payments/{missing}", headers=stage.tenant.headers)
        assert r.status_code == 404, (missing, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert slug(r) == "payment-not-found"
    r = await client.get(url)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_paying_for_someone_elses_viewing_is_404_and_the_payee_owes_nothing(
    client: httpx.AsyncClient, stage: Stage, make_user: MakeUser
) -> None:
    booking = await booked(client, stage)
    stranger = await make_user("tenant")
    r = await client.post(
        f"{API}/payments/intents", json=intent_body(booking["id"]), headers=stranger.headers
    )
    assert r.status_code == 404, r.text
    assert booking["payment"]["id"] not in r.text
    r = await client.post(
        f"{API}/payments/intents", json=intent_body(booking["id"]), headers=stage.landlord.headers
    )
    assert r.status_code == 409, r.text
    r = await client.post(
        f"{API}/payments/intents",
        json=intent_body(str(uuid.uuid4())),
        headers=stage.tenant.headers,
    )
    assert r.status_code == 404
    r = await client.post(
        f"{API}/payments/intents", json=intent_body("nope"), headers=stage.tenant.headers
    )
    assert r.status_code == 422
    r = await client.post(
        f"{API}/payments/intents",
        json={"purpose": "viewing_fee", "contract_id": str(uuid.uuid4())},
        headers=stage.tenant.headers,
    )
    assert r.status_code == 422
