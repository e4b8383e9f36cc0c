"""send_email: delivered through SMTP, once per dedupe key, retried only when it can help."""

from __future__ import annotations

import asyncio
import smtplib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP

from sichrplace.config import Settings
from sichrplace.notifications import mailer
from sichrplace.notifications.tasks import send_email
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.jobs import ExponentialBackoff, enqueue
from tests.helpers.mailbox import mails_to, wait_for_mail
from tests.platform.jobs.fixtures import SharedWorker, Sink
from tests.platform.jobs.workers import fetch, free_port, run_cli, wait_status


async def _sent_rows(db: Database, key: str) -> list[dict[str, Any]]:
    return await fetch(
        db,
        "SELECT recipient, message_id FROM notification_emails_sent WHERE dedupe_key = :k",
        k=key,
    )


async def test_same_dedupe_key_is_delivered_once(
    db: Database, shared_worker: SharedWorker, shared_sink: Sink, dedupe_keys: list[str]
) -> None:
    to = f"once-{uuid.uuid4().hex[:10]}@example.com"
    key = f"test:welcome:{uuid.uuid4()}"
    dedupe_keys.append(key)
    mail = {"to": to, "subject": "Willkommen bei SichrPlace", "body": "Hallo Jürgen!\n"}
    ids = []
    for _ in range(2):  # two jobs, one event: e.g. a retried request that enqueued again
        async with transaction(db) as session:
            ids.append(
                await enqueue(
                    session, send_email, queue=shared_worker.queue, **mail, dedupe_key=key
                )
            )
    for job_id in ids:
        await wait_status(db, job_id, "succeeded")

    msg = await wait_for_mail(to, subject_contains="Willkommen", directory=shared_sink.directory)
    assert msg["Subject"] == "Willkommen bei SichrPlace"
    assert msg.get_content() == "Hallo Jürgen!\n"
    assert msg["Content-Language"] is None  # a job without a language (as before it existed)
    assert msg["Message-ID"] == mailer.message_id_for(key, str(msg["From"]))
    assert len(mails_to(to, directory=shared_sink.directory)) == 1  # both jobs are done
    assert await _sent_rows(db, key) == [{"recipient": to, "message_id": msg["Message-ID"]}]

    code, out = await run_cli("mail", "list", "--dir", str(shared_sink.directory))
    assert code == 0
    assert f"to={to}" in out
    assert "subject=Willkommen bei SichrPlace" in out


async def test_failed_send_claims_nothing_and_the_retry_sends_once(
    db: Database,
    settings: Settings,
    shared_sink: Sink,
    in_process_jobs: None,
    monkeypatch: pytest.MonkeyPatch,
    dedupe_keys: list[str],
) -> None:
    """The handler run in-process, as a worker would run it on each attempt."""
    to = f"retry-{uuid.uuid4().hex[:10]}@example.com"
    key = f"test:retry:{uuid.uuid4()}"
    dedupe_keys.append(key)
    monkeypatch.setattr(settings.smtp, "port", free_port())  # nobody listens: connection refused
    with pytest.raises(ConnectionRefusedError):
        await send_email(to=to, subject="Retry", body="b", dedupe_key=key)
    assert await _sent_rows(db, key) == []  # the failed attempt released its claim

    monkeypatch.setattr(settings.smtp, "port", shared_sink.port)
    assert await send_email(to=to, subject="Retry", body="b", dedupe_key=key) == "sent"
    assert await send_email(to=to, subject="Retry", body="b", dedupe_key=key) == "duplicate"
    await wait_for_mail(to, directory=shared_sink.directory, timeout=5)
    assert len(mails_to(to, directory=shared_sink.directory)) == 1


class _RefusingHandler:
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return "550 5.1.1 mailbox unavailable"


@pytest.fixture
async def refusing_smtp() -> AsyncIterator[int]:
    """A fake SMTP server that permanently refuses every recipient."""
    port = free_port()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(_RefusingHandler()), "127.0.0.1", port)
    async with server:
        yield port


async def test_permanent_refusal_is_not_retried(
    db: Database,
    settings: Settings,
    refusing_smtp: int,
    in_process_jobs: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = f"test:refused:{uuid.uuid4()}"
    monkeypatch.setattr(settings.smtp, "port", refusing_smtp)
    with pytest.raises(mailer.PermanentSmtpError) as raised:
        await send_email(to="nobody@example.com", subject="S", body="b", dedupe_key=key)
    assert isinstance(raised.value.__cause__, smtplib.SMTPRecipientsRefused)
    assert await _sent_rows(db, key) == []
    assert send_email.retry_strategy is not None
    job = send_email.configure().job
    assert send_email.retry_strategy.get_retry_exception(raised.value, job) is None
    assert send_email.retry_strategy.get_retry_exception(OSError("down"), job) is not None
    assert isinstance(send_email.retry_strategy, ExponentialBackoff)
