"""Messaging jobs: the email about unread messages, sent a while after a message arrived.

A send schedules the job for (conversation, recipient) once (`notifications.schedule_once`):
a burst of messages schedules one job. When it runs it frees that key first (so a message
after this point schedules the next one), then sends one email, unless the recipient has read
everything from the other participant by now or turned message emails off. The email names
how many messages are unread, from whom and about which listing, never what they say.
"""

from __future__ import annotations

import uuid

import structlog

from sichrplace.accounts.rules import wants_email
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
    """The email (German first, English below): counts and names, no message text."""
    count = state.unread_count
    de_what = "eine ungelesene Nachricht" if count == 1 else f"{count} ungelesene Nachrichten"
    en_what = "one unread message" if count == 1 else f"{count} unread messages"
    body = (
        f"Hallo {state.recipient_name},\n\n"
        f"Sie haben {de_what} von {state.other_name}.\n\n"
        f"Wohnung: {state.listing_title}\n\n"
        "Lesen und antworten Sie in SichrPlace unter „Nachrichten“.\n\n"
        "Viele Grüße\nIhr SichrPlace-Team\n\n"
        "----\n\n"
        f"Hello {state.recipient_name},\n\n"
        f"you have {en_what} from {state.other_name}.\n\n"
        f"Apartment: {state.listing_title}\n\n"
        "Read and reply in SichrPlace under “Messages”.\n\n"
        "Kind regards\nThe SichrPlace team\n"
    )
    return notifications.Email(
        to=state.recipient_email,
        subject=f"Neue Nachricht von {state.other_name} / New message: {state.listing_title}",
        body=body,
        dedupe_key=f"unread-messages:{conversation_id}:{state.recipient_id}:{state.newest_seq}",
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
    await notifications.queue_email(
        session, to=mail.to, subject=mail.subject, body=mail.body, dedupe_key=mail.dedupe_key
    )
    return "sent"


@task(name="messaging.unread_email", queue=NOTIFICATIONS_QUEUE)
async def unread_email(conversation_id: str, recipient_id: str) -> str:
    """Email the recipient about the conversation's unread messages (see the module)."""
    parts = job_parts()
    async with transaction(parts.db) as session:
        outcome = await email_unread(session, uuid.UUID(conversation_id), uuid.UUID(recipient_id))
    log.info("unread_email", conversation_id=conversation_id, outcome=outcome)
    return outcome
