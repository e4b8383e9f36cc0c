"""The unread-message email: one job per burst, one email per job run, none when read in time
or turned off. The job is called directly (no worker, no waiting for its delay)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sichrplace.messaging.tasks import email_unread
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from tests.messaging.conftest import API, Stage, sent, started


async def _rows(db: Database, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with db.primary.connect() as conn:
        return [dict(r._asdict()) for r in (await conn.execute(text(sql), params)).all()]


async def _unread_jobs(db: Database, conversation_id: str) -> list[dict[str, Any]]:
    return await _rows(
        db,
        "SELECT id, args->>'recipient_id' AS recipient_id, scheduled_at - now() AS delay "
        "FROM procrastinate_jobs WHERE task_name = 'messaging.unread_email' "
        "AND args->>'conversation_id' = :c",
        c=conversation_id,
    )


async def _mail_jobs(db: Database, conversation_id: str) -> list[dict[str, Any]]:
    return await _rows(
        db,
        "SELECT args->>'to' AS to, args->>'subject' AS subject, args->>'body' AS body, "
        "args->>'dedupe_key' AS dedupe_key, args->>'language' AS language FROM procrastinate_jobs "
        "WHERE task_name = 'notifications.send_email' AND args->>'dedupe_key' LIKE :k",
        k=f"unread-messages:{conversation_id}:%",
    )


@pytest.fixture
async def conversations(db: Database) -> AsyncIterator[list[str]]:
    """Conversations whose scheduled jobs are removed after the test (the shared worker
    would otherwise run them later)."""
    ids: list[str] = []
    yield ids
    async with db.primary.begin() as conn:
        await conn.execute(
            text(
                "DELETE FROM procrastinate_jobs WHERE status = 'todo' AND "
                "(args->>'conversation_id' = ANY(:ids) OR split_part(args->>'dedupe_key', ':', 2)"
                " = ANY(:ids))"
            ),
            {"ids": ids},
        )


async def _run_job(db: Database, conversation_id: str, recipient_id: uuid.UUID) -> str:
    async with transaction(db) as session:
        return await email_unread(session, uuid.UUID(conversation_id), recipient_id)


async def _burst(client: httpx.AsyncClient, stage: Stage, conversations: list[str]) -> str:
    conversation = await started(client, stage, "Ist die Wohnung noch frei?")
    conversation_id = str(conversation["id"])
    conversations.append(conversation_id)
    for i in range(9):  # 10 messages from the tenant in all
        await sent(client, stage.tenant, conversation_id, f"Nachricht {i}")
    return conversation_id


async def test_a_burst_of_messages_makes_one_job_and_one_email(
    client: httpx.AsyncClient, db: Database, stage: Stage, conversations: list[str]
) -> None:
    conversation_id = await _burst(client, stage, conversations)

    jobs = await _unread_jobs(db, conversation_id)
    assert [j["recipient_id"] for j in jobs] == [str(stage.landlord.id)]
    assert 500 < jobs[0]["delay"].total_seconds() <= 600  # the setting's default: 10 minutes

    assert await _run_job(db, conversation_id, stage.landlord.id) == "sent"
    mails = await _mail_jobs(db, conversation_id)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["to"] == stage.landlord.email
    assert mail["subject"].startswith("Neue Nachricht von ")
    assert "Sie haben 10 ungelesene Nachrichten von " in mail["body"]  # German by default
    assert "unread" not in mail["body"]  # one language only
    assert "Nachricht 3" not in mail["body"]
    assert "noch frei" not in mail["body"]  # no bodies
    assert mail["dedupe_key"] == f"unread-messages:{conversation_id}:{stage.landlord.id}:10"
    assert mail["language"] == "de"  # the mail's Content-Language

    # The run freed its key: the next message schedules the next job.
    await sent(client, stage.tenant, conversation_id, "Noch eine Frage")
    assert len(await _unread_jobs(db, conversation_id)) == 2


async def test_read_within_the_delay_sends_no_email(
    client: httpx.AsyncClient, db: Database, stage: Stage, conversations: list[str]
) -> None:
    conversation_id = await _burst(client, stage, conversations)
    page = await client.get(
        f"{API}/conversations/{conversation_id}/messages", headers=stage.landlord.headers
    )
    newest = page.json()["items"][0]["id"]
    r = await client.post(
        f"{API}/conversations/{conversation_id}/read",
        json={"up_to_message_id": newest},
        headers=stage.landlord.headers,
    )
    assert r.status_code == 200, r.text

    assert await _run_job(db, conversation_id, stage.landlord.id) == "read"
    assert await _mail_jobs(db, conversation_id) == []


async def test_message_emails_turned_off_send_none(
    client: httpx.AsyncClient, db: Database, stage: Stage, conversations: list[str]
) -> None:
    r = await client.patch(
        f"{API}/me",
        json={"notification_preferences": {"message": {"email": False}}},
        headers=stage.landlord.headers,
    )
    assert r.status_code == 200, r.text
    conversation_id = await _burst(client, stage, conversations)

    assert await _run_job(db, conversation_id, stage.landlord.id) == "off"
    assert await _mail_jobs(db, conversation_id) == []


async def test_an_english_recipient_gets_the_email_in_english(
    client: httpx.AsyncClient, db: Database, stage: Stage, conversations: list[str]
) -> None:
    r = await client.patch(f"{API}/me", json={"language": "en"}, headers=stage.landlord.headers)
    assert r.status_code == 200, r.text
    conversation = await started(client, stage, "Ist die Wohnung noch frei?")
    conversation_id = str(conversation["id"])
    conversations.append(conversation_id)

    assert await _run_job(db, conversation_id, stage.landlord.id) == "sent"
    (mail,) = await _mail_jobs(db, conversation_id)
    assert mail["subject"].startswith("New message from ")
    assert mail["body"].startswith("Hello ")
    assert "you have one unread message from " in mail["body"]
    assert "Apartment: " in mail["body"]
    assert "ungelesen" not in mail["body"]
