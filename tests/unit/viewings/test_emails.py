"""The viewings' emails: each in its recipient's language, one per party and event (dedupe
keys), the exact address and Berlin times in the language's format."""

from __future__ import annotations

import base64
import dataclasses

from sichrplace.notifications.mailer import Attachment, build_message
from sichrplace.viewings import emails
from tests.unit.viewings.rows import context

TZ = "Europe/Berlin"


def test_confirmation_names_place_and_time_in_the_recipients_language() -> None:
    ctx = context()
    ctx = dataclasses.replace(ctx, landlord=dataclasses.replace(ctx.landlord, language="en"))
    mail = emails.confirmed(ctx, "tenant", timezone=TZ)  # the tenant: German (the default)
    assert mail.to == "mieterin@example.com"
    assert mail.subject == "Besichtigung bestätigt: Helle 3-Zimmer-Wohnung mit Balkon"
    assert mail.body.startswith("Hallo Jana Müller,\n\nIhre Wohnungsbesichtigung ist bestätigt.")
    assert "Adresse: Karl-Marx-Allee 12a, 10243 Berlin" in mail.body
    assert "Termin: Montag, 14. Dezember 2026, 18:00-18:30 Uhr" in mail.body
    assert "Vermieter/in: Jürgen Schmidt" in mail.body
    assert "Your" not in mail.body
    landlord = emails.confirmed(ctx, "landlord", timezone=TZ)
    assert landlord.to == "vermieter@example.com"
    assert landlord.subject == "Viewing confirmed: Helle 3-Zimmer-Wohnung mit Balkon"
    assert landlord.body.startswith("Hello Jürgen Schmidt,\n\nYour apartment viewing is")
    assert "When: Monday, 14 December 2026, 18:00-18:30" in landlord.body
    assert "Tenant: Jana Müller" in landlord.body
    assert "Kind regards\nThe SichrPlace team" in landlord.body
    assert "Hallo" not in landlord.body
    assert mail.dedupe_key != landlord.dedupe_key


def test_cancellation_says_who_and_the_refund_to_the_tenant() -> None:
    ctx = context()
    tenant = emails.cancelled(ctx, "tenant", by="landlord", refunded=True, timezone=TZ)
    assert tenant.subject.startswith("Besichtigung abgesagt")
    assert "von der Vermieterin / dem Vermieter abgesagt" in tenant.body
    assert "Die Besichtigungsgebühr wird erstattet." in tenant.body
    landlord = emails.cancelled(ctx, "landlord", by="landlord", refunded=True, timezone=TZ)
    assert "erstattet" not in landlord.body  # the fee is the tenant's business
    assert tenant.dedupe_key == f"viewing-cancelled:{ctx.viewing.id}:tenant"
    english = dataclasses.replace(ctx, tenant=dataclasses.replace(ctx.tenant, language="en"))
    mail = emails.cancelled(english, "tenant", by=None, refunded=True, timezone=TZ)
    assert mail.subject.startswith("Viewing cancelled")
    assert "the apartment viewing was cancelled.\n" in mail.body
    assert "The viewing fee will be refunded." in mail.body


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
