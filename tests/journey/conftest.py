"""Journey fixtures: a client of the running stack's public entry point (nginx, both API
instances, PgBouncer, the worker, the fake Stripe and the SMTP sink), members with real
access tokens, a payer who approves on the fake provider's checkout page as a browser would,
and polling with a deadline for what webhooks and jobs do after a response."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.helpers.members import Member, create_member

API = "/api/v1"
POLL_SECONDS = 0.05

T = TypeVar("T")
MakeMember = Callable[[str], Awaitable[Member]]


@pytest.fixture(scope="session")
async def stack(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The stack through nginx. Fails (not skips) when its API instances lack the booking
    routes: they run older code and `sichrplace stack restart api-1 api-2` loads this tree."""
    async with httpx.AsyncClient(base_url=settings.app.public_base_url, timeout=30) as client:
        paths = (await client.get("/openapi.json")).json().get("paths", {})
        needed = {
            f"{API}/viewings",
            f"{API}/payments/intents",
            f"{API}/contracts/{{contract_id}}/sign",
        }
        missing = needed - set(paths)
        if missing:
            pytest.fail(f"the stack's API instances lack {sorted(missing)}: restart them")
        yield client


@pytest.fixture
def make_member(db: Database, settings: Settings) -> MakeMember:
    async def make(role: str) -> Member:
        return await create_member(db, settings, role, label="journey")

    return make


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, *, within: float = 20
) -> T:
    """`probe()`'s first answer that is not None, polled every 50 ms until the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        found = await probe()
        if found is not None:
            return found
        if loop.time() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(POLL_SECONDS)


_FORM = re.compile(r'<form method="post" action="([^"]+/approve)">')


async def approve_in_browser(approval_url: str, *, amount_text: str) -> httpx.Response:
    """What a payer does: open the provider's checkout page (it shows the amount), press
    "Bezahlen" (a form POST) and be sent back to the return URL (303, not followed)."""
    async with httpx.AsyncClient(timeout=15, follow_redirects=False) as browser:
        page = await browser.get(approval_url)
        assert page.status_code == 200, page.text
        assert amount_text in page.text, page.text
        action = _FORM.search(page.text)
        assert action is not None, page.text
        return await browser.post(
            urljoin(approval_url, action.group(1)), data={"action": "approve"}
        )


def problem_slug(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    return str(body["type"]).rsplit("/", 1)[-1]
