"""The iCalendar rendering (RFC 5545), parsed back with the icalendar library: stable UIDs,
DTSTART/DTEND in Europe/Berlin with its VTIMEZONE, SEQUENCE, STATUS, German summary and the
exact address as location."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar

from sichrplace.viewings import calendar
from sichrplace.viewings.vocabulary import ViewingStatus
from tests.unit.viewings.rows import STARTS, context

BERLIN = "Europe/Berlin"


def _events(data: bytes) -> list[Any]:
    parsed = Calendar.from_ical(data)
    return list(parsed.walk("VEVENT"))


def test_a_confirmed_viewing_round_trips() -> None:
    data = calendar.feed([context()], timezone=BERLIN)
    parsed = Calendar.from_ical(data)
    assert str(parsed["VERSION"]) == "2.0"
    assert [str(tz["TZID"]) for tz in parsed.walk("VTIMEZONE")] == [BERLIN]
    (event,) = parsed.walk("VEVENT")
    assert str(event["UID"]) == "viewing-00000000-0000-4000-8000-0000000000aa@sichrplace.de"
    start = event.decoded("DTSTART")
    assert start == STARTS
    assert str(start.tzinfo) == BERLIN
    assert start.utcoffset() == timedelta(hours=1)
    assert event["DTSTART"].params["TZID"] == BERLIN
    assert event.decoded("DTEND") == STARTS + timedelta(minutes=30)
    assert event.decoded("SEQUENCE") == 1
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["SUMMARY"]) == "Wohnungsbesichtigung: Helle 3-Zimmer-Wohnung mit Balkon"
    assert str(event["LOCATION"]) == "Karl-Marx-Allee 12a, 10243 Berlin"
    assert b"DTSTART;TZID=Europe/Berlin:20261214T180000" in data


def test_a_cancelled_viewing_is_cancelled_with_a_higher_sequence() -> None:
    data = calendar.feed([context(status=ViewingStatus.CANCELLED, sequence=2)], timezone=BERLIN)
    (event,) = _events(data)
    assert str(event["STATUS"]) == "CANCELLED"
    assert event.decoded("SEQUENCE") == 2
    assert str(event["SUMMARY"]).startswith("Abgesagt: ")


def test_summer_time_and_several_events() -> None:
    summer = STARTS + timedelta(days=200)
    later = context(id=uuid.uuid4(), starts_at=summer, ends_at=summer + timedelta(hours=1))
    data = calendar.feed([context(), later], timezone=BERLIN)
    events = _events(data)
    assert len(events) == 2
    second = events[1].decoded("DTSTART")
    assert second == summer
    assert second.utcoffset() == timedelta(hours=2)
    assert second.tzinfo is not None
    assert second.astimezone(ZoneInfo(BERLIN)).hour == (summer + timedelta(hours=2)).hour


def test_an_empty_feed_is_a_valid_calendar() -> None:
    parsed = Calendar.from_ical(calendar.feed([], timezone=BERLIN))
    assert list(parsed.walk("VEVENT")) == []
    assert str(parsed["PRODID"]) == calendar.PRODID
