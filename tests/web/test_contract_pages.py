"""The contract pages: the list, one contract with the sign form only for a party whose
signature is due, signing (refusals shown on the form), the PDF through the page, the
deposit paid on the provider's page with the return waiting for the webhook, and 404 for
anyone but the parties."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from sichrplace.config import Settings
from tests.contracts.conftest import (
    API,
    Deal,
    MakeDeal,
    MakeUser,
    create_contract,
    make_deal,
    make_user,
    send,
    sign,
    signed_contract,
)
from tests.web.conftest import csrf_token
from tests.web.test_viewing_pages import back_from_provider, hidden, settled, sign_in

__all__ = ["make_deal", "make_user"]

SIGN_FORM = "/unterschreiben"


async def contract_of(client: httpx.AsyncClient, deal: Deal, contract_id: str) -> dict[str, Any]:
    r = await client.get(f"{API}/contracts/{contract_id}", headers=deal.tenant.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_the_sign_form_is_shown_only_to_a_party_whose_signature_is_due(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, make_deal: MakeDeal
) -> None:
    deal = await make_deal()
    contract = await create_contract(client, deal)
    page = f"/vertraege/{contract['id']}"
    for member in (deal.tenant, deal.landlord):  # a draft: nobody signs yet
        sign_in(web, settings, member)
        r = await web.get(page)
        assert r.status_code == 200
        assert SIGN_FORM not in r.text
        assert "Entwurf" in r.text
    sha = (await send(client, deal, contract["id"]))["document_sha256"]
    for member in (deal.tenant, deal.landlord):
        sign_in(web, settings, member)
        r = await web.get(page)
        assert SIGN_FORM in r.text
        assert hidden(r.text, "document_sha256") == sha
    assert (await sign(client, deal.tenant, contract["id"], sha)).status_code == 200
    sign_in(web, settings, deal.tenant)
    tenant_view = await web.get(page)
    assert SIGN_FORM not in tenant_view.text
    assert "Wartet auf die Unterschrift der anderen Seite" in tenant_view.text
    sign_in(web, settings, deal.landlord)
    assert SIGN_FORM in (await web.get(page)).text
    listed = await web.get("/vertraege")
    assert listed.status_code == 200
    assert page in listed.text
    assert "Ihre Unterschrift fehlt noch" in listed.text


async def test_signing_through_the_page(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, make_deal: MakeDeal
) -> None:
    deal = await make_deal()
    contract = await create_contract(client, deal)
    sha = (await send(client, deal, contract["id"]))["document_sha256"]
    page = f"/vertraege/{contract['id']}"
    sign_in(web, settings, deal.tenant)
    html = (await web.get(page)).text
    form = {"csrf_token": csrf_token(html), "full_name": "Erika Mustermann", "document_sha256": sha}

    unaccepted = await web.post(page + SIGN_FORM, data=form)
    assert unaccepted.status_code == 422
    assert 'id="e-accept"' in unaccepted.text
    other_document = await web.post(
        page + SIGN_FORM, data={**form, "accept": "yes", "document_sha256": "0" * 64}
    )
    assert other_document.status_code == 409
    assert 'class="alert"' in other_document.text

    done = await web.post(page + SIGN_FORM, data={**form, "accept": "yes"})
    assert done.status_code == 303
    assert done.headers["location"] == page + "?unterschrieben=1"
    got = (
        await client.get(f"{API}/contracts/{contract['id']}", headers=deal.tenant.headers)
    ).json()
    assert got["status"] == "partially_signed"
    (signature,) = got["signatures"]
    assert (signature["party"], signature["full_name"]) == ("tenant", "Erika Mustermann")
    shown = await web.get(done.headers["location"])
    assert "Ihre Unterschrift ist gespeichert" in shown.text
    assert "unterschrieben von Erika Mustermann" in shown.text


async def test_the_pdf_comes_through_the_page_to_the_parties_only(
    web: httpx.AsyncClient,
    client: httpx.AsyncClient,
    settings: Settings,
    make_deal: MakeDeal,
    make_user: MakeUser,
) -> None:
    deal = await make_deal()
    contract = await create_contract(client, deal)
    sha = (await send(client, deal, contract["id"]))["document_sha256"]
    sign_in(web, settings, deal.tenant)
    r = await web.get(f"/vertraege/{contract['id']}/dokument")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("inline")
    assert r.headers["x-document-sha256"] == sha
    assert r.content.startswith(b"%PDF")

    sign_in(web, settings, await make_user("tenant"))
    for path in ("", "/dokument", "/kaution"):
        stranger = await web.get(f"/vertraege/{contract['id']}{path}")
        assert stranger.status_code == 404, path
        assert stranger.headers["content-type"].startswith("text/html")
    assert (await web.get("/vertraege/kein-vertrag")).status_code == 404


async def test_the_deposit_is_paid_on_the_providers_page(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, make_deal: MakeDeal
) -> None:
    deal = await make_deal()
    contract = await signed_contract(client, deal)
    page = f"/vertraege/{contract['id']}"
    sign_in(web, settings, deal.landlord)
    assert "/kaution" not in (await web.get(page)).text  # the tenant pays
    sign_in(web, settings, deal.tenant)
    html = (await web.get(page)).text
    assert f'action="{page}/kaution"' in html
    form = {
        "csrf_token": csrf_token(html),
        "idempotency_key": hidden(html, "idempotency_key"),
        "deposit_plan": "once",
    }
    first = await web.post(f"{page}/kaution", data=form)
    again = await web.post(f"{page}/kaution", data=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert "/checkout/" in first.headers["location"]

    returned = await back_from_provider(web, first.headers["location"], "2.850,00 €")
    assert returned.status_code == 303
    target = urlsplit(returned.headers["location"])
    assert target.path == page
    payment_id = re.fullmatch(r"zahlung=([0-9a-f-]{36})", target.query)
    assert payment_id is not None
    final = await settled(web, f"{page}/kaution?zahlung={payment_id.group(1)}")
    assert "Kaution bezahlt" in final
    got = (
        await client.get(f"{API}/contracts/{contract['id']}", headers=deal.tenant.headers)
    ).json()
    assert got["deposit_status"] == "paid"
    assert f'action="{page}/kaution"' not in (await web.get(page)).text
