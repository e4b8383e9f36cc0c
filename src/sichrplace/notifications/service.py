"""What other domains call: queue an email with their business write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sichrplace.notifications import rules
from sichrplace.notifications.mailer import Attachment
from sichrplace.notifications.tasks import send_email
from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.platform.jobs import enqueue, enqueue_many

__all__ = ["Attachment", "Email", "queue_email", "queue_emails"]


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
    mail = Email(to, subject, body, dedupe_key, tuple(attachments))
    await enqueue(session, send_email, **mail.to_job())


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    subject: str
    body: str
    dedupe_key: str
    attachments: Sequence[Attachment] = field(default=())

    def to_job(self) -> dict[str, Any]:
        rules.check_email(to=self.to, subject=self.subject, dedupe_key=self.dedupe_key)
        mail: dict[str, Any] = {
            "to": self.to,
            "subject": self.subject,
            "body": self.body,
            "dedupe_key": self.dedupe_key,
        }
        if self.attachments:  # absent otherwise: jobs stay as before attachments existed
            mail["attachments"] = [a.to_job() for a in self.attachments]
        return mail


async def queue_emails(session: PrimarySession, mails: Sequence[Email]) -> None:
    """`queue_email` for several emails of one event (e.g. to both parties of a booking),
    queued in one statement."""
    await enqueue_many(session, send_email, [mail.to_job() for mail in mails])
