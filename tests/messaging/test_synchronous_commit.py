"""A conversation started with its first message, and every message sent, commit with
`synchronous_commit = on` (docs/operations.md, "Synchronous commit per transaction"); read
markers and archiving stay at the server's default. Checked in the statements the app's
primary engine ran."""

from __future__ import annotations

import httpx

from sichrplace.platform.db.engines import Database
from tests.helpers.transactions import record_transactions
from tests.messaging.conftest import API, Stage, sent, started


async def test_starting_and_sending_commit_synchronously_reading_does_not(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    with record_transactions(db.primary) as recorded:
        cid = (await started(client, stage))["id"]
        reply = await sent(client, stage.landlord, cid, "Gern, wann passt es Ihnen?")
        r = await client.post(
            f"{API}/conversations/{cid}/read",
            json={"up_to_message_id": reply["id"]},
            headers=stage.tenant.headers,
        )
        assert r.status_code == 200, r.text
        r = await client.post(f"{API}/conversations/{cid}/archive", headers=stage.tenant.headers)
        assert r.status_code == 200, r.text

    (start,) = recorded.writing("conversations", "INSERT")
    start.assert_synchronous_before("conversations", "INSERT")
    assert start.writes("messages", "INSERT")
    (sending,) = [t for t in recorded.writing("messages", "INSERT") if t is not start]
    sending.assert_synchronous_before("messages", "INSERT")
    marks = [
        t for t in recorded.writing("conversation_members", "UPDATE") if not t.writes("messages")
    ]
    assert len(marks) == 2  # the read marker, the archive
    assert all(t.synchronous_sets == [] for t in marks)
    recorded.assert_synchronous_only_where_durable()
