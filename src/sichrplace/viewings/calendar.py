"""Viewings as iCalendar (RFC 5545): the feed and the confirmation mail's attachment.

Pure: records in, bytes out. Each viewing is one VEVENT with a stable UID
(`viewing-<id>@sichrplace.de`), DTSTART/DTEND in Europe/Berlin (TZID, with its VTIMEZONE),
SEQUENCE from the row (bumped on confirmation and cancellation, so clients replace their
copy), STATUS CONFIRMED or CANCELLED, and the exact address as LOCATION (both parties are
entitled to it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC

from icalendar import Calendar, Event

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
    for context in contexts:
        cal.add_component(event_of(context, timezone))
    # The VTIMEZONE of every TZID used (none for an empty feed): clients need not know it.
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def feed(contexts: Iterable[ViewingContext], *, timezone: str) -> bytes:
    return calendar_of(contexts, timezone=timezone, name="SichrPlace: Besichtigungen")


def attachment(context: ViewingContext, *, timezone: str) -> bytes:
    """One viewing as the .ics file a mail carries."""
    return calendar_of([context], timezone=timezone, name="SichrPlace: Besichtigung")
