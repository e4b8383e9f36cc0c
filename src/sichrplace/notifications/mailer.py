"""SMTP delivery (stdlib smtplib in a thread) and message building."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from sichrplace.config import SmtpSettings
from sichrplace.platform.jobs import PermanentJobError


class PermanentSmtpError(PermanentJobError):
    """The server refused for good (5xx): retrying the same message cannot succeed."""


def message_id_for(dedupe_key: str, sender: str) -> str:
    """Same key, same Message-ID: a duplicate that slips through can still be recognised."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "sichrplace.local"
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a mail, e.g. a viewing's .ics (`content_type` "text/calendar")."""

    filename: str
    content_type: str  # maintype/subtype
    data: bytes

    def to_job(self) -> dict[str, str]:
        """As a job argument (JSON): the bytes base64-encoded."""
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "data": base64.b64encode(self.data).decode("ascii"),
        }

    @classmethod
    def from_job(cls, value: Mapping[str, str]) -> Attachment:
        return cls(value["filename"], value["content_type"], base64.b64decode(value["data"]))


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    dedupe_key: str,
    attachments: Sequence[Attachment] = (),
    language: str | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id_for(dedupe_key, sender)
    msg.set_content(body)
    for item in attachments:
        maintype, _, subtype = item.content_type.partition("/")
        msg.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=item.filename)
    if language:  # RFC 3282; last: set_content and add_attachment move Content-* headers
        msg["Content-Language"] = language
    return msg


def _send_blocking(settings: SmtpSettings, msg: EmailMessage) -> None:
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds) as smtp:
            smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(code >= 500 for code in codes):
            raise PermanentSmtpError(f"recipients refused: {exc.recipients}") from exc
        raise
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            raise PermanentSmtpError(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        raise


async def deliver(settings: SmtpSettings, msg: EmailMessage) -> None:
    """Hand `msg` to the SMTP server; OSError/4xx propagate (the job is retried)."""
    await asyncio.to_thread(_send_blocking, settings, msg)
