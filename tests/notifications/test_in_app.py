"""In-app notifications: a new message notifies its recipient (one unread per conversation),
the list is newest first with a cursor and an unread filter, marking read touches only the
caller's and never moves back; each new one is on the recipient's event stream."""

from __future__ import annotations

from typing import Any

import httpx

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.helpers.members import Member, create_member
from tests.messaging.conftest import API, create_listing, events_of, sent, started
from tests.messaging.conftest import Stage as _Stage


async def _stage(client: httpx.AsyncClient, db: Database, settings: Settings) -> _Stage:
    landlord = await create_member(db, settings, "landlord", label="ntf")
    tenant = await create_member(db, settings, "tenant", label="ntf")
    return _Stage(landlord, tenant, await create_listing(client, landlord))


async def _list(client: httpx.AsyncClient, member: Member, **params: Any) -> dict[str, Any]:
    r = await client.get(f"{API}/notifications", params=params, headers=member.headers)
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


async def test_messages_make_one_unread_notification_per_conversation(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    stage = await _stage(client, db, settings)
    conversation = await started(client, stage, "Hallo!")
    for i in range(3):
        await sent(client, stage.tenant, str(conversation["id"]), f"Frage {i}")

    page = await _list(client, stage.landlord, unread="true")
    assert len(page["items"]) == 1
    item = page["items"][0]
    assert item["kind"] == "message"
    assert item["read"] is False
    assert item["data"]["conversation_id"] == str(conversation["id"])
    assert item["data"]["unread_count"] == 4
    assert "Frage" not in str(item)  # no message text
    assert item["title"].startswith("Neue Nachricht von ")
    assert (await _list(client, stage.tenant))["items"] == []  # the author is not notified

    stream = [e for e in await events_of(db, stage.landlord) if e.kind == "notification.created"]
    assert len(stream) == 4  # one per message; the list keeps only the newest
    assert stream[-1].data["id"] == item["id"]


async def test_list_pages_newest_first_and_read_up_to_an_id(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    landlord = await create_member(db, settings, "landlord", label="ntf")
    tenants = [await create_member(db, settings, "tenant", label="ntf") for _ in range(3)]
    listing_id = await create_listing(client, landlord)
    for tenant in tenants:
        await started(client, _Stage(landlord, tenant, listing_id), "Hallo!")

    first = await _list(client, landlord, limit=2)
    ids = [i["id"] for i in first["items"]]
    assert ids == sorted(ids, reverse=True)
    assert first["next_cursor"] == str(ids[-1])
    rest = await _list(client, landlord, limit=2, cursor=first["next_cursor"])
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    oldest = rest["items"][0]["id"]
    assert oldest < ids[-1]

    # Another user's call marks nothing of the landlord's.
    r = await client.post(
        f"{API}/notifications/read", json={"up_to_id": ids[0]}, headers=tenants[0].headers
    )
    assert r.status_code == 200
    assert r.json()["marked"] == 0
    assert len((await _list(client, landlord, unread="true"))["items"]) == 3

    r = await client.post(
        f"{API}/notifications/read", json={"up_to_id": ids[1]}, headers=landlord.headers
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"marked": 2, "unread_count": 1}
    unread = await _list(client, landlord, unread="true")
    assert [i["id"] for i in unread["items"]] == [ids[0]]
    # An older id moves nothing back.
    r = await client.post(
        f"{API}/notifications/read", json={"up_to_id": oldest}, headers=landlord.headers
    )
    assert r.json() == {"marked": 0, "unread_count": 1}
    assert [i["read"] for i in (await _list(client, landlord))["items"]] == [False, True, True]


async def test_bad_input_is_422_naming_the_field(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    member = await create_member(db, settings, "tenant", label="ntf")
    r = await client.get(f"{API}/notifications?cursor=abc", headers=member.headers)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in r.json()["errors"]} == {"cursor"}
    r = await client.post(f"{API}/notifications/read", json={"up_to_id": 0}, headers=member.headers)
    assert r.status_code == 422
    assert "up_to_id" in str(r.json()["errors"])
    assert (await client.get(f"{API}/notifications")).status_code == 401


async def test_reading_the_conversation_reads_its_notification(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    stage = await _stage(client, db, settings)
    conversation = await started(client, stage, "Hallo!")
    message = await sent(client, stage.tenant, str(conversation["id"]), "Noch da?")
    r = await client.post(
        f"{API}/conversations/{conversation['id']}/read",
        json={"up_to_message_id": message["id"]},
        headers=stage.landlord.headers,
    )
    assert r.status_code == 200, r.text
    assert (await _list(client, stage.landlord, unread="true"))["items"] == []
