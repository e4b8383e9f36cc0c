"""Jobs of the notifications domain."""

from __future__ import annotations

from datetime import timedelta

import structlog

from sichrplace.kit.clock import utcnow
from sichrplace.notifications import mailer, repository
from sichrplace.platform.db import transaction
from sichrplace.platform.db.unit import delete_in_batches
from sichrplace.platform.jobs import MAINTENANCE_QUEUE, job_parts, periodic, task

log = structlog.get_logger(__name__)

NOTIFICATIONS_QUEUE = "notifications"
PRUNE_BATCH = 10_000


@task(name="notifications.send_email", queue=NOTIFICATIONS_QUEUE)
async def send_email(
    to: str,
    subject: str,
    body: str,
    dedupe_key: str,
    attachments: list[dict[str, str]] | None = None,
    language: str | None = None,
) -> str:
    """Send one email, at most once per `dedupe_key` barring a crash mid-commit.

    The key is claimed and the message sent inside one transaction: an SMTP failure rolls
    the claim back (the retry sends); a concurrent run with the same key waits on the key's
    row lock and then skips. Only a crash between the server's 250 and our COMMIT can send
    twice (at-least-once wins over losing mail); the stable Message-ID marks such a twin.
    """
    parts = job_parts()
    settings = parts.settings
    msg = mailer.build_message(
        sender=settings.smtp.sender,
        to=to,
        subject=subject,
        body=body,
        dedupe_key=dedupe_key,
        # Jobs enqueued before attachments existed have none.
        attachments=[mailer.Attachment.from_job(a) for a in attachments or ()],
        # Jobs enqueued before the header existed have none.
        language=language,
    )
    async with transaction(parts.db) as session:
        claimed = await repository.claim_dedupe_key(
            session,
            dedupe_key=dedupe_key,
            recipient=to,
            subject=subject,
            message_id=str(msg["Message-ID"]),
        )
        if not claimed:
            log.info("email_already_sent", dedupe_key=dedupe_key)
            return "duplicate"
        await mailer.deliver(settings.smtp, msg)
    log.info("email_sent", dedupe_key=dedupe_key, message_id=str(msg["Message-ID"]))
    return "sent"


@periodic(cron="23 3 * * *")  # daily, at a quiet hour
@task(
    name="notifications.prune",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,  # tomorrow's run is the retry
    queueing_lock="notifications.prune",
)
async def prune(timestamp: int | None = None) -> int:
    """Delete notifications and sent emails' dedupe keys past their retention, a batch per
    transaction; how many rows in all."""
    parts = job_parts()
    settings, now = parts.settings.notifications, utcnow()
    deleted = await delete_in_batches(
        parts.db,
        repository.delete_notifications_before,
        now - timedelta(days=settings.retention_days),
        batch=PRUNE_BATCH,
    )
    deleted += await delete_in_batches(
        parts.db,
        repository.delete_sent_before,
        now - timedelta(days=settings.sent_email_retention_days),
        batch=PRUNE_BATCH,
    )
    if deleted:
        log.info("notifications_pruned", count=deleted)
    return deleted
