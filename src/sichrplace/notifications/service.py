"""What other domains call: queue an email with their business write."""

from __future__ import annotations

from sichrplace.notifications import rules
from sichrplace.notifications.tasks import send_email
from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.platform.jobs import enqueue


async def queue_email(
    session: PrimarySession, *, to: str, subject: str, body: str, dedupe_key: str
) -> None:
    """Send the email after `session` commits (never if it rolls back), once per dedupe_key.

    Pick a key that names the event, e.g. f"verify-email:{user_id}:{token_id}".
    """
    rules.check_email(to=to, subject=subject, dedupe_key=dedupe_key)
    await enqueue(session, send_email, to=to, subject=subject, body=body, dedupe_key=dedupe_key)
