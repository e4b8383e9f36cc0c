"""The message pages: writing to a listing's landlord (the listing page's contact form), the
conversation (oldest first, older pages, marked read when opened, live reload fragment),
answering (a double submit sends one message; with htmx a new list and a fresh form), the
conversation list with unread counts, archiving, and a stranger's 404."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.helpers.members import Member, create_member
from tests.listings.conftest import listing_body
from tests.messaging.conftest import (
    API,
    MakeUser,
    Stage,
    make_user,
    message_rows,
    sent,
    stage,
    started,
)
from tests.web.conftest import axe_violations, cookies, csrf_token
from tests.web.test_viewing_pages import hidden, sign_in

__all__ = ["make_user", "stage"]


async def conversations_of(
    client: httpx.AsyncClient, stage: Stage, who: str
) -> list[dict[str, Any]]:
    member = stage.tenant if who == "tenant" else stage.landlord
    r = await client.get(f"{API}/conversations", headers=member.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_writing_to_the_landlord_from_a_listing_opens_the_conversation(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, stage: Stage
) -> None:
    compose = f"/nachrichten/neu?listing={stage.listing_id}"
    assert (await web.get(compose)).headers["location"].startswith("/anmelden?next=")
    sign_in(web, settings, stage.tenant)
    page = await web.get(compose)
    assert page.status_code == 200
    assert 'action="/nachrichten/neu"' in page.text
    form = {
        "csrf_token": csrf_token(page.text),
        "listing_id": stage.listing_id,
        "client_message_id": hidden(page.text, "client_message_id"),
        "body": "Ist die Wohnung noch frei?",
    }
    first = await web.post("/nachrichten/neu", data=form)
    again = await web.post("/nachrichten/neu", data=form)  # the same form twice
    assert first.status_code == again.status_code == 303
    (conversation,) = await conversations_of(client, stage, "tenant")
    assert first.headers["location"] == again.headers["location"]
    assert first.headers["location"] == f"/nachrichten/{conversation['id']}"
    assert conversation["last_message"]["seq"] == 1  # one message, not two

    # Nothing to say: the existing conversation opens; a new one would need a message.
    empty = await web.post("/nachrichten/neu", data={**form, "body": "", "client_message_id": ""})
    assert empty.headers["location"] == f"/nachrichten/{conversation['id']}"

    opened = await web.get(first.headers["location"])
    assert opened.status_code == 200
    assert "Ist die Wohnung noch frei?" in opened.text
    assert 'data-live="message.created"' in opened.text
    assert f'hx-get="/nachrichten/{conversation["id"]}/liste"' in opened.text


async def test_an_empty_first_message_is_shown_next_to_the_field(
    web: httpx.AsyncClient, settings: Settings, stage: Stage
) -> None:
    sign_in(web, settings, stage.tenant)
    page = await web.get(f"/nachrichten/neu?listing={stage.listing_id}")
    r = await web.post(
        "/nachrichten/neu",
        data={"csrf_token": csrf_token(page.text), "listing_id": stage.listing_id, "body": " "},
    )
    assert r.status_code == 422
    assert 'id="e-contact-body"' in r.text


async def test_answering_twice_from_one_form_sends_once(
    web: httpx.AsyncClient,
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    stage: Stage,
) -> None:
    conversation = await started(client, stage)
    sign_in(web, settings, stage.landlord)
    page = await web.get(f"/nachrichten/{conversation['id']}")
    assert page.status_code == 200
    form = {
        "csrf_token": csrf_token(page.text),
        "client_message_id": hidden(page.text, "client_message_id"),
        "body": "Ja, gern. Wann passt es Ihnen?",
    }
    for _ in range(2):
        r = await web.post(f"/nachrichten/{conversation['id']}", data=form)
        assert r.status_code == 303
        assert r.headers["location"] == f"/nachrichten/{conversation['id']}"
    rows = await message_rows(db, conversation["id"])
    assert [row["body"] for row in rows] == ["Hallo!", "Ja, gern. Wann passt es Ihnen?"]

    # With htmx: the list with the new message, and a fresh form (a new id) out of band.
    swapped = await web.post(
        f"/nachrichten/{conversation['id']}",
        data={**form, "client_message_id": "htmx-1", "body": "Morgen um 18 Uhr?"},
        headers={"HX-Request": "true"},
    )
    assert swapped.status_code == 200
    assert "<html" not in swapped.text
    assert "Morgen um 18 Uhr?" in swapped.text
    assert 'hx-swap-oob="true"' in swapped.text
    fresh = hidden(swapped.text, "client_message_id")
    assert fresh not in ("htmx-1", form["client_message_id"])
    empty = await web.post(
        f"/nachrichten/{conversation['id']}",
        data={**form, "client_message_id": fresh, "body": "  "},
        headers={"HX-Request": "true"},
    )
    assert empty.status_code == 200  # htmx swaps only 2xx: the form shows the problem
    assert 'class="error" id="e-body-' in empty.text
    assert hidden(empty.text, "client_message_id") == fresh  # still the same message
    assert len(await message_rows(db, conversation["id"])) == 3


async def test_opening_marks_read_and_the_list_shows_unread_counts(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, stage: Stage
) -> None:
    conversation = await started(client, stage, "Erste Frage")
    await sent(client, stage.tenant, conversation["id"], "Zweite Frage")
    sign_in(web, settings, stage.landlord)
    overview = await web.get("/nachrichten")
    assert overview.status_code == 200
    assert "2 ungelesen" in overview.text
    assert 'data-live="message.created"' in overview.text
    assert "Msg Test" in overview.text  # the other participant
    assert "Helle 3-Zimmer-Wohnung mit Balkon" in overview.text
    fragment = await web.get(f"/nachrichten/{conversation['id']}/liste")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert fragment.text.index("Erste Frage") < fragment.text.index("Zweite Frage")
    (seen,) = await conversations_of(client, stage, "landlord")
    assert seen["unread_count"] == 0


async def test_older_messages_load_page_by_page(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, stage: Stage
) -> None:
    conversation = await started(client, stage, "Nachricht 0")
    for n in range(1, 35):  # from both sides: each stays under the send limit
        author = stage.tenant if n % 2 else stage.landlord
        await sent(client, author, conversation["id"], f"Nachricht {n}")
    sign_in(web, settings, stage.tenant)
    page = await web.get(f"/nachrichten/{conversation['id']}")
    assert "Nachricht 34" in page.text
    assert "Nachricht 4<" not in page.text  # 30 a page: 5 to 34
    before = re.search(r"/liste\?before=(\d+)", page.text)
    assert before is not None
    older = await web.get(f"/nachrichten/{conversation['id']}/liste?before={before.group(1)}")
    assert older.status_code == 200
    assert "Nachricht 0<" in older.text
    assert "Nachricht 5<" not in older.text
    assert older.text.lstrip().startswith("<li")


async def test_archiving_moves_the_conversation_to_the_archive_and_back(
    web: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings, stage: Stage
) -> None:
    conversation = await started(client, stage)
    sign_in(web, settings, stage.tenant)
    page = await web.get(f"/nachrichten/{conversation['id']}")
    token = csrf_token(page.text)
    r = await web.post(f"/nachrichten/{conversation['id']}/archivieren", data={"csrf_token": token})
    assert r.headers["location"] == "/nachrichten"
    assert f"/nachrichten/{conversation['id']}" not in (await web.get("/nachrichten")).text
    archive = await web.get("/nachrichten?archiviert=1")
    assert f"/nachrichten/{conversation['id']}" in archive.text
    r = await web.post(
        f"/nachrichten/{conversation['id']}/wiederherstellen", data={"csrf_token": token}
    )
    assert r.headers["location"] == f"/nachrichten/{conversation['id']}"
    assert f"/nachrichten/{conversation['id']}" in (await web.get("/nachrichten")).text


async def test_a_stranger_gets_404_pages(
    web: httpx.AsyncClient,
    client: httpx.AsyncClient,
    settings: Settings,
    stage: Stage,
    make_user: MakeUser,
) -> None:
    conversation = await started(client, stage)
    sign_in(web, settings, await make_user("tenant"))
    for path in ("", "/liste"):
        r = await web.get(f"/nachrichten/{conversation['id']}{path}")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert "Hallo!" not in r.text
    page = await web.get("/nachrichten")
    r = await web.post(
        f"/nachrichten/{conversation['id']}",
        data={"csrf_token": csrf_token(page.text), "client_message_id": "x1", "body": "Hi"},
    )
    assert r.status_code == 404
    assert (await web.get("/nachrichten/kein-uuid")).status_code == 404


# --- in a real browser, through nginx -------------------------------------------------------


async def _browser_page(browser: Any, stack_url: str, settings: Settings, member: Member) -> Any:
    """A page of a new browser context signed in as `member`, recording script errors and
    what the CSP blocked."""
    context = await browser.new_context(base_url=stack_url, locale="de-DE")
    context.set_default_timeout(15_000)
    token = member.headers["Authorization"].removeprefix("Bearer ")
    await context.add_cookies(
        [
            {
                "name": cookies(settings).access,
                "value": token,
                "domain": urlsplit(stack_url).hostname,
                "path": "/",
                "secure": True,
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )
    page = await context.new_page()
    page.problems = []
    page.on("pageerror", lambda exc: page.problems.append(str(exc)))
    page.on(
        "console",
        lambda m: page.problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return page


@pytest.mark.stack
async def test_in_a_browser_replies_arrive_live_and_answers_swap_in(
    browser: Any, settings: Settings, db: Database, stack_url: str
) -> None:
    landlord = await create_member(db, settings, "landlord", label="webmsg")
    tenant = await create_member(db, settings, "tenant", label="webmsg")
    async with httpx.AsyncClient(base_url=stack_url, timeout=30) as http:
        if (await http.get("/nachrichten")).status_code == 404:
            pytest.fail("the stack's API instances lack the message pages: restart them")
        r = await http.post(f"{API}/listings", json=listing_body(), headers=landlord.headers)
        assert r.status_code == 201, r.text
        r = await http.post(
            f"{API}/conversations",
            json={"listing_id": r.json()["id"], "body": "Guten Tag!"},
            headers=tenant.headers,
        )
        assert r.status_code == 201, r.text
        conversation_id = r.json()["id"]

        async def landlord_writes(text: str) -> None:
            sent = await http.post(
                f"{API}/conversations/{conversation_id}/messages",
                json={"body": text, "client_message_id": str(uuid.uuid4())},
                headers=landlord.headers,
            )
            assert sent.status_code == 201, sent.text

        page = await _browser_page(browser, stack_url, settings, tenant)
        await page.goto(f"/nachrichten/{conversation_id}")
        await page.wait_for_load_state("networkidle")
        await landlord_writes("Sehr gern, bis bald!")
        await page.get_by_text("Sehr gern, bis bald!").wait_for()  # no reload: the stream

        url, first_id = page.url, await _client_message_id(page)
        await page.get_by_label("Ihre Nachricht").fill("Bis Freitag!")
        await page.get_by_role("button", name="Senden", exact=True).click()
        await page.locator(".messages li", has_text="Bis Freitag!").wait_for()
        assert page.url == url  # swapped in, not a new page
        assert await page.get_by_label("Ihre Nachricht").input_value() == ""
        assert await _client_message_id(page) != first_id  # the next message is a new one
        violations = await axe_violations(page, settings)

        await page.goto("/nachrichten")
        await page.wait_for_load_state("networkidle")
        await landlord_writes("Noch eine Frage")
        await page.get_by_text("1 ungelesen").wait_for()
        await page.get_by_text("Noch eine Frage").wait_for()
        violations += await axe_violations(page, settings)
    assert page.problems == []
    assert violations == [], "\n".join(violations)
    await page.context.close()


async def _client_message_id(page: Any) -> str:
    value = await page.locator("#send-form input[name=client_message_id]").get_attribute("value")
    assert value
    return str(value)
