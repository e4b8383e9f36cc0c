"""Messaging jobs: the email about unread messages, sent a while after a message arrived.

A send schedules the job for (conversation, recipient) once (`notifications.Once`, with the
notification): a burst of messages schedules one job. When it runs it frees that key first (so
a message after this point schedules the next one), then sends one email, unless the
recipient has read everything from the other participant by now or turned message emails off.
The email names how many messages are unread, from whom and about which listing, never what
they say.
"""

from __future__ import annotations

import uuid

import structlog

from sichrplace.accounts.rules import wants_email
from sichrplace.kit.i18n import N_, NP_, compose, language_of
from sichrplace.messaging import repository
from sichrplace.messaging.records import UnreadState
from sichrplace.notifications import service as notifications
from sichrplace.notifications.tasks import NOTIFICATIONS_QUEUE
from sichrplace.notifications.vocabulary import MESSAGE
from sichrplace.platform.db import transaction
from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.platform.jobs import job_parts, task

log = structlog.get_logger(__name__)


def pending_key(conversation_id: uuid.UUID, recipient_id: uuid.UUID) -> str:
    return f"unread-email:{conversation_id}:{recipient_id}"


def unread_mail(state: UnreadState, conversation_id: uuid.UUID) -> notifications.Email:
    """The email, in the recipient's language: counts and names, no message text."""
    language = language_of(state.recipient_language)
    count = state.unread_count
    body = compose(
        language,
        N_("Hello {name},", name=state.recipient_name),
        NP_(
            "you have one unread message from {sender}.",
            "you have {n} unread messages from {sender}.",
            count,
            n=count,
            sender=state.other_name,
        ),
        N_("Apartment: {title}", title=state.listing_title),
        N_("Read and reply in SichrPlace under “Messages”."),
        N_("Kind regards\nThe SichrPlace team"),
    )
    subject = N_(
        "New message from {sender}: {title}", sender=state.other_name, title=state.listing_title
    )
    return notifications.Email(
        to=state.recipient_email,
        subject=subject.render(language),
        body=body,
        dedupe_key=f"unread-messages:{conversation_id}:{state.recipient_id}:{state.newest_seq}",
        language=language,
    )


async def email_unread(
    session: PrimarySession, conversation_id: uuid.UUID, recipient_id: uuid.UUID
) -> str:
    """The job's work in the caller's transaction: what happened ("sent", "read", "off")."""
    await notifications.release_once(session, pending_key(conversation_id, recipient_id))
    state = await repository.unread_state(session, conversation_id, recipient_id)
    if state is None:
        return "gone"
    if state.newest_seq <= state.read_seq or state.unread_count == 0:
        return "read"
    if not wants_email(state.recipient_preferences, MESSAGE):
        return "off"
    mail = unread_mail(state, conversation_id)
    await notifications.queue_emails(session, [mail])
    return "sent"


@task(name="messaging.unread_email", queue=NOTIFICATIONS_QUEUE)
async def unread_email(conversation_id: str, recipient_id: str) -> str:
    """Email the recipient about the conversation's unread messages (see the module)."""
    parts = job_parts()
    async with transaction(parts.db) as session:
        outcome = await email_unread(session, uuid.UUID(conversation_id), uuid.UUID(recipient_id))
    log.info("unread_email", conversation_id=conversation_id, outcome=outcome)
    return outcome
