"""Idempotency-Key on POST /payments/intents, as Stripe documents it: the first response is
stored per (user, key) and replayed whatever happened since; the same key with another body
is 422; another user's key of the same name is another key; a request that did not complete
stores nothing; no key, no replay; a key that is not 1-255 printable ASCII characters is 422.
"""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from sichrplace.payments import tasks
from sichrplace.platform.db.engines import Database
from sichrplace.platform.jobs.runtime import use_job_parts
from tests.payments.conftest import (
    Wired,
    booked,
    declined,
    intent_body,
    payments_of,
    ref_of,
    rows,
    wait_payment,
)
from tests.viewings.conftest import API, MakeUser, Stage, create_slot, field_names, slug

INTENTS = f"{API}/payments/intents"

pytestmark = pytest.mark.usefixtures("wired")


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def key_rows(db: Database, user_id: uuid.UUID, key: str) -> list[dict[str, object]]:
    return await rows(
        db,
        "SELECT status_code, response FROM idempotency_keys WHERE user_id = :u AND key = :k",
        u=user_id,
        k=key,
    )


async def intent_keys(db: Database, user_id: uuid.UUID) -> list[dict[str, object]]:
    """The user's keys other than their bookings' (tests/viewings' `book` keys `test-...`)."""
    return await rows(
        db,
        "SELECT key FROM idempotency_keys WHERE user_id = :u AND key NOT LIKE 'test-%'",
        u=user_id,
    )


