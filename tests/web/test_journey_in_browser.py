"""The whole journey in a real browser (Debian's chromium through Playwright) through nginx:
register → verify through the mailed link → log in → search → listing → book a slot → pay on
the fake provider's page → viewing confirmed → message the landlord and see the reply arrive
live → the landlord drafts and sends the contract → both sign → the deposit is paid.

A screenshot of each step is saved under build/test-artifacts/journey/ (kept by CI as the
test's artifacts). The landlord's side runs in a second browser context, signed in by the
access cookie a login would set (the landlord's login page is tested elsewhere).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.helpers.mailbox import wait_for_mail
from tests.helpers.members import Member, create_member
from tests.journey.conftest import API, eventually
from tests.listings.conftest import listing_body
from tests.web.conftest import ARTIFACTS, axe_violations, signed_in_context

pytestmark = pytest.mark.stack

SHOTS = ARTIFACTS / "journey"
TIMEOUT_MS = 20_000


class Steps:
    """Numbered screenshots of the journey's steps, and axe-core's verdict on each of our
    pages (the provider's checkout page is not ours)."""

    def __init__(self, settings: Settings) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        for old in SHOTS.glob("*.png"):
            old.unlink()
        self.n = 0
        self.settings = settings
        self.violations: list[str] = []

    async def shot(self, page: Any, name: str, *, ours: bool = True) -> None:
        self.n += 1
        await page.screenshot(path=str(SHOTS / f"{self.n:02d}-{name}.png"), full_page=True)
        if ours:
            self.violations += await axe_violations(page, self.settings)


@pytest.fixture
async def stage(
    settings: Settings, db: Database, stack_url: str
) -> AsyncIterator[tuple[Member, dict[str, Any], dict[str, Any]]]:
    """A landlord with a listing (unique title) and a free slot tomorrow evening."""
    landlord = await create_member(db, settings, "landlord", label="webjourney")
    title = f"Altbauwohnung am Park {uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=stack_url, timeout=30) as http:
        r = await http.post(
            f"{API}/listings", json=listing_body(title=title), headers=landlord.headers
        )
        assert r.status_code == 201, r.text
        listing = r.json()
        tomorrow = datetime.now(UTC).replace(hour=17, minute=0, second=0, microsecond=0)
        starts = tomorrow + timedelta(days=2)
        r = await http.post(
            f"{API}/listings/{listing['id']}/slots",
            json={
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(minutes=30)).isoformat(),
            },
            headers=landlord.headers,
        )
        assert r.status_code == 201, r.text
        yield landlord, listing, r.json()


def _link(mail_text: str, path: str) -> str:
    found = re.search(r"https?://\S+" + re.escape(path) + r"\?token=[\w\-.~%]+", mail_text)
    assert found, mail_text
    return found.group(0)


