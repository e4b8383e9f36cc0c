"""queue_email: the email job is part of the caller's transaction (end to end on the stack)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from sichrplace.config import Settings
from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.i18n import Msg
from sichrplace.notifications.service import (
    Notice,
    list_notifications,
    notify_many,
    queue_email,
)
from sichrplace.notifications.tasks import prune
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.events import Event, since
from sichrplace.platform.jobs.runtime import use_job_parts
from sichrplace.platform.parts import Parts
from tests.helpers.mailbox import wait_for_mail
from tests.helpers.members import create_member
from tests.platform.jobs.workers import fetch


class Abort(Exception):
    pass


async def _jobs_for(db: Database, key: str) -> list[dict[str, object]]:
    return await fetch(
        db,
        "SELECT queue_name, task_name FROM procrastinate_jobs WHERE args->>'dedupe_key' = :k",
        k=key,
    )


@pytest.mark.stack
async def test_queue_email_sends_only_after_commit(db: Database, dedupe_keys: list[str]) -> None:
    """Uses the stack's own worker and SMTP sink, as the accounts flows do."""
    to = f"svc-{uuid.uuid4().hex[:10]}@example.com"
    rolled_back, committed = f"test:svc:{uuid.uuid4()}", f"test:svc:{uuid.uuid4()}"
    dedupe_keys.extend([rolled_back, committed])

    async def queue_then_fail() -> None:
        async with transaction(db) as session:
            await queue_email(session, to=to, subject="never", body="b", dedupe_key=rolled_back)
            raise Abort

    with pytest.raises(Abort):
        await queue_then_fail()
    assert await _jobs_for(db, rolled_back) == []

    subject = f"Hello {uuid.uuid4().hex[:6]}"
    async with transaction(db) as session:
        await queue_email(session, to=to, subject=subject, body="Hi!\n", dedupe_key=committed)
    assert await _jobs_for(db, committed) == [
        {"queue_name": "notifications", "task_name": "notifications.send_email"}
    ]
    msg = await wait_for_mail(to, subject_contains=subject)
    assert msg.get_content() == "Hi!\n"


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("to", {"to": "a@example.com\nBcc: x@example.com"}),
        ("to", {"to": "not-an-address"}),
        ("subject", {"subject": "two\r\nlines"}),
        ("dedupe_key", {"dedupe_key": ""}),
    ],
)
async def test_queue_email_rejects_bad_input(
    db: Database, field: str, kwargs: dict[str, str]
) -> None:
    args = {"to": "a@example.com", "subject": "s", "body": "b", "dedupe_key": "k"} | kwargs
    async with transaction(db) as session:
        with pytest.raises(Unprocessable) as raised:
            await queue_email(session, **args)
    assert raised.value.errors == [{"field": field, "message": raised.value.errors[0]["message"]}]


async def test_concurrent_notifications_of_one_group_leave_one_unread(
    db: Database, redis: aioredis.Redis, settings: Settings
) -> None:
    """Writers of the same (user, group) at once (two transactions both holding an insert
    before either commits) end with one unread notification, the last to commit, and one
    event each; without the upsert the second would fail on the unique index."""
    member = await create_member(db, settings, "tenant", label="ntf")
    group = f"test:{uuid.uuid4()}"
    first_in = asyncio.Event()
    now = datetime.now(UTC)

    async def write(n: int) -> None:
        if n == 1:
            await first_in.wait()
        async with transaction(db) as session:
            await notify_many(
                session,
                redis,
                "viewing",
                [Notice(member.id, Msg(f"Titel {n}"), {"n": n}, group_key=group)],
                now=now,
            )
            if n == 0:
                first_in.set()
                # Uncommitted while the second writer's insert meets its row and waits.
                await asyncio.sleep(0.3)

    await asyncio.gather(write(0), write(1))
    async with db.primary.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT title FROM notifications WHERE user_id = :u AND group_key = :g"
                    " AND read_at IS NULL"
                ),
                {"u": member.id, "g": group},
            )
        ).all()
    assert [r[0] for r in rows] == ["Titel 1"]  # the second writer's, committed last
    async with transaction(db) as session:
        stream = await since(session, member.id, 0, 100)
    assert [e.kind for e in stream] == ["notification.created", "notification.created"]
    assert stream[-1].data["title"] == rows[0][0]