async def test_the_first_response_is_replayed_whatever_happened_since(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    booking = await declined(client, db, wired, stage)
    key = f"intent-{uuid.uuid4()}"
    headers = keyed(stage.tenant.headers, key)
    first = await client.post(INTENTS, json=intent_body(booking["id"]), headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    created = first.json()
    assert (created["status"], created["amount_cents"], created["currency"]) == (
        "requires_action",
        2500,
        "EUR",
    )
    assert first.headers["location"].endswith(f"/payments/{created['id']}")
    stored = await key_rows(db, stage.tenant.id, key)
    assert [(r["status_code"], r["response"]) for r in stored] == [(201, created)]

    # Meanwhile the payer declines this payment too: without the key a request would now
    # start a third payment; with it, the first answer comes back and nothing is created.
    await wired.stripe.decline(await ref_of(db, created["id"]))
    await wait_payment(db, created["id"], "failed")
    again = await client.post(INTENTS, json=intent_body(booking["id"]), headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content  # byte for byte
    assert again.headers["location"] == first.headers["location"]
    assert len(await payments_of(db, booking["id"])) == 2

    # The same request with its keys in another order is the same request.
    reordered = orjson.dumps({"viewing_id": booking["id"], "purpose": "viewing_fee"})
    third = await client.post(
        INTENTS,
        content=reordered,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert (third.status_code, third.content) == (201, first.content)
    assert third.headers["idempotent-replayed"] == "true"


async def test_the_same_key_with_another_body_is_422(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    booking = await booked(client, stage)
    other_slot = await create_slot(client, stage.landlord, stage.listing_id, hours=30)
    other = await client.post(
        f"{API}/viewings",
        json={"slot_id": other_slot["id"]},
        headers=keyed(stage.tenant.headers, f"book-{uuid.uuid4()}"),
    )
    assert other.status_code == 201, other.text
    key = f"intent-{uuid.uuid4()}"
    headers = keyed(stage.tenant.headers, key)
    first = await client.post(INTENTS, json=intent_body(booking["id"]), headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["id"] == booking["payment"]["id"]  # the booking's live intent

    for body in (
        intent_body(other.json()["id"]),  # another viewing
        {"purpose": "deposit", "contract_id": str(uuid.uuid4())},  # another purpose
    ):
        r = await client.post(INTENTS, json=body, headers=headers)
        assert r.status_code == 422, r.text
        assert slug(r) == "idempotency-key-reused"
        assert field_names(r.json()) == {"Idempotency-Key"}
    # The stored answer is untouched: the original request still replays.
    again = await client.post(INTENTS, json=intent_body(booking["id"]), headers=headers)
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert len(await payments_of(db, other.json()["id"])) == 1  # only its booking's


async def test_another_users_key_of_the_same_name_is_independent(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage, make_user: MakeUser
) -> None:
    mine = await booked(client, stage)
    key = f"shared-{uuid.uuid4()}"
    first = await client.post(
        INTENTS, json=intent_body(mine["id"]), headers=keyed(stage.tenant.headers, key)
    )
    assert first.status_code == 201, first.text

    # Another tenant, the same key, the very same body: not a replay of my payment (that
    # would show them my payment); their request runs as theirs: my viewing is not theirs.
    stranger = await make_user("tenant")
    r = await client.post(
        INTENTS, json=intent_body(mine["id"]), headers=keyed(stranger.headers, key)
    )
    assert r.status_code == 404, r.text
    assert "idempotent-replayed" not in r.headers
    assert mine["payment"]["id"] not in r.text

    # And with their own booking, the same key makes their own payment.
    slot = await create_slot(client, stage.landlord, stage.listing_id, hours=40)
    theirs = await client.post(
        f"{API}/viewings",
        json={"slot_id": slot["id"]},
        headers=keyed(stranger.headers, f"book-{uuid.uuid4()}"),
    )
    assert theirs.status_code == 201, theirs.text
    r = await client.post(
        INTENTS, json=intent_body(theirs.json()["id"]), headers=keyed(stranger.headers, key)
    )
    assert r.status_code == 201, r.text
    assert "idempotent-replayed" not in r.headers
    assert r.json()["id"] == theirs.json()["payment"]["id"] != first.json()["id"]
    assert len(await key_rows(db, stage.tenant.id, key)) == 1
    assert len(await key_rows(db, stranger.id, key)) == 1


def _failed_payments() -> float:
    return REGISTRY.get_sample_value("sichrplace_payments_total", {"outcome": "failed"}) or 0.0


async def test_a_request_that_did_not_complete_stores_nothing(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    """The provider is down (500 on every attempt): 503, rolled back with the key's row, so
    the same key later runs the request (Stripe keeps no result for a request that did not
    execute)."""
    booking = await declined(client, db, wired, stage)
    key = f"outage-{uuid.uuid4()}"
    headers = keyed(stage.tenant.headers, key)
    await wired.stripe.fault("create", "http_500", times=2)  # every attempt of one call
    failed_before = _failed_payments()
    r = await client.post(INTENTS, json=intent_body(booking["id"]), headers=headers)
    assert r.status_code == 503, r.text
    assert _failed_payments() == failed_before + 1  # the payment SLI's bad event
    assert slug(r) == "payment-provider-unavailable"
    assert int(r.headers["retry-after"]) >= 1
    assert await key_rows(db, stage.tenant.id, key) == []
    assert len(await payments_of(db, booking["id"])) == 1

    r = await client.post(INTENTS, json=intent_body(booking["id"]), headers=headers)
    assert r.status_code == 201, r.text
    assert "idempotent-replayed" not in r.headers
    assert [p["status"] for p in await payments_of(db, booking["id"])] == [
        "failed",
        "requires_action",
    ]


async def test_without_a_key_each_request_runs(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    """The key is optional (as at Stripe): without one nothing is stored or replayed, and
    the service itself still starts one payment per viewing."""
    booking = await declined(client, db, wired, stage)
    answers = [
        await client.post(INTENTS, json=intent_body(booking["id"]), headers=stage.tenant.headers)
        for _ in range(2)
    ]
    assert [r.status_code for r in answers] == [201, 201], answers[0].text
    assert all("idempotent-replayed" not in r.headers for r in answers)
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert len(await payments_of(db, booking["id"])) == 2
    assert await intent_keys(db, stage.tenant.id) == []


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "schlüssel-ä", "tab\there"],
    ids=["empty", "too-long", "not-ascii", "control-char"],
)
async def test_invalid_keys_are_422_naming_the_header(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage, key: str
) -> None:
    booking = await declined(client, db, wired, stage)
    raw = key.encode("latin-1")
    headers = [(k.encode(), v.encode()) for k, v in stage.tenant.headers.items()]
    r = await client.post(
        INTENTS,
        json=intent_body(booking["id"]),
        headers=[*headers, (b"Idempotency-Key", raw)],
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field_names(r.json()) == {"Idempotency-Key"}
    assert len(await payments_of(db, booking["id"])) == 1  # nothing started
    assert await intent_keys(db, stage.tenant.id) == []


async def test_an_expired_key_is_a_new_key_and_the_cleanup_job_drops_it(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    """Keys live 24 hours: after that the same key is taken over by its next request (here
    with another body, which is then no reuse), and the hourly job deletes the rest."""
    booking = await booked(client, stage)
    key = f"expiring-{uuid.uuid4()}"
    headers = keyed(stage.tenant.headers, key)
    first = await client.post(INTENTS, json=intent_body(booking["id"]), headers=headers)
    assert first.status_code == 201, first.text
    expire = "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = :k"
    async with db.primary.begin() as conn:
        await conn.execute(text(expire), {"k": key})
    other = {"purpose": "deposit", "contract_id": str(uuid.uuid4())}
    r = await client.post(INTENTS, json=other, headers=headers)
    assert r.status_code == 404, r.text  # executed: no such contract (not a 422 reuse)
    r = await client.post(INTENTS, json=intent_body(booking["id"]), headers=headers)
    assert (r.status_code, r.headers.get("idempotent-replayed")) == (201, None)
    assert [k["status_code"] for k in await key_rows(db, stage.tenant.id, key)] == [201]

    async with db.primary.begin() as conn:
        await conn.execute(text(expire), {"k": key})
    with use_job_parts(wired.app_parts):
        assert await tasks.cleanup_idempotency_keys(timestamp=0) >= 1
    assert await key_rows(db, stage.tenant.id, key) == []
