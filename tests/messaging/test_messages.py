"""Messages through HTTP: trimming and the 422s, idempotent sends, the server sequence and
its pages, read markers and unread counts, the events each change stores, the rate limit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.messaging.conftest import (
    API,
    MakeUser,
    Stage,
    events_of,
    field_names,
    message_rows,
    send,
    sent,
    slug,
    started,
)


async def test_body_is_trimmed_and_must_not_be_empty_or_too_long(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    cid = (await started(client, stage))["id"]
    r = await send(client, stage.landlord, cid, "\n  Gern, am Montag?\t ")
    assert r.status_code == 201, r.text
    assert r.json()["body"] == "Gern, am Montag?"
    longest = await send(client, stage.landlord, cid, "ä" * 5000 + "   ")
    assert longest.status_code == 201
    assert len(longest.json()["body"]) == 5000
    for bad in ("", "   \n\t ", "x" * 5001, "y" * 20001):
        r = await send(client, stage.landlord, cid, bad)
        assert r.status_code == 422, r.text
        assert field_names(r.json()) == {"body"}
    assert len(await message_rows(db, cid)) == 3


async def test_client_message_id_is_required_and_bounded(
    client: httpx.AsyncClient, stage: Stage
) -> None:
    cid = (await started(client, stage))["id"]
    url = f"{API}/conversations/{cid}/messages"
    for payload in (
        {"body": "Hallo"},
        {"body": "Hallo", "client_message_id": ""},
        {"body": "Hallo", "client_message_id": "k" * 101},
    ):
        r = await client.post(url, json=payload, headers=stage.tenant.headers)
        assert r.status_code == 422, r.text
        assert field_names(r.json()) == {"client_message_id"}
    ok = await send(client, stage.tenant, cid, "Hallo", "k" * 100)
    assert ok.status_code == 201, ok.text


async def test_the_same_client_message_id_again_returns_the_same_message(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    cid = (await started(client, stage))["id"]
    first = await send(client, stage.tenant, cid, "Einmal", "retry-1")
    again = await send(client, stage.tenant, cid, "Einmal", "retry-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    # The same id from the other author is their own message.
    theirs = await send(client, stage.landlord, cid, "Auch einmal", "retry-1")
    assert theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]
    rows = await message_rows(db, cid)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert [r["client_message_id"] for r in rows][1:] == ["retry-1", "retry-1"]


async def test_messages_page_newest_first_before_a_seq(
    client: httpx.AsyncClient, stage: Stage
) -> None:
    cid = (await started(client, stage, "m1"))["id"]
    for i in range(2, 8):
        who = stage.landlord if i % 2 else stage.tenant
        message = await sent(client, who, cid, f"m{i}")
        assert message["seq"] == i
    url = f"{API}/conversations/{cid}/messages"
    r = await client.get(url, headers=stage.tenant.headers, params={"limit": 3})
    assert r.status_code == 200, r.text
    assert [m["seq"] for m in r.json()["items"]] == [7, 6, 5]
    assert r.json()["next_cursor"] == 5
    seen = [m["body"] for m in r.json()["items"]]
    cursor = r.json()["next_cursor"]
    while cursor is not None:
        r = await client.get(
            url, headers=stage.landlord.headers, params={"limit": 3, "before": cursor}
        )
        assert r.status_code == 200, r.text
        seen += [m["body"] for m in r.json()["items"]]
        cursor = r.json()["next_cursor"]
    assert seen == [f"m{i}" for i in range(7, 0, -1)]
    default = await client.get(url, headers=stage.tenant.headers)
    assert len(default.json()["items"]) == 7
    assert default.json()["next_cursor"] is None
    for params in ({"limit": 0}, {"limit": 101}, {"before": 0}, {"before": "abc"}):
        bad = await client.get(url, headers=stage.tenant.headers, params=params)
        assert bad.status_code == 422, (params, bad.text)
        assert field_names(bad.json()) == set(params)


async def test_read_markers_count_unread_and_never_move_backwards(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    conversation = await started(client, stage, "t1")
    cid = conversation["id"]
    l1 = await sent(client, stage.landlord, cid, "l1")
    l2 = await sent(client, stage.landlord, cid, "l2")
    await sent(client, stage.tenant, cid, "t2")
    l3 = await sent(client, stage.landlord, cid, "l3")

    async def unread(member_headers: dict[str, str]) -> int:
        r = await client.get(f"{API}/conversations/{cid}", headers=member_headers)
        assert r.status_code == 200, r.text
        return int(r.json()["unread_count"])

    assert await unread(stage.tenant.headers) == 3
    assert await unread(stage.landlord.headers) == 2

    read_url = f"{API}/conversations/{cid}/read"
    r = await client.post(
        read_url, json={"up_to_message_id": l2["id"]}, headers=stage.tenant.headers
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "conversation_id": cid,
        "up_to_seq": l2["seq"],
        "up_to_message_id": l2["id"],
        "unread_count": 1,
    }
    # An older message leaves the marker where it is.
    back = await client.post(
        read_url, json={"up_to_message_id": l1["id"]}, headers=stage.tenant.headers
    )
    assert back.status_code == 200
    assert back.json()["up_to_seq"] == l2["seq"]
    assert await unread(stage.tenant.headers) == 1
    assert await unread(stage.landlord.headers) == 2  # markers are per participant

    done = await client.post(
        read_url, json={"up_to_message_id": l3["id"]}, headers=stage.tenant.headers
    )
    assert done.json()["unread_count"] == 0
    assert done.json()["up_to_seq"] == 5

    # The landlord reads up to their own newest message: everything before it is read.
    mine = await client.post(
        read_url, json={"up_to_message_id": l3["id"]}, headers=stage.landlord.headers
    )
    assert mine.json()["unread_count"] == 0


async def test_a_message_of_another_conversation_is_422(
    client: httpx.AsyncClient, db: Database, stage: Stage, make_user: MakeUser
) -> None:
    cid = (await started(client, stage))["id"]
    other_tenant = await make_user("tenant")
    foreign = await client.post(
        f"{API}/conversations",
        json={"listing_id": stage.listing_id, "body": "Auch ich"},
        headers=other_tenant.headers,
    )
    assert foreign.status_code == 201, foreign.text
    read_url = f"{API}/conversations/{cid}/read"
    for message_id in (foreign.json()["message"]["id"], str(uuid.uuid4()), "nope"):
        r = await client.post(
            read_url, json={"up_to_message_id": message_id}, headers=stage.landlord.headers
        )
        assert r.status_code == 422, r.text
        assert field_names(r.json()) == {"up_to_message_id"}
    assert not [e for e in await events_of(db, stage.tenant) if e.kind == "conversation.read"]


async def test_changes_store_their_events_and_refusals_store_none(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    conversation = await started(client, stage, "Hallo")
    cid = conversation["id"]
    first = conversation["message"]
    reply = await sent(client, stage.landlord, cid, "Guten Tag")

    def expected(message: dict[str, object]) -> dict[str, object]:
        return {
            "conversation_id": cid,
            "message": {
                "id": message["id"],
                "seq": message["seq"],
                "author_id": message["author_id"],
                "body": message["body"],
                "sent_at": message["sent_at"],
            },
        }

    for member in (stage.tenant, stage.landlord):
        # Each recipient also gets a `notification.created` (tests/notifications).
        stored = [e for e in await events_of(db, member) if e.kind != "notification.created"]
        assert [e.kind for e in stored] == ["message.created", "message.created"]
        assert [e.data for e in stored] == [expected(first), expected(reply)]

    r = await client.post(
        f"{API}/conversations/{cid}/read",
        json={"up_to_message_id": reply["id"]},
        headers=stage.tenant.headers,
    )
    assert r.status_code == 200
    landlord_events = await events_of(db, stage.landlord)
    assert landlord_events[-1].kind == "conversation.read"
    assert landlord_events[-1].data == {
        "conversation_id": cid,
        "reader_id": str(stage.tenant.id),
        "up_to_seq": reply["seq"],
    }
    # The reader gets no read receipt (two messages, one notification of the landlord's reply).
    assert len(await events_of(db, stage.tenant)) == 3

    before = {m.id: len(await events_of(db, m)) for m in (stage.tenant, stage.landlord)}
    refused = [
        await send(client, stage.tenant, cid, "   "),  # 422
        await send(client, stage.tenant, str(uuid.uuid4()), "Hallo"),  # 404
        await client.post(  # the marker does not move: no receipt
            f"{API}/conversations/{cid}/read",
            json={"up_to_message_id": first["id"]},
            headers=stage.tenant.headers,
        ),
        await client.post(
            f"{API}/conversations/{cid}/read",
            json={"up_to_message_id": str(uuid.uuid4())},
            headers=stage.tenant.headers,
        ),
        await send(client, stage.landlord, cid, "Guten Tag", reply["client_message_id"]),  # 200
    ]
    assert [r.status_code for r in refused] == [422, 404, 200, 422, 200]
    after = {m.id: len(await events_of(db, m)) for m in (stage.tenant, stage.landlord)}
    assert after == before


@pytest.fixture
def small_send_limit(settings: Settings) -> Iterator[int]:
    """The in-process app's send limit lowered to 3 a minute for one test."""
    original = settings.messaging
    settings.messaging = original.model_copy(update={"send_limit": 3, "send_window_seconds": 60})
    yield 3
    settings.messaging = original


