"""Conversations through HTTP: one per tenant and listing, who may start one, the list (its
shape, order, cursor, archive filter), per-participant archiving, and 404 for everyone who
does not take part, on every route."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import text

from sichrplace.platform.db.engines import Database
from tests.messaging.conftest import (
    API,
    MakeUser,
    Stage,
    create_listing,
    field_names,
    message_rows,
    send,
    sent,
    slug,
    start,
    started,
)


async def test_first_contact_makes_the_conversation_with_its_first_message(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    r = await start(client, stage.tenant, stage.listing_id, "  Ist die Wohnung noch frei?  ")
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["Location"] == f"{API}/conversations/{body['id']}"
    assert body["listing"]["id"] == stage.listing_id
    assert body["listing"]["title"] == "Helle 3-Zimmer-Wohnung mit Balkon"
    assert body["other_participant"] == {"id": str(stage.landlord.id), "display_name": "Msg Test"}
    assert body["message"]["body"] == "Ist die Wohnung noch frei?"
    assert body["message"]["seq"] == 1
    assert body["message"]["author_id"] == str(stage.tenant.id)
    assert body["last_message"]["id"] == body["message"]["id"]
    assert body["last_message"]["body_excerpt"] == "Ist die Wohnung noch frei?"
    assert body["unread_count"] == 0  # the tenant's own message
    assert body["archived"] is False
    rows = await message_rows(db, body["id"])
    assert [(r["seq"], r["body"]) for r in rows] == [(1, "Ist die Wohnung noch frei?")]

    as_landlord = await client.get(
        f"{API}/conversations/{body['id']}", headers=stage.landlord.headers
    )
    assert as_landlord.status_code == 200, as_landlord.text
    seen = as_landlord.json()
    assert seen["other_participant"]["id"] == str(stage.tenant.id)
    assert seen["unread_count"] == 1


async def test_a_second_start_answers_200_with_the_same_conversation_and_sends_the_body(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    first = await started(client, stage, "Erste Nachricht")
    again = await start(client, stage.tenant, stage.listing_id, "Zweite Nachricht")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first["id"]
    assert again.json()["message"]["seq"] == 2
    assert "Location" not in again.headers
    rows = await message_rows(db, first["id"])
    assert [r["body"] for r in rows] == ["Erste Nachricht", "Zweite Nachricht"]
    async with db.primary.connect() as conn:
        count = (
            await conn.execute(
                text("SELECT count(*) FROM conversations WHERE tenant_id = :t AND listing_id = :l"),
                {"t": stage.tenant.id, "l": stage.listing_id},
            )
        ).scalar_one()
    assert count == 1


async def test_a_repeated_start_with_a_client_message_id_sends_once(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    first = await start(client, stage.tenant, stage.listing_id, "Hallo", client_message_id="c-1")
    again = await start(client, stage.tenant, stage.listing_id, "Hallo", client_message_id="c-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    assert len(await message_rows(db, first.json()["id"])) == 1


async def test_parallel_first_contacts_make_one_conversation(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    answers = await asyncio.gather(
        *(start(client, stage.tenant, stage.listing_id, f"Hallo {i}") for i in range(8))
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 7 + [201], [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    rows = await message_rows(db, answers[0].json()["id"])
    assert [r["seq"] for r in rows] == list(range(1, 9))


async def test_only_tenants_start_conversations(
    client: httpx.AsyncClient, stage: Stage, make_user: MakeUser
) -> None:
    r = await start(client, stage.landlord, stage.listing_id)
    assert r.status_code == 403, r.text
    other_landlord = await make_user("landlord")
    assert (await start(client, other_landlord, stage.listing_id)).status_code == 403
    admin = await make_user("admin")
    assert (await start(client, admin, stage.listing_id)).status_code == 403


async def test_unknown_or_invisible_listing_is_404(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    r = await start(client, stage.tenant, str(uuid.uuid4()))
    assert r.status_code == 404
    assert slug(r) == "listing-not-found"
    async with db.primary.begin() as conn:
        await conn.execute(
            text("UPDATE listings SET status = 'archived' WHERE id = :l"), {"l": stage.listing_id}
        )
    r = await start(client, stage.tenant, stage.listing_id)
    assert r.status_code == 404
    assert slug(r) == "listing-not-found"
    bad = await start(client, stage.tenant, "not-a-uuid")
    assert bad.status_code == 422
    assert field_names(bad.json()) == {"listing_id"}


async def test_writing_about_ones_own_listing_is_422(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    # A tenant account that owns a listing (the role changed): the own-listing rule answers.
    async with db.primary.begin() as conn:
        await conn.execute(
            text("UPDATE listings SET owner_id = :t WHERE id = :l"),
            {"t": stage.tenant.id, "l": stage.listing_id},
        )
    r = await start(client, stage.tenant, stage.listing_id)
    assert r.status_code == 422, r.text
    assert slug(r) == "own-listing"
    assert field_names(r.json()) == {"listing_id"}
    async with db.primary.connect() as conn:
        count = (
            await conn.execute(
                text("SELECT count(*) FROM conversations WHERE listing_id = :l"),
                {"l": stage.listing_id},
            )
        ).scalar_one()
    assert count == 0


async def test_the_list_shows_both_sides_newest_activity_first_with_a_cursor(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    landlord = await make_user("landlord")
    tenants = [await make_user("tenant") for _ in range(3)]
    listing_id = await create_listing(client, landlord)
    ids = []
    for i, tenant in enumerate(tenants):
        r = await start(client, tenant, listing_id, f"Anfrage {i}")
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    # The oldest conversation gets news: it moves to the top.
    await sent(client, landlord, ids[0], "Antwort " + "x" * 300)

    r = await client.get(f"{API}/conversations", headers=landlord.headers, params={"limit": 2})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [c["id"] for c in page["items"]] == [ids[0], ids[2]]
    top = page["items"][0]
    assert top["last_message"]["author_id"] == str(landlord.id)
    assert top["last_message"]["body_excerpt"] == ("Antwort " + "x" * 300)[:140]
    assert top["unread_count"] == 1  # the tenant's first message (the reply is the landlord's)
    assert page["items"][1]["unread_count"] == 1
    assert page["next_cursor"]
    rest = await client.get(
        f"{API}/conversations",
        headers=landlord.headers,
        params={"limit": 2, "cursor": page["next_cursor"]},
    )
    assert [c["id"] for c in rest.json()["items"]] == [ids[1]]
    assert rest.json()["next_cursor"] is None

    mine = await client.get(f"{API}/conversations", headers=tenants[0].headers)
    assert [c["id"] for c in mine.json()["items"]] == [ids[0]]
    assert mine.json()["items"][0]["unread_count"] == 1
    assert mine.json()["items"][0]["other_participant"]["id"] == str(landlord.id)

    bad = await client.get(f"{API}/conversations", headers=landlord.headers, params={"cursor": "x"})
    assert bad.status_code == 422
    assert field_names(bad.json()) == {"cursor"}


async def test_archiving_is_per_participant_and_a_new_message_brings_it_back(
    client: httpx.AsyncClient, stage: Stage
) -> None:
    conversation = await started(client, stage)
    cid = conversation["id"]
    r = await client.post(f"{API}/conversations/{cid}/archive", headers=stage.tenant.headers)
    assert r.status_code == 200
    assert r.json()["archived"] is True

    async def listed(member_headers: dict[str, str], archived: bool) -> list[str]:
        r = await client.get(
            f"{API}/conversations",
            headers=member_headers,
            params={"archived": str(archived).lower()},
        )
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert cid not in await listed(stage.tenant.headers, False)
    assert cid in await listed(stage.tenant.headers, True)
    assert cid in await listed(stage.landlord.headers, False)  # the landlord's stays

    # The landlord answers: the tenant (the recipient) sees it again.
    await sent(client, stage.landlord, cid, "Ja, noch frei.")
    assert cid in await listed(stage.tenant.headers, False)

    # The sender's own archive stays as it is when they write.
    await client.post(f"{API}/conversations/{cid}/archive", headers=stage.tenant.headers)
    await sent(client, stage.tenant, cid, "Danke")
    assert cid in await listed(stage.tenant.headers, True)

    r = await client.post(f"{API}/conversations/{cid}/unarchive", headers=stage.tenant.headers)
    assert r.status_code == 200
    assert r.json()["archived"] is False
    assert cid in await listed(stage.tenant.headers, False)


async def test_everyone_but_the_participants_gets_404_on_every_route(
    client: httpx.AsyncClient, db: Database, stage: Stage, make_user: MakeUser
) -> None:
    conversation = await started(client, stage)
    cid = conversation["id"]
    mid = conversation["message"]["id"]
    outsiders = [await make_user("tenant"), await make_user("landlord"), await make_user("admin")]
    for outsider in outsiders:
        for target in (cid, str(uuid.uuid4()), "not-a-conversation"):
            h = outsider.headers
            calls = [
                client.get(f"{API}/conversations/{target}", headers=h),
                client.get(f"{API}/conversations/{target}/messages", headers=h),
                send(client, outsider, target, "Hallo?"),
                client.post(
                    f"{API}/conversations/{target}/read", json={"up_to_message_id": mid}, headers=h
                ),
                client.post(f"{API}/conversations/{target}/archive", headers=h),
                client.post(f"{API}/conversations/{target}/unarchive", headers=h),
            ]
            for r in await asyncio.gather(*calls):
                assert r.status_code == 404, (outsider.role, target, r.request.url, r.text)
                assert slug(r) == "conversation-not-found"
        listed = await client.get(f"{API}/conversations", headers=outsider.headers)
        assert cid not in [c["id"] for c in listed.json()["items"]]
    assert len(await message_rows(db, cid)) == 1  # nothing an outsider sent was stored


async def test_routes_need_a_signed_in_caller(client: httpx.AsyncClient, stage: Stage) -> None:
    conversation = await started(client, stage)
    cid = conversation["id"]
    for r in await asyncio.gather(
        client.get(f"{API}/conversations"),
        client.get(f"{API}/conversations/{cid}"),
        client.get(f"{API}/conversations/{cid}/messages"),
        client.post(
            f"{API}/conversations/{cid}/messages", json={"body": "x", "client_message_id": "1"}
        ),
        client.post(f"{API}/conversations", json={"listing_id": stage.listing_id, "body": "x"}),
    ):
        assert r.status_code == 401, r.text
