"""What other domains call: queue an email with their business write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sichrplace.notifications import rules
from sichrplace.notifications.mailer import Attachment
from sichrplace.notifications.tasks import send_email
from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.platform.jobs import enqueue

__all__ = ["Attachment", "queue_email"]


async def queue_email(
    session: PrimarySession,
    *,
    to: str,
    subject: str,
    body: str,
    dedupe_key: str,
    attachments: Sequence[Attachment] = (),
) -> None:
    """Send the email after `session` commits (never if it rolls back), once per dedupe_key.

    Pick a key that names the event, e.g. f"verify-email:{user_id}:{token_id}".
    `attachments` (e.g. an .ics) ride in the job's arguments: keep them small.
    """
    rules.check_email(to=to, subject=subject, dedupe_key=dedupe_key)
    mail: dict[str, Any] = {"to": to, "subject": subject, "body": body, "dedupe_key": dedupe_key}
    if attachments:  # absent otherwise: jobs stay as they were before attachments existed
        mail["attachments"] = [a.to_job() for a in attachments]
    await enqueue(session, send_email, **mail)
