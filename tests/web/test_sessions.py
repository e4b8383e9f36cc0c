"""The browser's session: a login sets both cookies; an expired access cookie is refreshed by
the next page, once per browser however many requests ask at the same moment (a replayed
refresh token would end the whole session, ADR 0009); /sitzung does just that for the live
updates before they reopen their stream."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.privacy.conftest import registered
from tests.web.conftest import cookies, post_form


@pytest.fixture
async def browser_http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A browser from an address of its own (login throttling counts per address)."""
    address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http


async def _logged_in(
    browser_http: httpx.AsyncClient, client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    account = await registered(client, db, settings, "tenant", "websession")
    r = await post_form(
        browser_http,
        "/anmelden",
        {"email": account.member.email, "password": account.password, "next": "/konto"},
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/konto"
    names = cookies(settings)
    assert browser_http.cookies.get(names.access)
    assert browser_http.cookies.get(names.refresh)
    set_cookie = " ".join(r.headers.get_list("set-cookie"))
    assert "HttpOnly" in set_cookie
    assert "Secure" in set_cookie
    assert "SameSite=lax" in set_cookie


async def test_parallel_requests_with_an_expired_access_cookie_refresh_once(
    browser_http: httpx.AsyncClient, client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    await _logged_in(browser_http, client, db, settings)
    names = cookies(settings)
    refresh = browser_http.cookies.get(names.refresh)
    browser_http.cookies.set(names.access, "expired-or-garbage")

    answers = await asyncio.gather(*(browser_http.get("/sitzung") for _ in range(6)))
    assert {a.status_code for a in answers} == {204}
    new_access = {a.cookies.get(names.access) for a in answers}
    new_refresh = {a.cookies.get(names.refresh) for a in answers}
    assert len(new_access) == 1  # one refresh, its pair handed to every request
    assert None not in new_access
    assert new_refresh != {refresh}
    assert len(new_refresh) == 1

    # The session lives on with the new pair (a replayed refresh token would have ended it).
    browser_http.cookies.set(names.access, new_access.pop())
    browser_http.cookies.set(names.refresh, new_refresh.pop())
    account = await browser_http.get("/konto")
    assert account.status_code == 200
    assert "Abmelden" in account.text


async def test_a_session_that_cannot_be_refreshed_is_forgotten(
    browser_http: httpx.AsyncClient, settings: Settings
) -> None:
    names = cookies(settings)
    browser_http.cookies.set(names.access, "expired-or-garbage")
    browser_http.cookies.set(names.refresh, "not-a-refresh-token")
    r = await browser_http.get("/sitzung")
    assert r.status_code == 204
    cleared = " ".join(r.headers.get_list("set-cookie"))
    assert f'{names.access}=""' in cleared
    assert f'{names.refresh}=""' in cleared
    assert (await browser_http.get("/konto")).status_code == 303  # to the login page
