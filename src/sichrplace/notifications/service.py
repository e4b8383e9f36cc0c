"""What other domains call: queue an email with their business write, notify a user in-app
(stored with the write, put on the user's event stream), schedule a delayed email once."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from procrastinate.tasks import Task

from sichrplace.kit.i18n import LANGUAGES, Msg
from sichrplace.notifications import repository, rules
from sichrplace.notifications.mailer import Attachment
from sichrplace.notifications.records import NotificationRow
from sichrplace.notifications.tasks import send_email
from sichrplace.notifications.vocabulary import NOTIFICATION_CREATED
from sichrplace.platform import events
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession
from sichrplace.platform.jobs import enqueue, enqueue_many

__all__ = [
    "Attachment",
    "Email",
    "Notice",
    "Once",
    "list_notifications",
    "mark_read",
    "notify",
    "notify_many",
    "queue_email",
    "queue_emails",
]

AnySession = PrimarySession | ReplicaSession


async def queue_email(
    session: PrimarySession,
    *,
    to: str,
    subject: str,
    body: str,
    dedupe_key: str,
    attachments: Sequence[Attachment] = (),
    language: str | None = None,
) -> None:
    """Send the email after `session` commits (never if it rolls back), once per dedupe_key.

    Pick a key that names the event, e.g. f"verify-email:{user_id}:{token_id}".
    `attachments` (e.g. an .ics) ride in the job's arguments: keep them small. `language`:
    the one the text is written in (the mail's Content-Language).
    """
    mail = Email(to, subject, body, dedupe_key, tuple(attachments), language)
    await enqueue(session, send_email, **mail.to_job())


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    subject: str
    body: str
    dedupe_key: str
    attachments: Sequence[Attachment] = field(default=())
    language: str | None = None

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
        if self.language:
            mail["language"] = self.language
        return mail


async def queue_emails(session: PrimarySession, mails: Sequence[Email]) -> None:
    """`queue_email` for several emails of one event (e.g. to both parties of a booking),
    queued in one statement."""
    await enqueue_many(session, send_email, [mail.to_job() for mail in mails])


# --- in-app notifications ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notice:
    """One user's new notification: `title` a catalog message (stored in the user's language);
    `data` JSON naming what it is about (ids, never a message body); with `group_key`, it
    replaces the user's unread notification of the same key."""

    user_id: uuid.UUID
    title: Msg
    data: Mapping[str, Any]
    group_key: str | None = None


@dataclass(frozen=True, slots=True)
class Once:
    """`task(**kwargs)` in `delay_seconds`, unless a job of `key` is scheduled already (its key
    is claimed in `notification_email_pending`). The job calls `release_once(session, key)`
    when it runs, so what happens after that schedules a new one."""

    key: str
    task: Task[Any, Any, Any]
    delay_seconds: float
    kwargs: Mapping[str, Any]


async def notify(
    session: PrimarySession,
    redis: aioredis.Redis | None,
    user_id: uuid.UUID,
    kind: str,
    title: Msg,
    *,
    data: Mapping[str, Any],
    now: datetime,
    group_key: str | None = None,
) -> NotificationRow:
    """Store a notification for `user_id` in the caller's transaction and put it on the
    user's event stream (`notification.created`, published after the commit): see Notice."""
    (row,) = await notify_many(
        session, redis, kind, [Notice(user_id, title, data, group_key)], now=now
    )
    return row


async def notify_many(
    session: PrimarySession,
    redis: aioredis.Redis | None,
    kind: str,
    notices: Sequence[Notice],
    *,
    now: datetime,
    also: Sequence[events.Event] = (),
    once: Once | None = None,
) -> list[NotificationRow]:
    """`notify` for several users at once (a user and group_key at most once: one upsert
    cannot touch a row twice), in one statement whatever their number: the rows and their
    events, with the caller's own events `also` (numbered before the notifications': e.g. the
    message a notification is about); with `once`, its job is scheduled unless one of its
    key is (the key claimed in the same statement). Without a Redis
    client (a job or script without one) the events are stored unpublished: streams read
    them from Postgres on their next check."""
    notified = await repository.insert_notifications_with_events(
        session,
        [
            repository.NewNotification(
                n.user_id,
                kind,
                {language: n.title.render(language) for language in LANGUAGES},
                dict(n.data),
                n.group_key,
            )
            for n in notices
        ],
        events.as_rows(also),
        created_kind=NOTIFICATION_CREATED,
        now=now,
        pending=[once.key] if once else [],
    )
    events.publish_after_commit(session, redis, notified.events)
    if once is not None and once.key in notified.claimed:
        await enqueue(session, once.task, schedule_in_seconds=once.delay_seconds, **once.kwargs)
    return notified.rows


async def list_notifications(
    session: AnySession, user_id: uuid.UUID, *, unread: bool, cursor: str | None, limit: int
) -> tuple[list[NotificationRow], str | None]:
    """The user's notifications newest first, and the next page's cursor (an id)."""
    before = rules.decode_cursor(cursor) if cursor else None
    rows = await repository.list_notifications(
        session, user_id, unread=unread, before=before, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].id) if more and rows else None)


async def mark_read(
    session: PrimarySession, user_id: uuid.UUID, *, up_to_id: int, now: datetime
) -> tuple[int, int]:
    """Mark the user's notifications up to `up_to_id` read (only theirs; a read one stays
    read): how many were marked, and how many remain unread."""
    marked = await repository.mark_read(session, user_id, up_to_id=up_to_id, now=now)
    return marked, await repository.unread_count(session, user_id)


async def mark_group_read(
    session: PrimarySession, user_id: uuid.UUID, group_key: str, *, now: datetime
) -> None:
    """The user has seen what the group's notification is about (e.g. read the conversation)."""
    await repository.mark_group_read(session, user_id, group_key, now=now)


# --- delayed emails ---------------------------------------------------------------------------


async def release_once(session: PrimarySession, key: str) -> None:
    await repository.release_pending(session, key)
