"""The calendar feed over HTTP: a secret URL per user (only its SHA-256 stored), rotation
and revocation (then 404), and the feed's events parsed with the icalendar library:
UID, DTSTART in Europe/Berlin and SEQUENCE round-trip; a cancelled viewing is CANCELLED."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy import text

from sichrplace.platform.db.engines import Database
from tests.helpers.members import Member
from tests.viewings.conftest import API, Payments, Stage, book, pay, slug

pytestmark = pytest.mark.usefixtures("payments")


async def _feed_url(client: httpx.AsyncClient, member: Member) -> str:
    r = await client.post(f"{API}/calendar/feed", headers=member.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["url"])


async def _events(client: httpx.AsyncClient, url: str) -> list[Any]:
    r = await client.get(urlsplit(url).path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    assert "no-store" in r.headers["cache-control"]
    return list(Calendar.from_ical(r.content).walk("VEVENT"))


async def test_the_feed_url_is_secret_rotatable_and_revocable(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    url = await _feed_url(client, stage.tenant)
    path = urlsplit(url).path
    assert path.startswith("/calendar/")
    assert path.endswith(".ics")
    token = path.removeprefix("/calendar/").removesuffix(".ics")
    async with db.primary.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT token_sha256 FROM calendar_feeds WHERE user_id = :u"),
                {"u": stage.tenant.id},
            )
        ).scalar_one()
    assert bytes(stored) == hashlib.sha256(token.encode()).digest()  # the hash, not the token
    assert await _events(client, url) == []

    rotated = await _feed_url(client, stage.tenant)
    assert rotated != url
    r = await client.get(path)
    assert r.status_code == 404
    assert slug(r) == "calendar-feed-not-found"
    assert await _events(client, rotated) == []

    r = await client.delete(f"{API}/calendar/feed", headers=stage.tenant.headers)
    assert r.status_code == 204
    assert (await client.get(urlsplit(rotated).path)).status_code == 404
    r = await client.delete(f"{API}/calendar/feed", headers=stage.tenant.headers)
    assert r.status_code == 204  # idempotent
    for unknown in ("/calendar/nichtda.ics", "/calendar/" + "x" * 300 + ".ics"):
        r = await client.get(unknown)
        assert r.status_code == 404
        assert slug(r) == "calendar-feed-not-found"
    assert (await client.post(f"{API}/calendar/feed")).status_code == 401


async def test_both_parties_see_the_viewing_confirmed_then_cancelled(
    client: httpx.AsyncClient, db: Database, stage: Stage, payments: Payments
) -> None:
    tenant_url = await _feed_url(client, stage.tenant)
    landlord_url = await _feed_url(client, stage.landlord)
    booked = (await book(client, stage.tenant, stage.slot["id"])).json()
    assert await _events(client, tenant_url) == []  # not an appointment until paid
    await pay(client, db, payments, stage.tenant, booked)
    uid = f"viewing-{booked['id']}@sichrplace.de"
    starts = datetime.fromisoformat(stage.slot["starts_at"])

    for url in (tenant_url, landlord_url):
        (event,) = await _events(client, url)
        assert str(event["UID"]) == uid
        dtstart = event.decoded("DTSTART")
        assert dtstart == starts
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert str(dtstart.tzinfo) == "Europe/Berlin"
        assert dtstart.isoformat() == stage.slot["starts_at"]  # the same wall time and offset
        assert int(event["SEQUENCE"]) == 1
        assert str(event["STATUS"]) == "CONFIRMED"
        assert str(event["LOCATION"]) == "Karl-Marx-Allee 12a, 10243 Berlin"
        assert str(event["SUMMARY"]).startswith("Wohnungsbesichtigung: ")

    r = await client.post(f"{API}/viewings/{booked['id']}/cancel", headers=stage.tenant.headers)
    assert r.status_code == 200
    for url in (tenant_url, landlord_url):
        (event,) = await _events(client, url)
        assert str(event["UID"]) == uid  # the same event, replaced
        assert int(event["SEQUENCE"]) == 2
        assert str(event["STATUS"]) == "CANCELLED"
