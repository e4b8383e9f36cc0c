"""The account page (/konto): profile and language, notification preferences, the password,
logging out everywhere, the data export and deleting the account, each through the API."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.accounts.conftest import client_for
from tests.helpers.members import Member, create_member
from tests.privacy.conftest import Account, registered, rows, signed_in
from tests.web.conftest import cookies, csrf_token, post_form, sign_in

API = "/api/v1"


async def _me(client: httpx.AsyncClient, member: Member) -> httpx.Response:
    return await client.get(f"{API}/me", headers=member.headers)


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each cookie the response sets, with its whole Set-Cookie line."""
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


async def _web_account(
    web: httpx.AsyncClient, client: httpx.AsyncClient, db: Database, settings: Settings
) -> Account:
    """A registered account (a real password) signed in in the `web` browser."""
    account = await registered(client, db, settings, "tenant", "webacct")
    sign_in(web, settings, account.member)
    return account


async def test_the_account_page_needs_a_login(web: httpx.AsyncClient) -> None:
    for path in ("/konto", "/konto/export", "/konto/loeschen"):
        r = await web.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"] == f"/anmelden?next={path}"


async def test_the_account_page_shows_the_profile_and_every_form(
    web: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    member = await create_member(db, settings, "landlord", label="webkonto")
    sign_in(web, settings, member)
    r = await web.get("/konto")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "private, no-cache"
    html = r.text
    assert "<h1>Ihr Konto</h1>" in html
    assert member.email in html
    assert "Webkonto Test" in html
    assert "Vermieter" in html  # the role, in German
    assert "Noch nicht" in html  # the address is not confirmed
    for action in (
        "/konto/profil",
        "/konto/benachrichtigungen",
        "/konto/passwort",
        "/konto/abmelden-ueberall",
    ):
        form = re.search(rf'<form method="post" action="{action}(#[a-z]+)?".*?</form>', html, re.S)
        assert form, action
        assert 'name="csrf_token"' in form.group(0), action
    # Every input has its label.
    for input_id in re.findall(r'<(?:input|select) id="([^"]+)"', html):
        assert f'for="{input_id}"' in html or f'id="{input_id}" name=' in html, input_id
    for field_id in ("f-full_name", "f-language", "f-current_password", "f-new_password"):
        assert f'<label for="{field_id}"' in html, field_id
    assert re.search(r'<label class="check"><input type="checkbox" id="f-message_email"', html)
    assert 'href="/konto/export"' in html
    assert 'href="/konto/loeschen"' in html
    assert html.count("<h1") == 1


async def test_saving_the_profile_changes_name_and_language_at_once(
    web: httpx.AsyncClient, client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    member = await create_member(db, settings, "tenant", label="webprofil")
    sign_in(web, settings, member)
    r = await post_form(
        web, "/konto", {"full_name": "  Anna Neu ", "language": "en"}, action="/konto/profil"
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/konto?ok=profil#profile"
    language = _set_cookies(r)[cookies(settings).language]
    assert language.startswith(f"{cookies(settings).language}=en;")
    assert "Max-Age=31536000" in language

    me = (await _me(client, member)).json()
    assert (me["full_name"], me["language"]) == ("Anna Neu", "en")
    page = await web.get(r.headers["location"])
    assert page.headers["content-language"] == "en"
    assert '<p class="notice" role="status">Your profile has been saved.</p>' in page.text
    assert 'value="Anna Neu"' in page.text
    assert '<option value="en" lang="en" selected>' in page.text


async def test_a_refused_profile_shows_the_api_message_at_the_field(
    web: httpx.AsyncClient, client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    member = await create_member(db, settings, "tenant", label="webprofilbad")
    sign_in(web, settings, member)
    r = await post_form(
        web, "/konto", {"full_name": "   ", "language": "de"}, action="/konto/profil"
    )
    assert r.status_code == 422
    assert re.search(
        r'id="f-full_name"[^>]*aria-invalid="true" aria-describedby="e-full_name"', r.text
    )
    assert '<p class="error" id="e-full_name">' in r.text
    assert cookies(settings).language not in _set_cookies(r)

    r = await post_form(
        web, "/konto", {"full_name": "Anna", "language": "fr"}, action="/konto/profil"
    )
    assert r.status_code == 422
    assert '<p class="error" id="e-language">' in r.text
    me = (await _me(client, member)).json()
    assert (me["full_name"], me["language"]) == ("Webprofilbad Test", "de")  # nothing stored


async def test_notification_preferences_are_switched_off_and_on(
    web: httpx.AsyncClient, client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    member = await create_member(db, settings, "tenant", label="webnotify")
    sign_in(web, settings, member)
    page = await web.get("/konto")
    assert re.search(r'id="f-message_email" name="message_email" checked>', page.text)

    # An unticked box is not posted at all: that is "off".
    r = await post_form(web, "/konto", {}, action="/konto/benachrichtigungen")
    assert r.status_code == 303
    assert r.headers["location"] == "/konto?ok=benachrichtigungen#notifications"
    me = (await _me(client, member)).json()
    assert me["notification_preferences"] == {"message": {"email": False}}
    page = await web.get(r.headers["location"])
    assert 'role="status">Ihre Benachrichtigungen wurden gespeichert.' in page.text
    assert re.search(r'id="f-message_email" name="message_email">', page.text)

    r = await post_form(web, "/konto", {"message_email": "on"}, action="/konto/benachrichtigungen")
    assert r.status_code == 303
    me = (await _me(client, member)).json()
    assert me["notification_preferences"] == {"message": {"email": True}}


async def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(
    web: httpx.AsyncClient, client: httpx.AsyncClient, app: FastAPI, db: Database,
    settings: Settings,
) -> None:  # fmt: skip
    account = await _web_account(web, client, db, settings)
    member = account.member
    other = await signed_in(db, settings, member.id, "tenant", member.email)

    wrong = await post_form(
        web,
        "/konto",
        {"current_password": "not-my-password", "new_password": "Ganz-Neu-2026-abc"},
        action="/konto/passwort",
    )
    assert wrong.status_code == 422
    assert re.search(r'id="f-current_password"[^>]*aria-invalid="true"', wrong.text)
    assert '<p class="error" id="e-current_password">' in wrong.text

    weak = await post_form(
        web,
        "/konto",
        {"current_password": account.password, "new_password": "kurz"},
        action="/konto/passwort",
    )
    assert weak.status_code == 422
    assert '<p class="error" id="e-new_password">' in weak.text

    new_password = f"Ganz-Neu-{uuid.uuid4().hex[:8]}"
    r = await post_form(
        web,
        "/konto",
        {"current_password": account.password, "new_password": new_password},
        action="/konto/passwort",
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/konto?ok=passwort#password"
    assert (await _me(client, other)).status_code == 401  # the other device is logged out
    page = await web.get(r.headers["location"])  # this browser is not
    assert page.status_code == 200
    assert "Ihr Passwort wurde geändert." in page.text
    async with client_for(app) as fresh:
        login = await fresh.post(
            f"{API}/auth/login", json={"email": member.email, "password": new_password}
        )
    assert login.status_code == 200, login.text


async def test_logging_out_everywhere_ends_every_session_and_this_browsers_cookies(
    web: httpx.AsyncClient, client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    member = await create_member(db, settings, "tenant", label="weballout")
    other = await signed_in(db, settings, member.id, "tenant", member.email)
    sign_in(web, settings, member)
    r = await post_form(web, "/konto", {}, action="/konto/abmelden-ueberall")
    assert r.status_code == 200, r.text
    assert "<h1>Überall abgemeldet</h1>" in r.text
    assert 'role="status"' in r.text
    names = cookies(settings)
    set_cookies = _set_cookies(r)
    for name in (names.access, names.refresh):
        assert "Max-Age=0" in set_cookies[name] or "expires=" in set_cookies[name].lower()
    assert (await _me(client, member)).status_code == 401
    assert (await _me(client, other)).status_code == 401
    assert (await web.get("/konto")).status_code == 303  # to the login page


async def test_the_data_export_is_a_json_download_never_cached(
    web: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    member = await create_member(db, settings, "tenant", label="webexport")
    sign_in(web, settings, member)
    r = await web.get("/konto/export")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    day = datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()
    assert r.headers["content-disposition"] == (
        f'attachment; filename="sichrplace-daten-{day}.json"'
    )
    assert r.headers["cache-control"] == "no-store"
    document = json.loads(r.content)
    assert document["user_id"] == str(member.id)
    assert document["profile"]["email"] == member.email
    assert document["retention"]


async def test_deleting_the_account_needs_the_password_then_says_goodbye(
    web: httpx.AsyncClient, client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    account = await _web_account(web, client, db, settings)
    member = account.member
    page = await web.get("/konto/loeschen")
    assert page.status_code == 200
    assert '<label for="f-password">' in page.text
    assert "10 Jahre" in page.text

    wrong = await post_form(web, "/konto/loeschen", {"password": "falsch"})
    assert wrong.status_code == 422  # the form's fault: the session goes on
    assert re.search(r'id="f-password"[^>]*aria-invalid="true"', wrong.text)
    assert '<p class="error" id="e-password">Das Passwort ist falsch.</p>' in wrong.text
    assert (await _me(client, member)).status_code == 200

    r = await post_form(web, "/konto/loeschen", {"password": account.password})
    assert r.status_code == 200, r.text
    assert "<h1>Ihr Konto wurde gelöscht</h1>" in r.text
    assert "10 Jahre" in r.text  # what the law makes us keep
    assert 'href="/anmelden"' in r.text  # shown signed out
    set_cookies = _set_cookies(r)
    assert cookies(settings).access in set_cookies
    assert (await _me(client, member)).status_code == 401
    [user] = await rows(db, "SELECT deleted_at FROM users WHERE id = :u", u=member.id)
    assert user["deleted_at"] is not None


@pytest.mark.parametrize(
    "action",
    [
        "/konto/profil",
        "/konto/benachrichtigungen",
        "/konto/passwort",
        "/konto/abmelden-ueberall",
        "/konto/loeschen",
    ],
)
async def test_every_account_form_needs_its_csrf_token(
    web: httpx.AsyncClient, client: httpx.AsyncClient, db: Database, settings: Settings,
    action: str,
) -> None:  # fmt: skip
    member = await create_member(db, settings, "tenant", label="webcsrf")
    sign_in(web, settings, member)
    token = csrf_token((await web.get("/konto")).text)
    assert token
    r = await web.post(action, data={"full_name": "X", "language": "en", "password": "x"})
    assert r.status_code == 403
    assert (await _me(client, member)).json()["full_name"] == "Webcsrf Test"
