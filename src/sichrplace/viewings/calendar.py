"""Viewings as iCalendar (RFC 5545): the feed and the confirmation mail's attachment.

Pure: records in, bytes out. Each viewing is one VEVENT with a stable UID
(`viewing-<id>@sichrplace.de`), DTSTART/DTEND in Europe/Berlin (TZID, with its VTIMEZONE),
SEQUENCE from the row (bumped on confirmation and cancellation, so clients replace their
copy), STATUS CONFIRMED or CANCELLED, and the exact address as LOCATION (both parties are
entitled to it).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from datetime import UTC

from icalendar import Calendar, Event, Timezone

from sichrplace.viewings import rules
from sichrplace.viewings.records import ViewingContext
from sichrplace.viewings.vocabulary import ViewingStatus

PRODID = "-//SichrPlace//Besichtigungen//DE"
UID_DOMAIN = "sichrplace.de"
CONTENT_TYPE = "text/calendar; charset=utf-8"


def uid_of(viewing_id: uuid.UUID) -> str:
    return f"viewing-{viewing_id}@{UID_DOMAIN}"


def event_of(context: ViewingContext, timezone: str) -> Event:
    viewing = context.viewing
    event = Event()
    event.add("uid", uid_of(viewing.id))
    event.add("dtstamp", viewing.updated_at.astimezone(UTC))
    event.add("last-modified", viewing.updated_at.astimezone(UTC))
    event.add("created", viewing.created_at.astimezone(UTC))
    event.add("dtstart", rules.local(viewing.starts_at, timezone))
    event.add("dtend", rules.local(viewing.ends_at, timezone))
    event.add("sequence", viewing.sequence)
    cancelled = viewing.status == ViewingStatus.CANCELLED
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add(
        "summary", f"{'Abgesagt: ' if cancelled else ''}Wohnungsbesichtigung: {context.title}"
    )
    event.add("location", context.address)
    event.add(
        "description",
        f"Besichtigung von „{context.title}“\n"
        f"Vermieter/in: {context.landlord.full_name}\n"
        f"Mieter/in: {context.tenant.full_name}\n\n"
        f"Viewing of “{context.title}” (landlord: {context.landlord.full_name}, "
        f"tenant: {context.tenant.full_name})",
    )
    event.add("transp", "OPAQUE")
    return event


def calendar_of(contexts: Iterable[ViewingContext], *, timezone: str, name: str) -> bytes:
    """A VCALENDAR with one VEVENT per viewing and the VTIMEZONE they refer to."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", timezone)
    events = [event_of(context, timezone) for context in contexts]
    for event in events:
        cal.add_component(event)
    text = bytes(cal.to_ical())
    if not events:
        return text
    # The VTIMEZONE of the TZID the events use (clients need not know it), as its last
    # component.
    return text.replace(_END, _vtimezone(timezone) + _END)


_END = b"END:VCALENDAR\r\n"


@functools.cache
def _vtimezone(timezone: str) -> bytes:
    # Derived from the tz database and serialized once per process: 5-13 ms of CPU each
    # time, a third of a payment webhook's (its confirmation mail carries an .ics).
    return bytes(Timezone.from_tzid(timezone).to_ical())


def feed(contexts: Iterable[ViewingContext], *, timezone: str) -> bytes:
    return calendar_of(contexts, timezone=timezone, name="SichrPlace: Besichtigungen")


def attachment(context: ViewingContext, *, timezone: str) -> bytes:
    """One viewing as the .ics file a mail carries."""
    return calendar_of([context], timezone=timezone, name="SichrPlace: Besichtigung")
