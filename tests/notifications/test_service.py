"""queue_email: the email job is part of the caller's transaction (end to end on the stack)."""

from __future__ import annotations

import uuid

import pytest

from sichrplace.kit.errors import Unprocessable
from sichrplace.notifications.service import queue_email
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from tests.helpers.mailbox import wait_for_mail
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
