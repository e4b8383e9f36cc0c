"""Both parties are emailed, each in their own language, on confirmation (with the viewing as
an .ics attachment that the local SMTP sink stores and the icalendar library reads back) and
on cancellation."""

from __future__ import annotations

from email.message import EmailMessage

import httpx
import pytest
from icalendar import Calendar

from sichrplace.platform.db.engines import Database
from tests.helpers.mailbox import wait_for_mail
from tests.helpers.members import set_language
from tests.viewings.conftest import API, Payments, Stage, book, pay, run_mail_jobs

pytestmark = pytest.mark.usefixtures("payments", "in_process_jobs")


def _ics(msg: EmailMessage) -> Calendar:
    (part,) = [p for p in msg.iter_attachments() if p.get_filename() == "besichtigung.ics"]
    assert part.get_content_type() == "text/calendar"
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return Calendar.from_ical(data)


async def test_confirmation_and_cancellation_mails_reach_both_parties(
    client: httpx.AsyncClient, db: Database, stage: Stage, payments: Payments
) -> None:
    await set_language(db, stage.landlord.id, "en")  # the tenant stays German (the default)
    booked = (await book(client, stage.tenant, stage.slot["id"])).json()
    await pay(client, db, payments, stage.tenant, booked)
    viewing_id = booked["id"]
    await run_mail_jobs(
        db, [f"viewing-confirmed:{viewing_id}:tenant", f"viewing-confirmed:{viewing_id}:landlord"]
    )
    for member, subject, lines in (
        (
            stage.tenant,
            "Besichtigung bestätigt",
            ("Hallo ", "Ihre Wohnungsbesichtigung ist bestätigt.", "Vermieter/in: ", "Termin: "),
        ),
        (
            stage.landlord,
            "Viewing confirmed",
            ("Hello ", "Your apartment viewing is confirmed.", "Tenant: ", "When: "),
        ),
    ):
        msg = await wait_for_mail(member.email, subject_contains=subject)
        text_part = msg.get_body(preferencelist=("plain",))
        assert text_part is not None
        body = text_part.get_content()
        assert body.startswith(lines[0])
        for line in lines[1:]:
            assert line in body, body
        assert ("Your apartment" in body) != ("Ihre Wohnungsbesichtigung" in body)  # one language
        assert "Karl-Marx-Allee 12a, 10243 Berlin" in body
        (event,) = _ics(msg).walk("VEVENT")
        assert str(event["UID"]) == f"viewing-{viewing_id}@sichrplace.de"
        assert str(event["STATUS"]) == "CONFIRMED"
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"

    r = await client.post(f"{API}/viewings/{viewing_id}/cancel", headers=stage.landlord.headers)
    assert r.status_code == 200
    await run_mail_jobs(
        db, [f"viewing-cancelled:{viewing_id}:tenant", f"viewing-cancelled:{viewing_id}:landlord"]
    )
    tenant_mail = await wait_for_mail(stage.tenant.email, subject_contains="abgesagt")
    text_part = tenant_mail.get_body(preferencelist=("plain",))
    assert text_part is not None
    assert "erstattet" in text_part.get_content()  # the paid fee goes back
    assert tenant_mail["Content-Language"] == "de"
    (event,) = _ics(tenant_mail).walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED"
    assert event.decoded("SEQUENCE") == 2
    landlord_mail = await wait_for_mail(stage.landlord.email, subject_contains="Viewing cancelled")
    text_part = landlord_mail.get_body(preferencelist=("plain",))
    assert text_part is not None
    assert "the apartment viewing was cancelled by the landlord." in text_part.get_content()
    assert landlord_mail["Content-Language"] == "en"
