"""The tenant's viewing pages: the slots of a listing and booking one (a double submit books
once), the provider's approval page and the return to a page that waits for the webhook's
confirmation, the list of viewings, paying again, cancelling, and a stranger's 404.

The payment goes to the fake provider the in-process app is wired to (the stack's fake Stripe,
whose signed webhooks reach the stack's API through nginx; or the viewings tests' own fake
when they ran first in this session): the page and the assertions take whatever approval URL
the API gave."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from sichrplace.config import Settings
from tests.helpers.members import Member
from tests.journey.conftest import approve_in_browser, eventually
from tests.viewings.conftest import API, MakeUser, Stage, book, make_user, stage
from tests.web.conftest import csrf_token, sign_in

__all__ = ["make_user", "stage"]

_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field on the page"
    return found.group(1)


async def booking_page(web: httpx.AsyncClient, stage: Stage) -> str:
    """The listing's booking page once its slot is listed (free slots come from the replica)."""

    async def listed() -> str | None:
        r = await web.get("/besichtigungen/neu", params={"listing": stage.listing_id})
        assert r.status_code == 200, r.text
        return r.text if stage.slot["id"] in r.text else None

    return await eventually(listed, "the slot on the booking page")


async def viewings_of(client: httpx.AsyncClient, member: Member) -> list[dict[str, Any]]:
    r = await client.get(f"{API}/viewings", headers=member.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def back_from_provider(
    web: httpx.AsyncClient, approval_url: str, amount_text: str
) -> httpx.Response:
    """Approve on the provider's page as a browser would and follow its redirect back to us
    (the return URL is on the site's public address: the same path, asked in-process)."""
    back = await approve_in_browser(approval_url, amount_text=amount_text)
    assert back.status_code == 303, back.text
    target = urlsplit(back.headers["location"])
    return await web.get(f"{target.path}?{target.query}")


async def settled(web: httpx.AsyncClient, fragment: str) -> str:
    """The polled fragment's last answer: 286 (htmx stops polling) once settled."""

    async def done() -> str | None:
        r = await web.get(fragment, headers={"HX-Request": "true"})
        assert r.status_code in (200, 286), r.text
        assert "<html" not in r.text
        return r.text if r.status_code == 286 else None

    return await eventually(done, f"{fragment} settled")


async def test_the_slots_partial_offers_login_to_visitors_and_nothing_to_the_owner(
    web: httpx.AsyncClient, settings: Settings, stage: Stage
) -> None:
    path = f"/besichtigungen/neu?listing={stage.listing_id}"
    anonymous = await web.get(path)
    assert anonymous.status_code == 200
    assert 'action="/besichtigungen/buchen"' not in anonymous.text
    assert "/anmelden?next=/besichtigungen/neu%3Flisting%3D" in anonymous.text
    sign_in(web, settings, stage.landlord)
    own = await web.get(path)
    assert "Das ist Ihr Inserat" in own.text
    assert 'action="/besichtigungen/buchen"' not in own.text


async def test_booking_twice_from_one_form_books_once_and_goes_to_the_provider(
    web: httpx.AsyncClient,
    client: httpx.AsyncClient,
    settings: Settings,
    stage: Stage,
) -> None:
    sign_in(web, settings, stage.tenant)
    html = await booking_page(web, stage)
    assert 'action="/besichtigungen/buchen"' in html
    form = {
        "csrf_token": csrf_token(html),
        "listing_id": stage.listing_id,
        "slot_id": stage.slot["id"],
        "idempotency_key": hidden(html, "idempotency_key"),
        "message": "Ich komme gern.",
    }
    first = await web.post("/besichtigungen/buchen", data=form)
    again = await web.post("/besichtigungen/buchen", data=form)
    assert first.status_code == again.status_code == 303, first.text
    (viewing,) = await viewings_of(client, stage.tenant)
    detail = await client.get(f"{API}/viewings/{viewing['id']}", headers=stage.tenant.headers)
    payment = detail.json()["payment"]
    assert first.headers["location"] == again.headers["location"] == payment["approval_url"]
    assert "/checkout/" in first.headers["location"]

    # Approved on the provider's page: back here, the viewing's page waits for the webhook.
    returned = await back_from_provider(web, payment["approval_url"], "25,00 €")
    assert returned.status_code == 303
    target = f"/besichtigungen/{viewing['id']}?zahlung={payment['id']}"
    assert returned.headers["location"] == target
    page = await web.get(target)
    assert page.status_code == 200
    assert 'data-live="viewing.updated"' in page.text
    if "Bestätigt" not in page.text:  # the webhook may have been quicker than this request
        assert 'hx-trigger="every 2s, live"' in page.text
        assert "Ihre Zahlung wird bestätigt" in page.text
    final = await settled(web, f"/besichtigungen/{viewing['id']}/status?zahlung={payment['id']}")
    assert "Bestätigt" in final
    assert "Bezahlt" in final


async def test_a_refused_booking_shows_the_problem_on_the_form(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, stage: Stage
) -> None:
    sign_in(web, settings, stage.tenant)
    html = await booking_page(web, stage)
    taken = await book(client, stage.tenant, stage.slot["id"])  # booked meanwhile (same tenant)
    assert taken.status_code == 201, taken.text
    r = await web.post(
        "/besichtigungen/buchen",
        data={
            "csrf_token": csrf_token(html),
            "listing_id": stage.listing_id,
            "slot_id": stage.slot["id"],
            "idempotency_key": hidden(html, "idempotency_key"),
        },
    )
    assert r.status_code == 409
    assert 'class="alert"' in r.text
    assert len(await viewings_of(client, stage.tenant)) == 1


async def test_the_list_pays_again_and_cancels(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, stage: Stage
) -> None:
    booked = (await book(client, stage.tenant, stage.slot["id"])).json()
    sign_in(web, settings, stage.tenant)
    listing = await web.get("/besichtigungen")
    assert listing.status_code == 200
    assert f'action="/besichtigungen/{booked["id"]}/absagen"' in listing.text
    assert "Zahlung ausstehend" in listing.text
    assert f"/wohnung/{stage.listing_id}" in listing.text

    pay = await web.post(
        f"/besichtigungen/{booked['id']}/bezahlen",
        data={"csrf_token": csrf_token(listing.text), "idempotency_key": "k" * 20},
    )
    assert pay.status_code == 303
    assert pay.headers["location"] == booked["payment"]["approval_url"]  # the open payment

    cancel = await web.post(
        f"/besichtigungen/{booked['id']}/absagen",
        data={"csrf_token": csrf_token(listing.text), "next": "/besichtigungen"},
    )
    assert cancel.status_code == 303
    assert cancel.headers["location"] == "/besichtigungen"
    (viewing,) = await viewings_of(client, stage.tenant)
    assert viewing["status"] == "cancelled"
    after = await web.get(f"/besichtigungen/{booked['id']}")
    assert "Abgesagt" in after.text
    assert "/absagen" not in after.text


async def test_a_strangers_viewing_is_a_404_page(
    web: httpx.AsyncClient,
    client: httpx.AsyncClient,
    settings: Settings,
    stage: Stage,
    make_user: MakeUser,
) -> None:
    booked = (await book(client, stage.tenant, stage.slot["id"])).json()
    sign_in(web, settings, await make_user("tenant"))
    for path in (f"/besichtigungen/{booked['id']}", f"/besichtigungen/{booked['id']}/status"):
        r = await web.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html")
    assert (await web.get("/besichtigungen/not-an-id")).status_code == 404


@pytest.mark.parametrize("path", ["/zahlung/zurueck", "/viewings"])
async def test_a_return_without_a_payment_under_way_goes_to_the_list(
    web: httpx.AsyncClient, settings: Settings, stage: Stage, path: str
) -> None:
    assert (await web.get(path)).headers["location"].startswith("/anmelden?next=")
    sign_in(web, settings, stage.tenant)
    r = await web.get(path, params={"redirect_status": "succeeded"})
    assert r.status_code == 303
    assert r.headers["location"] == "/besichtigungen"