async def test_sending_is_rate_limited_per_user(
    client: httpx.AsyncClient, db: Database, stage: Stage, small_send_limit: int
) -> None:
    cid = (await started(client, stage, "1"))["id"]  # the first message counts too
    assert (await send(client, stage.tenant, cid, "2")).status_code == 201
    assert (await send(client, stage.tenant, cid, "3", "third")).status_code == 201
    r = await send(client, stage.tenant, cid, "4")
    assert r.status_code == 429, r.text
    assert slug(r) == "message-rate-limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # A retry of a stored message is not a new send: still answered.
    assert (await send(client, stage.tenant, cid, "3", "third")).status_code == 200
    # The limit is the user's: the landlord still writes.
    assert (await send(client, stage.landlord, cid, "Antwort")).status_code == 201
    rows = await message_rows(db, cid)
    assert [r["body"] for r in rows] == ["1", "2", "3", "Antwort"]
    assert not [
        e
        for e in await events_of(db, stage.landlord)
        if e.data.get("message", {}).get("body") == "4"
    ]


async def test_what_stores_no_message_does_not_count_against_the_limit(
    client: httpx.AsyncClient,
    db: Database,
    stage: Stage,
    make_user: MakeUser,
    small_send_limit: int,
) -> None:
    """The limit is counted before the send's statement; retries, unknown conversations and
    other people's conversations give their hit back."""
    cid = (await started(client, stage, "1"))["id"]
    assert (await send(client, stage.tenant, cid, "2", "two")).status_code == 201
    outsider = await make_user("tenant")
    for _ in range(3):
        assert (await send(client, stage.tenant, cid, "2", "two")).status_code == 200
        assert (await send(client, stage.tenant, str(uuid.uuid4()), "x")).status_code == 404
        assert (await send(client, outsider, cid, "x")).status_code == 404
    assert (await send(client, stage.tenant, cid, "3")).status_code == 201  # the third
    assert (await send(client, stage.tenant, cid, "4")).status_code == 429
    assert [r["body"] for r in await message_rows(db, cid)] == ["1", "2", "3"]
