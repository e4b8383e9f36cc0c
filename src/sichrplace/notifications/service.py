"""What other domains call: queue an email with their business write."""

from __future__ import annotations

from sichrplace.kit.errors import Unprocessable
from sichrplace.notifications.tasks import send_email
from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.platform.jobs import enqueue

MAX_DEDUPE_KEY = 200


def _check_header(field: str, value: str) -> None:
    if not value or "\r" in value or "\n" in value:
        raise Unprocessable.field(field, "must be a non-empty single line")


async def queue_email(
    session: PrimarySession, *, to: str, subject: str, body: str, dedupe_key: str
) -> None:
    """Send the email after `session` commits (never if it rolls back), once per dedupe_key.

    Pick a key that names the event, e.g. f"verify-email:{user_id}:{token_id}".
    """
    _check_header("to", to)
    if "@" not in to:
        raise Unprocessable.field("to", "must be an email address")
    _check_header("subject", subject)
    if not dedupe_key or len(dedupe_key) > MAX_DEDUPE_KEY:
        raise Unprocessable.field("dedupe_key", f"must be 1 to {MAX_DEDUPE_KEY} characters")
    await enqueue(session, send_email, to=to, subject=subject, body=body, dedupe_key=dedupe_key)
