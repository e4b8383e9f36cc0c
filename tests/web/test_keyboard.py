"""Forms by keyboard alone, in a real browser: every control of every form on the pages below
is reached with Tab (in document order, none skipped, none trapped) and a form is sent with
Enter; the account's first steps (register, confirm, log in) are done without a mouse."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.helpers.mailbox import wait_for_mail
from tests.helpers.members import create_member
from tests.listings.conftest import listing_body
from tests.web.conftest import signed_in_context

API = "/api/v1"

pytestmark = pytest.mark.stack

# Public pages with forms; the signed-in ones are walked by the journey test.
FORM_PAGES = ["/", "/anmelden", "/registrieren", "/passwort-vergessen", "/suche"]

_CONTROLS = (
    "main form input:not([type=hidden]):not([disabled]), main form select:not([disabled]),"
    " main form textarea:not([disabled]), main form button:not([disabled])"
)


async def _focus_order(page: Any, limit: int = 400) -> list[str]:
    """The elements Tab visits from the top of the page (their ids or text), until it wraps."""
    seen: list[str] = []
    await page.keyboard.press("Tab")
    for _ in range(limit):
        key = await page.evaluate(
            "() => { const e = document.activeElement; if (!e || e === document.body) return null;"
            " if (!e.dataset.kbd) e.dataset.kbd = String(Math.random()); return e.dataset.kbd; }"
        )
        if seen and key == seen[-1]:  # a date input takes a Tab per part (day, month, year)
            await page.keyboard.press("Tab")
            continue
        if key is None or key in seen:
            break
        seen.append(key)
        await page.keyboard.press("Tab")
    return seen


@pytest.mark.parametrize("path", FORM_PAGES)
async def test_tab_reaches_every_control_of_every_form(
    browser: Any, stack_url: str, path: str
) -> None:
    context = await browser.new_context(base_url=stack_url, locale="de-DE")
    page = await context.new_page()
    await page.goto(path)
    controls = await page.locator(_CONTROLS).all()
    visible = [c for c in controls if await c.is_visible()]
    assert visible, f"no form controls on {path}"
    order = await _focus_order(page)
    reached_groups = set()
    for control in visible:  # a radio group is one stop (arrow keys move within it)
        if await control.get_attribute("data-kbd") in order:
            reached_groups.add(await control.evaluate("e => e.type === 'radio' ? e.name : null"))
    for control in visible:
        key = await control.get_attribute("data-kbd")
        name = await control.evaluate("e => e.name || e.id || e.textContent.trim()")
        is_radio = await control.evaluate("e => e.type === 'radio'")
        assert key in order or (is_radio and name in reached_groups), (
            f"{path}: Tab never reaches {name!r}"
        )
    await context.close()


async def _tab_to(page: Any, selector: str, limit: int = 60) -> None:
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


async def test_register_confirm_and_log_in_without_a_mouse(browser: Any, stack_url: str) -> None:
    context = await browser.new_context(base_url=stack_url, locale="de-DE")
    page = await context.new_page()
    email = f"kbd-{uuid.uuid4().hex[:10]}@example.com"
    password = "tastatur-Passwort-77"
    await page.goto("/registrieren")
    await _tab_to(page, "input[name=full_name]")
    await page.keyboard.type("Karl Tastatur")
    await page.keyboard.press("Tab")
    await page.keyboard.type(email)
    await page.keyboard.press("Tab")
    await page.keyboard.type(password)
    await page.keyboard.press("Tab")  # the role radios: tenant is checked
    await page.keyboard.press("Enter")  # sends the form
    await page.get_by_text("Bitte prüfen Sie Ihr Postfach").first.wait_for()

    mail = await wait_for_mail(email)
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    link = re.search(r"https?://\S+/verify-email\?token=\S+", body.get_content())
    assert link
    await page.goto(link.group(0))
    await _tab_to(page, "main button[type=submit]")
    await page.keyboard.press("Enter")
    await page.get_by_text("Ihre E-Mail-Adresse ist bestätigt.").wait_for()

    await page.goto("/anmelden")
    await _tab_to(page, "input[name=email]")
    await page.keyboard.type(email)
    await page.keyboard.press("Tab")
    await page.keyboard.type(password)
    await page.keyboard.press("Enter")
    await page.get_by_role("link", name="Konto").wait_for()
    await context.close()


async def _walk_forms(page: Any, path: str) -> None:
    await page.goto(path)
    controls = await page.locator(_CONTROLS).all()
    visible = [c for c in controls if await c.is_visible()]
    assert visible, f"no form controls on {path}"
    order = await _focus_order(page)
    groups = set()
    for control in visible:
        if await control.get_attribute("data-kbd") in order:
            groups.add(await control.evaluate("e => e.type === 'radio' ? e.name : null"))
    for control in visible:
        name = await control.evaluate("e => e.name || e.id || e.textContent.trim()")
        radio = await control.evaluate("e => e.type === 'radio'")
        reached = await control.get_attribute("data-kbd") in order
        assert reached or (radio and name in groups), f"{path}: Tab never reaches {name!r}"


async def test_the_signed_in_forms_are_reached_by_tab(
    browser: Any, stack_url: str, settings: Settings, db: Database
) -> None:
    """The tenant's booking, contact and account forms, the landlord's listing form."""
    landlord = await create_member(db, settings, "landlord", label="kbd")
    tenant = await create_member(db, settings, "tenant", label="kbd")
    async with httpx.AsyncClient(base_url=stack_url, timeout=30) as http:
        r = await http.post(f"{API}/listings", json=listing_body(), headers=landlord.headers)
        assert r.status_code == 201, r.text
        listing_id = r.json()["id"]
        starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
        slot = {
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=30)).isoformat(),
        }
        r = await http.post(
            f"{API}/listings/{listing_id}/slots", json=slot, headers=landlord.headers
        )
        assert r.status_code == 201, r.text
    for member, paths in (
        (tenant, [f"/wohnung/{listing_id}", "/konto"]),
        (landlord, ["/vermieter/inserate/neu", f"/vermieter/inserate/{listing_id}/termine"]),
    ):
        context = await signed_in_context(browser, stack_url, settings, member)
        page = await context.new_page()
        for path in paths:
            await _walk_forms(page, path)
        await context.close()