async def test_register_book_pay_message_sign_and_pay_the_deposit(
    browser: Any,
    stage: tuple[Member, dict[str, Any], dict[str, Any]],
    settings: Settings,
    stack_url: str,
) -> None:
    landlord, listing, _slot = stage
    steps = Steps(settings)
    rum_before = await _rum_reports(settings, "accounts/register")
    tenant_ctx = await browser.new_context(base_url=stack_url, locale="de-DE")
    tenant_ctx.set_default_timeout(TIMEOUT_MS)
    page = await tenant_ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None
    )

    # --- register, verify through the mailed link, log in -------------------------------
    email = f"web-{uuid.uuid4().hex[:10]}@example.com"
    password = "ein-sicheres-Passwort-42"
    await page.goto("/")
    await steps.shot(page, "home")
    await page.get_by_role("link", name="Registrieren").click()
    await page.get_by_label("Vollständiger Name").fill("Erika Mustermann")
    await page.get_by_label("E-Mail-Adresse").fill(email)
    await page.get_by_label("Passwort").fill(password)
    await page.get_by_label("suche eine Wohnung (Mieter/in)").check()
    await steps.shot(page, "register")
    await page.get_by_role("button", name="Registrieren").click()
    await page.get_by_text("Bitte prüfen Sie Ihr Postfach").first.wait_for()
    mail = await wait_for_mail(email)
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    await page.goto(_link(body.get_content(), "/verify-email"))
    await steps.shot(page, "verify")
    await page.get_by_role("button", name="E-Mail-Adresse bestätigen").click()
    await page.get_by_text("Ihre E-Mail-Adresse ist bestätigt.").wait_for()
    await page.get_by_role("link", name="Anmelden").last.click()
    await page.get_by_label("E-Mail-Adresse").fill(email)
    await page.get_by_label("Passwort").fill(password)
    await page.get_by_role("button", name="Anmelden").click()
    await page.get_by_role("link", name="Konto").wait_for()
    await steps.shot(page, "logged-in")

    # --- search by postal code, open the listing ------------------------------------------
    await page.goto("/")
    await page.get_by_label("Stadt, Stadtteil oder Postleitzahl").fill("10243")
    await page.get_by_role("button", name="Suchen").first.click()
    result = page.get_by_role("link", name=listing["title"])

    async def shown() -> bool | None:  # the search cache and the replica catch up
        if await result.count():
            return True
        await page.reload()
        return None

    await eventually(shown, "the new listing in the results", within=30)
    await steps.shot(page, "results")
    await result.first.click()
    await page.get_by_role("heading", level=1, name=listing["title"]).wait_for()
    await steps.shot(page, "listing")

    # --- book the slot and pay on the provider's page ------------------------------------
    listing_url = page.url
    await page.get_by_role("button", name="Buchen und bezahlen").click()
    await page.get_by_role("button", name="Bezahlen").wait_for()  # the fake provider's page
    await steps.shot(page, "provider-checkout", ours=False)
    await page.get_by_role("button", name="Bezahlen").click()
    status = page.locator("#viewing-status .badge").first
    await status.filter(has_text="Bestätigt").wait_for(timeout=30_000)
    await steps.shot(page, "viewing-confirmed")

    # --- message the landlord; the reply arrives live ------------------------------------
    await page.goto(listing_url)
    await page.get_by_label("Ihre Nachricht").fill("Guten Tag, ich freue mich auf den Termin.")
    await page.get_by_role("button", name="Nachricht senden").click()
    await page.get_by_text("ich freue mich auf den Termin").first.wait_for()
    conversation_id = page.url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    uuid.UUID(conversation_id)  # the conversation's own page
    await steps.shot(page, "conversation")
    async with httpx.AsyncClient(base_url=stack_url, timeout=30) as http:
        r = await http.post(
            f"{API}/conversations/{conversation_id}/messages",
            json={"body": "Sehr gern, bis bald!", "client_message_id": str(uuid.uuid4())},
            headers=landlord.headers,
        )
        assert r.status_code in (200, 201), r.text
    await page.get_by_text("Sehr gern, bis bald!").wait_for(timeout=10_000)  # no reload
    await steps.shot(page, "reply-live")

    # --- the landlord drafts the contract and sends it -----------------------------------
    landlord_ctx = await signed_in_context(browser, stack_url, settings, landlord)
    landlord_ctx.set_default_timeout(TIMEOUT_MS)
    lpage = await landlord_ctx.new_page()
    await lpage.goto("/vermieter/besichtigungen")
    await steps.shot(lpage, "landlord-viewings")
    await lpage.get_by_role("link", name=re.compile("Vertrag", re.I)).first.click()
    await lpage.get_by_label(re.compile("Mietbeginn|Beginn", re.I)).fill(
        (date.today() + timedelta(days=60)).isoformat()
    )
    await steps.shot(lpage, "contract-draft")
    await lpage.get_by_role("button", name=re.compile("erstellen|anlegen", re.I)).click()
    await lpage.get_by_role("button", name=re.compile("senden", re.I)).click()
    await steps.shot(lpage, "contract-sent")
    contract_url = lpage.url

    # --- both sign --------------------------------------------------------------------------
    for who, ctx_page, name in ((0, page, "Erika Mustermann"), (1, lpage, "Max Vermieter")):
        await ctx_page.goto(contract_url)
        await ctx_page.get_by_label(re.compile("Vollständiger Name|Name")).fill(name)
        await ctx_page.get_by_label(re.compile("akzeptiere|zustimme|einverstanden", re.I)).check()
        await ctx_page.get_by_role("button", name=re.compile("unterschreiben", re.I)).click()
        await ctx_page.get_by_text(re.compile("unterschrieben", re.I)).first.wait_for()
        await steps.shot(ctx_page, f"signed-{who}")

    # --- the tenant pays the deposit ----------------------------------------------------------
    await page.goto(contract_url)
    await page.get_by_role("button", name=re.compile("Kaution", re.I)).click()
    await page.get_by_role("button", name="Bezahlen").click()
    await page.get_by_text(re.compile("Kaution bezahlt", re.I)).first.wait_for(timeout=30_000)
    await steps.shot(page, "deposit-paid")

    # The pages' real-user metrics (web-vitals, sent when each page was left) reached the
    # stack's Prometheus: the register page's, for one, which only this journey's browser saw.
    await eventually(
        lambda: _more_rum(settings, "accounts/register", rum_before), "RUM in Prometheus", within=60
    )
    assert errors == [], errors  # no script error, nothing the CSP blocked
    assert steps.violations == [], "\n".join(steps.violations)  # axe: no serious/critical
    await landlord_ctx.close()
    await tenant_ctx.close()


async def _rum_reports(settings: Settings, template: str) -> float:
    """Web-vitals reports of a page template in the stack's Prometheus (TTFB: every view)."""
    query = f'sum(sichrplace_web_vitals_ttfb_seconds_count{{job="api",page="{template}"}})'
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.get(
            f"http://127.0.0.1:{settings.stack.prometheus_port}/api/v1/query",
            params={"query": query},
        )
        r.raise_for_status()
        result = r.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


async def _more_rum(settings: Settings, template: str, before: float) -> bool | None:
    return True if await _rum_reports(settings, template) > before else None
