"""Fixtures of the web pages' tests: an HTTP client with a cookie jar against the in-process
app (pages and their in-process API calls run this tree's code), signed in as a member by its
session cookie, and a real browser (Debian's chromium through Playwright) against the stack.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sichrplace.config import Settings
from sichrplace.web.session import CookieNames
from tests.helpers.members import Member

CHROMIUM = os.environ.get("SICHRPLACE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser_args() -> list[str]:
    """Chromium as root in a container, on a machine without internet: no sandbox, no
    background traffic, every host but this one unresolvable."""
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]


@pytest.fixture
async def web(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client of the pages (https: the cookies are Secure), its own jar."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


def cookies(settings: Settings) -> CookieNames:
    return CookieNames.for_settings(settings.web)


def sign_in(client: httpx.AsyncClient, settings: Settings, member: Member) -> None:
    """Put the member's access token where a login puts it (the session cookie)."""
    token = member.headers["Authorization"].removeprefix("Bearer ")
    client.cookies.set(cookies(settings).access, token)


def csrf_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def post_form(
    client: httpx.AsyncClient, page: str, data: dict[str, str], *, action: str | None = None
) -> httpx.Response:
    """Open `page`, then post `data` with its CSRF token to `action` (default: the page)."""
    opened = await client.get(page)
    assert opened.status_code == 200, opened.text
    return await client.post(action or page, data={**data, "csrf_token": csrf_token(opened.text)})


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    """Debian's chromium, headless, through Playwright (its own download cannot be reached)."""
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI") == "true":
            raise AssertionError(f"{CHROMIUM} is missing: scripts/test.sh installs chromium")
        pytest.skip("Debian's chromium is not installed (scripts/bootstrap.sh --browser)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=browser_args())
        yield launched
        await launched.close()


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


async def axe_violations(page: object, settings: Settings) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (the built axe
    bundle is one of our /static/ files, so the page's CSP lets it load)."""
    from playwright.async_api import Page

    from sichrplace.web import assets

    assert isinstance(page, Page)
    await page.add_script_tag(url=assets.url_of(settings.web.static_dir, "axe.js"))
    found = await page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))",
        AXE_TAGS,
    )
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


async def signed_in_context(
    browser: Any, stack_url: str, settings: Settings, member: Member
) -> Any:
    """A browser context signed in as `member` by the access cookie a login would set."""
    context = await browser.new_context(base_url=stack_url, locale="de-DE")
    token = member.headers["Authorization"].removeprefix("Bearer ")
    await context.add_cookies(
        [
            {
                "name": cookies(settings).access,
                "value": token,
                "domain": "127.0.0.1",
                "path": "/",
                "secure": True,
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )
    return context