async def test_notify_many_stores_rows_and_their_events_together(
    db: Database, redis: aioredis.Redis, settings: Settings
) -> None:
    """One call: each user's row titled in their language, the caller's own events numbered
    first, then one notification.created per row whose data is the row as the API lists it;
    a repeated group replaces the unread row (a new id) and announces it again."""
    german = await create_member(db, settings, "tenant", label="ntf-de")
    english = await create_member(db, settings, "landlord", label="ntf-en", language="en")
    group = f"test:{uuid.uuid4()}"
    now = datetime.now(UTC).replace(microsecond=123456)
    title = Msg("New message from {name}", {"name": "Ada"})
    also = [Event(german.id, "test.first", {"n": 1}), Event(english.id, "test.first", {"n": 2})]
    async with transaction(db) as session:
        rows = await notify_many(
            session,
            redis,
            "message",
            [Notice(german.id, title, {"k": 1}, group), Notice(english.id, title, {"k": 2})],
            now=now,
            also=also,
        )
    by_user = {r.user_id: r for r in rows}
    assert by_user[german.id].title == "Neue Nachricht von Ada"
    assert by_user[english.id].title == "New message from Ada"
    async with transaction(db) as session:
        for member in (german, english):
            listed, _ = await list_notifications(
                session, member.id, unread=True, cursor=None, limit=10
            )
            assert listed == [by_user[member.id]]
            stream = await since(session, member.id, 0, 10)
            assert [(e.seq, e.kind) for e in stream] == [
                (1, "test.first"),
                (2, "notification.created"),
            ]
            row = listed[0]
            assert stream[1].data == {
                "id": row.id,
                "kind": "message",
                "title": row.title,
                "data": row.data,
                "created_at": row.created_at.isoformat(),
                "read": False,
            }
    async with transaction(db) as session:
        (again,) = await notify_many(
            session, redis, "message", [Notice(german.id, title, {"k": 3}, group)], now=now
        )
        listed, _ = await list_notifications(session, german.id, unread=True, cursor=None, limit=10)
        stream = await since(session, german.id, 2, 10)
    assert again.id > by_user[german.id].id
    assert listed == [again]
    assert [(e.seq, e.data["id"], e.data["data"]) for e in stream] == [(3, again.id, {"k": 3})]


async def test_the_daily_job_deletes_only_what_is_past_its_retention(
    db: Database, redis: aioredis.Redis, settings: Settings, parts: Parts
) -> None:
    member = await create_member(db, settings, "tenant", label="ntf-prune")
    now = datetime.now(UTC)
    old_key, new_key = f"test:prune:{uuid.uuid4()}", f"test:prune:{uuid.uuid4()}"
    days = settings.notifications.retention_days
    async with transaction(db) as session:
        await notify_many(
            session,
            redis,
            "viewing",
            [Notice(member.id, Msg("alt"), {})],
            now=now - timedelta(days=days + 1),
        )
        await notify_many(session, redis, "viewing", [Notice(member.id, Msg("neu"), {})], now=now)
        kept_days = settings.notifications.sent_email_retention_days
        await session.execute(
            text(
                "INSERT INTO notification_emails_sent"
                " (dedupe_key, recipient, subject, message_id, sent_at)"
                " VALUES (:old, 'a@example.com', 's', 'm1', now() - make_interval(days => :d)),"
                " (:new, 'a@example.com', 's', 'm2', now())"
            ),
            {"old": old_key, "new": new_key, "d": kept_days + 1},
        )
    with use_job_parts(parts):
        assert await prune() >= 2
    async with db.primary.connect() as conn:
        titles = (
            await conn.execute(
                text("SELECT title FROM notifications WHERE user_id = :u"), {"u": member.id}
            )
        ).scalars()
        assert list(titles) == ["neu"]
        keys = (
            await conn.execute(
                text(
                    "SELECT dedupe_key FROM notification_emails_sent WHERE dedupe_key IN (:a, :b)"
                ),
                {"a": old_key, "b": new_key},
            )
        ).scalars()
        assert list(keys) == [new_key]
