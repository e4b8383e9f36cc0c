"""The landlord's pages: their listings, create and edit (API errors at the fields, typed values
kept), photos, viewing slots in Berlin time, incoming viewings, contracts drafted and sent.
Everything is checked against the public API afterwards (the pages use nothing else)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from sichrplace.web.pages import landlord_forms as forms
from sichrplace.web.pages.listing import listing_path
from tests.contracts.conftest import insert_viewing
from tests.helpers.members import Member, create_member
from tests.listings.conftest import listing_body, replica_caught_up
from tests.media.conftest import photo
from tests.viewings.conftest import (  # noqa: F401 - fixtures
    Payments,
    app_url,
    book,
    create_slot,
    pay,
    payments,
    stripe_fake,
)
from tests.web.conftest import csrf_token, post_form, sign_in

API = "/api/v1"
_INLINE_CODE = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", re.I)
LISTINGS = "/vermieter/inserate"

# A filled-in "new listing" form as a landlord types it (German number formats).
FORM = {
    "title": "Helle Altbauwohnung mit Balkon",
    "description": "Ruhig, mit Einbauküche.",
    "street": "Oderberger Straße",
    "house_number": "7",
    "postal_code": "10435",
    "city": "Berlin",
    "district": "Prenzlauer Berg",
    "latitude": "52,5391",
    "longitude": "13,4078",
    "cold_rent": "1.234,50",
    "utilities": "210",
    "deposit": "3.000",
    "rooms": "2,5",
    "size_sqm": "64,5",
    "available_from": "2027-03-01",
    "energy_class": "C",
    "furnished": "1",
}


@pytest.fixture
async def landlord(db: Database, settings: Settings) -> Member:
    return await create_member(db, settings, "landlord", label="web-ll")


@pytest.fixture
async def tenant(db: Database, settings: Settings) -> Member:
    return await create_member(db, settings, "tenant", label="web-tn")


async def _listing(client: httpx.AsyncClient, owner: Member, **fields: Any) -> dict[str, Any]:
    r = await client.post(f"{API}/listings", json=listing_body(**fields), headers=owner.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _error_at(html: str, name: str) -> str:
    found = re.search(rf'<p class="error" id="e-{name}">([^<]*)</p>', html)
    assert found, f"no error at {name}"
    return found.group(1)


def _value_of(html: str, name: str) -> str:
    found = re.search(rf'<input id="f-{name}" name="{name}" type="[a-z]+" value="([^"]*)"', html)
    assert found, f"no input {name}"
    return found.group(1)


# --- who may open the pages -------------------------------------------------------------------


async def test_every_page_needs_a_signed_in_landlord(
    web: httpx.AsyncClient,
    client: httpx.AsyncClient,
    settings: Settings,
    landlord: Member,
    tenant: Member,
) -> None:
    listing = await _listing(client, landlord)
    pages = [
        LISTINGS,
        f"{LISTINGS}/neu",
        f"{LISTINGS}/{listing['id']}/bearbeiten",
        f"{LISTINGS}/{listing['id']}/termine",
        f"{LISTINGS}/{listing['id']}/archivieren",
        "/vermieter/besichtigungen",
        "/vermieter/vertraege",
        "/vermieter/vertraege/neu",
    ]
    for path in pages:
        anonymous = await web.get(path)
        assert anonymous.status_code == 303, path
        assert anonymous.headers["location"].startswith("/anmelden?next=")
    sign_in(web, settings, tenant)
    for path in pages:
        refused = await web.get(path)
        assert refused.status_code == 403, path
        assert refused.headers["content-type"].startswith("text/html")
    sign_in(web, settings, landlord)
    for path in pages:
        shown = await web.get(path)
        assert shown.status_code == 200, path
        assert _INLINE_CODE.search(shown.text) is None, path  # the strict CSP holds
        assert shown.text.count("<h1") == 1, path
        english = await web.get(path, headers={"Accept-Language": "en"})
        assert english.status_code == 200, path
        assert '<html lang="en">' in english.text


async def test_another_landlords_listing_is_not_found(
    web: httpx.AsyncClient,
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    landlord: Member,
) -> None:
    other = await create_member(db, settings, "landlord", label="web-ll2")
    listing = await _listing(client, other)
    sign_in(web, settings, landlord)
    for suffix in ("bearbeiten", "termine", "archivieren"):
        assert (await web.get(f"{LISTINGS}/{listing['id']}/{suffix}")).status_code == 404
    assert (await web.get(f"{LISTINGS}/not-an-id/bearbeiten")).status_code == 404


# --- my listings, create, edit, archive -------------------------------------------------------


async def test_my_listings_shows_status_rent_and_links(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, landlord: Member
) -> None:
    listing = await _listing(client, landlord, title="Dachgeschoss mit Blick")
    r = await client.patch(
        f"{API}/listings/{listing['id']}", json={"status": "reserved"}, headers=landlord.headers
    )
    assert r.status_code == 200, r.text
    sign_in(web, settings, landlord)
    page = await web.get(LISTINGS)
    assert page.status_code == 200
    assert "Dachgeschoss mit Blick" in page.text
    assert "Reserviert" in page.text
    assert "1.170 €" in page.text  # warm rent: 950 € + 220 €
    assert f'href="{LISTINGS}/{listing["id"]}/bearbeiten"' in page.text
    assert f'href="{LISTINGS}/{listing["id"]}/termine"' in page.text
    assert f'href="{listing_path(listing)}"' in page.text  # the canonical public page
    filtered = await web.get(LISTINGS, params={"status": "archived"})
    assert "Dachgeschoss mit Blick" not in filtered.text


async def test_create_shows_the_apis_message_at_the_field_and_keeps_the_values(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, landlord: Member
) -> None:
    sign_in(web, settings, landlord)
    bad = {**FORM, "postal_code": "1043", "size_sqm": "viel"}
    r = await post_form(web, f"{LISTINGS}/neu", bad)
    assert r.status_code == 422
    # The API's own words for the postal code, in the page's language (German).
    api = await client.post(
        f"{API}/listings",
        json=listing_body(postal_code="1043"),
        headers={**landlord.headers, "Accept-Language": "de"},
    )
    (expected,) = [e["message"] for e in api.json()["errors"] if e["field"] == "postal_code"]
    assert _error_at(r.text, "postal_code") == expected
    assert _error_at(r.text, "size_sqm") == "Geben Sie eine Zahl ein, z. B. 2,5."
    assert "Bitte korrigieren Sie die markierten Felder." in r.text  # all shown at fields
    assert _value_of(r.text, "title") == FORM["title"]
    assert _value_of(r.text, "cold_rent") == "1.234,50"
    assert _value_of(r.text, "size_sqm") == "viel"
    assert 'name="furnished" value="1" checked' in r.text
    mine = await client.get(f"{API}/listings/mine", headers=landlord.headers)
    assert mine.json()["items"] == []  # nothing was stored


async def test_the_deposit_cap_is_shown_at_the_deposit(
    web: httpx.AsyncClient, settings: Settings, landlord: Member
) -> None:
    sign_in(web, settings, landlord)
    r = await post_form(web, f"{LISTINGS}/neu", {**FORM, "deposit": "5000"})
    assert r.status_code == 422
    assert "551" in _error_at(r.text, "deposit")


async def test_create_publishes_the_listing_in_cents(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, landlord: Member
) -> None:
    sign_in(web, settings, landlord)
    page = await web.get(f"{LISTINGS}/neu")
    data = {**FORM, "csrf_token": csrf_token(page.text)}
    r = await web.post(
        f"{LISTINGS}/neu",
        data={**data, "amenities": ["balcony", "cellar"]},
    )
    assert r.status_code == 303, r.text
    (item,) = (await client.get(f"{API}/listings/mine", headers=landlord.headers)).json()["items"]
    assert r.headers["location"] == f"{LISTINGS}/{item['id']}/bearbeiten?neu=1"
    listing = (await client.get(f"{API}/listings/{item['id']}", headers=landlord.headers)).json()
    assert listing["cold_rent_cents"] == 123_450
    assert listing["utilities_cents"] == 21_000
    assert listing["deposit_cents"] == 300_000
    assert listing["rooms"] == 2.5
    assert listing["size_sqm"] == 64.5
    assert listing["latitude"] == 52.5391
    assert listing["available_from"] == "2027-03-01"
    assert listing["amenities"] == ["balcony", "cellar"]
    assert listing["energy_class"] == "C"
    assert listing["district"] == "Prenzlauer Berg"
    assert listing["furnished"] is True
    assert listing["pets_allowed"] is False
    edit = await web.get(r.headers["location"])
    assert "Ihr Inserat ist online" in edit.text
    assert _value_of(edit.text, "cold_rent") == "1234,50"


async def test_edit_patches_what_changed(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, landlord: Member
) -> None:
    listing = await _listing(client, landlord)
    sign_in(web, settings, landlord)
    path = f"{LISTINGS}/{listing['id']}/bearbeiten"
    opened = await web.get(path)
    form = forms.listing_values_of(listing, "de")
    data: dict[str, Any] = {k: v for k, v in form.items() if not isinstance(v, bool | list)}
    data.update({k: "1" for k, v in form.items() if v is True})
    data.update(
        title="Sanierte Altbauwohnung",
        cold_rent="1000.50",
        status="reserved",
        amenities=form["amenities"],
        csrf_token=csrf_token(opened.text),
    )
    r = await web.post(path, data=data)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"{path}?gespeichert=1"
    after = (await client.get(f"{API}/listings/{listing['id']}", headers=landlord.headers)).json()
    assert after["title"] == "Sanierte Altbauwohnung"
    assert after["cold_rent_cents"] == 100_050
    assert after["status"] == "reserved"
    for same in ("description", "utilities_cents", "rooms", "amenities", "latitude"):
        assert after[same] == listing[same], same

    data.update(title="x", csrf_token=csrf_token(opened.text))
    wrong = await web.post(path, data=data)
    assert wrong.status_code == 422
    assert _error_at(wrong.text, "title")
    assert _value_of(wrong.text, "title") == "x"


async def test_archive_asks_first(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, landlord: Member
) -> None:
    listing = await _listing(client, landlord)
    sign_in(web, settings, landlord)
    path = f"{LISTINGS}/{listing['id']}/archivieren"
    confirm = await web.get(path)
    assert "Ja, archivieren" in confirm.text
    stored = await client.get(f"{API}/listings/{listing['id']}", headers=landlord.headers)
    assert stored.json()["status"] == "active"  # opening the question changes nothing
    r = await post_form(web, path, {})
    assert r.status_code == 303
    assert r.headers["location"] == f"{LISTINGS}?archiviert=1"
    stored = await client.get(f"{API}/listings/{listing['id']}", headers=landlord.headers)
    assert stored.json()["status"] == "archived"
    assert (await client.get(f"{API}/listings/{listing['id']}")).status_code == 404


# --- photos -----------------------------------------------------------------------------------


async def test_a_photo_is_uploaded_through_the_api(
    web: httpx.AsyncClient,
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    landlord: Member,
) -> None:
    listing = await _listing(client, landlord)
    sign_in(web, settings, landlord)
    edit = await web.get(f"{LISTINGS}/{listing['id']}/bearbeiten")
    assert 'enctype="multipart/form-data"' in edit.text
    assert 'accept="image/jpeg,image/png,image/webp"' in edit.text
    token = csrf_token(edit.text)
    target = f"{LISTINGS}/{listing['id']}/bilder"

    jpeg = photo(640, 480, "JPEG")
    r = await web.post(
        target, data={"csrf_token": token}, files={"file": ("wohnzimmer.jpg", jpeg, "image/jpeg")}
    )
    assert r.status_code == 303, r.text
    await replica_caught_up(db)  # an upload does not pin its author's reads to the primary
    images = (await client.get(f"{API}/listings/{listing['id']}/images")).json()
    assert [(i["width"], i["height"]) for i in images] == [(640, 480)]
    shown = await web.get(f"{LISTINGS}/{listing['id']}/bearbeiten?bild=1")
    assert "Foto 1" in shown.text

    text_file = ("notes.jpg", b"not an image at all", "image/jpeg")
    refused = await web.post(target, data={"csrf_token": token}, files={"file": text_file})
    assert refused.status_code == 422
    assert _error_at(refused.text, "file")
    await replica_caught_up(db)
    assert len((await client.get(f"{API}/listings/{listing['id']}/images")).json()) == 1

    no_token = await web.post(target, files={"file": ("a.jpg", jpeg, "image/jpeg")})
    assert no_token.status_code == 403


# --- slots ------------------------------------------------------------------------------------


@pytest.mark.parametrize("days_ahead", [10, 120])  # slots are bookable up to 180 days ahead
async def test_a_slot_is_added_in_berlin_time_and_deleted(
    web: httpx.AsyncClient,
    client: httpx.AsyncClient,
    settings: Settings,
    landlord: Member,
    days_ahead: int,
) -> None:
    listing = await _listing(client, landlord)
    sign_in(web, settings, landlord)
    path = f"{LISTINGS}/{listing['id']}/termine"
    on = date.today() + timedelta(days=days_ahead)
    offset = datetime.combine(on, time(18, 30), tzinfo=ZoneInfo("Europe/Berlin")).strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"  # +0100 in winter, +0200 in summer
    r = await post_form(web, path, {"date": on.isoformat(), "start": "18:30", "duration": "45"})
    assert r.status_code == 303, r.text
    slots = f"{API}/listings/{listing['id']}/slots"
    # As the landlord: their own writes are read from the primary (the replica may lag).
    (slot,) = (await client.get(slots, headers=landlord.headers)).json()["items"]
    assert slot["starts_at"] == f"{on.isoformat()}T18:30:00{offset}"
    assert slot["ends_at"] == f"{on.isoformat()}T19:15:00{offset}"
    page = await web.get(path)
    assert "18:30" in page.text
    assert f"/termine/{slot['id']}/loeschen" in page.text

    overlap = await post_form(
        web, path, {"date": on.isoformat(), "start": "19:00", "duration": "30"}
    )
    assert overlap.status_code == 409
    assert 'class="alert"' in overlap.text

    bad = await post_form(web, path, {"date": on.isoformat(), "start": "abends", "duration": "30"})
    assert bad.status_code == 422
    assert _error_at(bad.text, "start") == "Geben Sie eine Uhrzeit als HH:MM ein."

    gone = await post_form(web, path, {}, action=f"{path}/{slot['id']}/loeschen")
    assert gone.status_code == 303
    assert (await client.get(slots, headers=landlord.headers)).json()["items"] == []


# --- incoming viewings ------------------------------------------------------------------------


async def test_incoming_viewings_show_a_booking_and_let_the_landlord_act(
    web: httpx.AsyncClient,
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    landlord: Member,
    tenant: Member,
    payments: Payments,  # noqa: F811
) -> None:
    listing = await _listing(client, landlord, title="Besichtigung im Altbau")
    slot = await create_slot(client, landlord, listing["id"])
    booked = await book(client, tenant, slot["id"], message="Ich komme mit meiner Partnerin.")
    assert booked.status_code == 201, booked.text
    past = await insert_viewing(db, listing["id"], tenant.id, landlord.id, "confirmed")

    sign_in(web, settings, landlord)
    page = await web.get("/vermieter/besichtigungen")
    assert page.status_code == 200
    assert "Besichtigung im Altbau" in page.text
    assert "Zahlung ausstehend" in page.text
    assert "Ich komme mit meiner Partnerin." in page.text
    tenant_name = (await client.get("/api/v1/me", headers=tenant.headers)).json()["full_name"]
    assert tenant_name in page.text  # who booked
    assert f"/vermieter/besichtigungen/{booked.json()['id']}/absagen" in page.text
    assert f"/vermieter/besichtigungen/{past}/abschliessen" in page.text  # its slot has begun
    assert f"/vermieter/besichtigungen/{booked.json()['id']}/abschliessen" not in page.text

    done = await post_form(
        web,
        "/vermieter/besichtigungen",
        {},
        action=f"/vermieter/besichtigungen/{past}/abschliessen",
    )
    assert done.status_code == 303
    viewing = await client.get(f"{API}/viewings/{past}", headers=landlord.headers)
    assert viewing.json()["status"] == "completed"

    cancel_path = f"/vermieter/besichtigungen/{booked.json()['id']}/absagen"
    cancelled = await post_form(web, cancel_path, {})
    assert cancelled.status_code == 303
    viewing = await client.get(f"{API}/viewings/{booked.json()['id']}", headers=tenant.headers)
    assert viewing.json()["status"] == "cancelled"


# --- contracts --------------------------------------------------------------------------------


async def test_a_contract_is_drafted_from_a_paid_viewing_and_sent(
    web: httpx.AsyncClient,
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    landlord: Member,
    tenant: Member,
    payments: Payments,  # noqa: F811
) -> None:
    listing = await _listing(client, landlord, title="Vertragswohnung")
    slot = await create_slot(client, landlord, listing["id"])
    booked = await book(client, tenant, slot["id"])
    assert booked.status_code == 201, booked.text
    confirmed = await pay(client, db, payments, tenant, booked.json())

    sign_in(web, settings, landlord)
    viewings = await web.get("/vermieter/besichtigungen")
    draft_link = f"/vermieter/vertraege/neu?viewing={confirmed['id']}"
    assert draft_link in viewings.text
    pick = await web.get("/vermieter/vertraege/neu")
    assert draft_link in pick.text

    form = await web.get(draft_link)
    assert _value_of(form.text, "cold_rent") == "950"  # from the listing
    assert _value_of(form.text, "start_date") == "2027-01-01"
    values = {
        "viewing_id": confirmed["id"],
        "start_date": "01.02.2027",
        "end_date": "",
        "cold_rent": "950",
        "utilities": "220",
        "deposit": "9.999",
        "deposit_plan": "three_parts",
    }
    too_much = await post_form(web, draft_link, values, action="/vermieter/vertraege/neu")
    assert too_much.status_code == 422
    assert "551" in _error_at(too_much.text, "deposit")
    assert _value_of(too_much.text, "deposit") == "9.999"

    values["deposit"] = "2.850"
    r = await post_form(web, draft_link, values, action="/vermieter/vertraege/neu")
    assert r.status_code == 303, r.text
    contract_id = urlsplit(r.headers["location"]).path.rsplit("/", 1)[-1]
    assert r.headers["location"] == f"/vertraege/{contract_id}"
    contract = (await client.get(f"{API}/contracts/{contract_id}", headers=landlord.headers)).json()
    assert contract["status"] == "draft"
    assert contract["viewing_id"] == confirmed["id"]
    assert contract["start_date"] == "2027-02-01"
    assert contract["end_date"] is None
    assert (contract["cold_rent_cents"], contract["deposit_cents"]) == (95_000, 285_000)
    assert contract["deposit_plan"] == "three_parts"

    overview = await web.get("/vermieter/vertraege")
    assert "Vertragswohnung" in overview.text
    assert f"/vermieter/vertraege/{contract_id}/senden" in overview.text
    sent = await post_form(
        web, "/vermieter/vertraege", {}, action=f"/vermieter/vertraege/{contract_id}/senden"
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/vertraege/{contract_id}"
    contract = (await client.get(f"{API}/contracts/{contract_id}", headers=landlord.headers)).json()
    assert contract["status"] == "sent"
    assert contract["document_sha256"]
