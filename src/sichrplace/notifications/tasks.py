"""Jobs of the notifications domain."""

from __future__ import annotations

import structlog

from sichrplace.notifications import mailer, repository
from sichrplace.platform.db import transaction
from sichrplace.platform.jobs import job_parts, task

log = structlog.get_logger(__name__)

NOTIFICATIONS_QUEUE = "notifications"


@task(name="notifications.send_email", queue=NOTIFICATIONS_QUEUE)
async def send_email(
    to: str,
    subject: str,
    body: str,
    dedupe_key: str,
    attachments: list[dict[str, str]] | None = None,
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
