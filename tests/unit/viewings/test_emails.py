"""The viewings' emails: German first, English below, one per party and event (dedupe keys),
the exact address and Berlin times."""

from __future__ import annotations

import base64

from sichrplace.notifications.mailer import Attachment, build_message
from sichrplace.viewings import emails
from tests.unit.viewings.rows import context

TZ = "Europe/Berlin"


def test_confirmation_is_german_first_and_names_place_and_time() -> None:
    ctx = context()
    mail = emails.confirmed(ctx, "tenant", timezone=TZ)
    assert mail.to == "mieterin@example.com"
    assert mail.subject.startswith("Besichtigung bestätigt")
    german, english = mail.body.split("----")
    assert "Hallo Jana Müller" in german
    assert "bestätigt" in german
    assert "Karl-Marx-Allee 12a, 10243 Berlin" in german
    assert "Mo., 14.12.2026, 18:00-18:30 Uhr" in german
    assert "Vermieter/in: Jürgen Schmidt" in german
    assert "Your apartment viewing is confirmed" in english
    landlord = emails.confirmed(ctx, "landlord", timezone=TZ)
    assert landlord.to == "vermieter@example.com"
    assert "Mieter/in: Jana Müller" in landlord.body
    assert mail.dedupe_key != landlord.dedupe_key


def test_cancellation_says_who_and_the_refund_to_the_tenant() -> None:
    ctx = context()
    tenant = emails.cancelled(ctx, "tenant", by="landlord", refunded=True, timezone=TZ)
    assert "abgesagt" in tenant.body.split("----")[0]
    assert "von der Vermieterin / dem Vermieter" in tenant.body
    assert "erstattet" in tenant.body
    assert "refunded" in tenant.body
    landlord = emails.cancelled(ctx, "landlord", by="landlord", refunded=True, timezone=TZ)
    assert "erstattet" not in landlord.body  # the fee is the tenant's business
    assert tenant.dedupe_key == f"viewing-cancelled:{ctx.viewing.id}:tenant"


def test_a_mail_carries_its_ics_and_the_attachment_survives_the_job_arguments() -> None:
    ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    item = Attachment("besichtigung.ics", "text/calendar", ics)
    as_job = item.to_job()
    assert base64.b64decode(as_job["data"]) == ics
    again = Attachment.from_job(as_job)
    assert again == item
    msg = build_message(
        sender="SichrPlace <noreply@sichrplace.de>",
        to="a@example.com",
        subject="s",
        body="Hallo\n",
        dedupe_key="k",
        attachments=[again],
    )
    (part,) = list(msg.iter_attachments())
    assert part.get_filename() == "besichtigung.ics"
    assert part.get_content_type() == "text/calendar"
    assert part.get_payload(decode=True) == ics
    plain = build_message(
        sender="s@x.de", to="a@example.com", subject="s", body="b", dedupe_key="k"
    )
    assert list(plain.iter_attachments()) == []
