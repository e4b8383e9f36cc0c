"""What every page has: German by default with an English switch, a strict CSP without inline
scripts, CSRF protection on forms, hashed assets cached for a year through nginx."""

from __future__ import annotations

import re

import httpx

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.helpers.members import create_member
from tests.listings.conftest import listing_body
from tests.web.conftest import cookies, csrf_token, sign_in

API = "/api/v1"

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/ld\+json)[^>]*>", re.I)


async def test_the_home_page_is_german_by_default_and_english_on_request(
    web: httpx.AsyncClient,
) -> None:
    r = await web.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-language"] == "de"
    assert '<html lang="de">' in r.text
    assert "Finden Sie Ihre Wohnung" in r.text

    english = await web.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert english.headers["content-language"] == "en"
    assert "Find your apartment" in english.text


async def test_the_switch_keeps_the_chosen_language(web: httpx.AsyncClient) -> None:
    r = await web.get("/sprache", params={"lang": "en", "next": "/"})
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    home = await web.get("/")  # German Accept-Language would not matter now
    assert "Find your apartment" in home.text
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
        away = await web.get("/sprache", params={"lang": "de", "next": elsewhere})
        assert away.headers["location"] == "/"  # never to another site


async def test_every_page_has_a_strict_csp_and_no_inline_script(web: httpx.AsyncClient) -> None:
    r = await web.get("/")
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert _INLINE_SCRIPT.search(r.text) is None
    assert " style=" not in r.text
    assert "<style" not in r.text
    assert re.search(r"\son[a-z]+=", r.text) is None
    assert r.headers["cache-control"] == "private, no-cache"


async def test_a_form_post_without_its_token_is_403(
    web: httpx.AsyncClient, settings: Settings
) -> None:
    page = await web.get("/anmelden")
    token = csrf_token(page.text)
    missing = await web.post("/abmelden", data={})
    assert missing.status_code == 403
    assert missing.headers["content-type"].startswith("text/html")
    forged = await web.post("/abmelden", data={"csrf_token": "0" * 64})
    assert forged.status_code == 403
    # Another browser's valid token does not fit this browser's cookie.
    web.cookies.clear()
    web.cookies.set(cookies(settings).csrf, "another-browser", domain="testserver")
    assert (await web.post("/abmelden", data={"csrf_token": token})).status_code == 403


async def test_assets_are_hashed_immutable_and_precompressed(stack_url: str) -> None:
    async with httpx.AsyncClient(base_url=stack_url) as http:
        home = await http.get("/")
        scripts = re.findall(r'<script src="(/static/[a-z]+\.[0-9a-f]{10}\.js)"', home.text)
        sheets = re.findall(r'href="(/static/site\.[0-9a-f]{10}\.css)"', home.text)
        assert len(scripts) == 2
        assert len(sheets) == 1
        shipped = 0
        for path in (*scripts, *sheets):
            for encoding in ("br", "gzip"):
                r = await http.get(path, headers={"Accept-Encoding": encoding})
                assert r.status_code == 200
                assert r.headers["content-encoding"] == encoding
                assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
                if encoding == "gzip" and path.endswith(".js"):
                    shipped += int(r.headers["content-length"])
        assert shipped <= 50 * 1024  # every page's JS, the search page's included (gzip)
        assert "max-age=31536000" not in home.headers.get("cache-control", "")


_PUBLIC = ["/", "/suche", "/suche/karte", "/anmelden", "/registrieren", "/passwort-vergessen"]
_TENANT = ["/konto", "/besichtigungen", "/nachrichten", "/vertraege"]
_LANDLORD = ["/vermieter/inserate", "/vermieter/inserate/neu", "/vermieter/besichtigungen"]


def _assert_strict(path: str, r: httpx.Response) -> None:
    assert r.status_code == 200, (path, r.status_code)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp, path
    assert "unsafe-inline" not in csp, path
    assert _INLINE_SCRIPT.search(r.text) is None, path
    assert re.search(r"\son[a-z]+=", r.text) is None, path
    assert " style=" not in r.text, path
    assert "<style" not in r.text, path


async def test_every_page_has_the_csp_and_no_inline_code(
    web: httpx.AsyncClient, client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    landlord = await create_member(db, settings, "landlord", label="csp")
    tenant = await create_member(db, settings, "tenant", label="csp")
    made = await client.post(f"{API}/listings", json=listing_body(), headers=landlord.headers)
    assert made.status_code == 201, made.text
    listing = await web.get(f"/wohnung/{made.json()['id']}", follow_redirects=True)
    _assert_strict("listing", listing)
    assert '<script type="application/ld+json">' in listing.text  # data, not code
    for path in _PUBLIC:
        _assert_strict(path, await web.get(path))
    sign_in(web, settings, tenant)
    for path in _TENANT:
        _assert_strict(path, await web.get(path))
    sign_in(web, settings, landlord)
    for path in _LANDLORD:
        _assert_strict(path, await web.get(path))
