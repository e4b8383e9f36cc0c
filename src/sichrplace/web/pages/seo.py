"""What search engines read besides the pages: robots.txt and the sitemaps.

/sitemap.xml is an index over /sitemaps/pages.xml (home, search) and /sitemaps/listings-{n}.xml,
where page n lists the active listings of the n-th id range of GET /api/v1/listings/sitemap/pages:
ranges of `settings.web.sitemap_page_size` listings each, cut by a keyset walk over the ids
alone (an index-only scan, listings/repository.py) and kept for an hour, so every page of one
crawl reads the same partition of the id space and every active listing appears on exactly
one page. A page is one keyset read of its range (GET /api/v1/listings/sitemap), never OFFSET.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from sichrplace.kit.errors import NotFound
from sichrplace.kit.i18n import N_
from sichrplace.platform.http.dependencies import parts_of
from sichrplace.web.client import ApiClient
from sichrplace.web.pages.base import page_router
from sichrplace.web.pages.listing import listing_path

router = page_router()

MAX_URLS = 50_000  # per sitemap file (sitemaps.org)
CACHE = {"Cache-Control": "public, max-age=3600"}
XML = "application/xml"
NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
# Where only a signed-in member goes (or forms that lead there): nothing to index.
PRIVATE = (
    "/konto",
    "/besichtigungen",
    "/nachrichten",
    "/vertraege",
    "/vermieter",
    "/anmelden",
    "/registrieren",
    "/abmelden",
    "/sprache",
    "/suche/vorschlaege",
    "/api/",
)
STATIC_PAGES = ("/", "/suche")


def _base(request: Request) -> str:
    return parts_of(request).settings.app.public_base_url.rstrip("/")


def _client(request: Request) -> ApiClient:
    """The same answer for everyone: anonymous calls."""
    return ApiClient(request, token=None, language="de")


@router.get("/robots.txt")
async def robots(request: Request) -> Response:
    lines = ["User-agent: *", "Allow: /", *(f"Disallow: {path}" for path in PRIVATE)]
    lines += ["", f"Sitemap: {_base(request)}/sitemap.xml", ""]
    return Response("\n".join(lines), media_type="text/plain", headers=CACHE)


@router.get("/sitemap.xml")
async def sitemap_index(request: Request) -> Response:
    base = _base(request)
    count = len(await _ranges(request))
    files = [f"{base}/sitemaps/pages.xml"]
    files += [f"{base}/sitemaps/listings-{n}.xml" for n in range(1, count + 1)]
    entries = (f"<sitemap><loc>{escape(url)}</loc></sitemap>" for url in files)
    return _xml("sitemapindex", entries)


@router.get("/sitemaps/pages.xml")
async def static_sitemap(request: Request) -> Response:
    base = _base(request)
    return _xml("urlset", (f"<url><loc>{escape(base + path)}</loc></url>" for path in STATIC_PAGES))


@router.get("/sitemaps/listings-{n}.xml")
async def listings_sitemap(request: Request, n: int) -> Response:
    ranges = await _ranges(request)
    if not 1 <= n <= len(ranges):
        raise NotFound(N_("No such sitemap."))
    # A listing's path is ASCII letters, digits and hyphens: only the base needs escaping.
    base = escape(_base(request))
    entries = (
        f"<url><loc>{base}{listing_path(item)}</loc>"
        f"<lastmod>{_w3c(item['updated_at'])}</lastmod></url>"
        for item in await _items(request, ranges[n - 1])
    )
    return _xml("urlset", entries)


async def _ranges(request: Request) -> list[dict[str, Any]]:
    size = parts_of(request).settings.web.sitemap_page_size
    answer = await _client(request).get("/listings/sitemap/pages", size=size)
    return list(answer["pages"])


async def _items(request: Request, bounds: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The active listings of one range: one call, more only if the range grew past a call's
    limit (never past the protocol's limit per file)."""
    client, items = _client(request), list[dict[str, Any]]()
    after = bounds.get("after")
    while len(items) < MAX_URLS:
        answer = await client.get(
            "/listings/sitemap", after=after, until=bounds.get("until"), limit=MAX_URLS - len(items)
        )
        items += answer["items"]
        after = answer.get("next_after")
        if not after:
            break
    return items


def _w3c(stamp: str) -> str:
    """An API timestamp as W3C Datetime to the second ('2026-12-06T20:24:48Z')."""
    if len(stamp) >= 20 and stamp[10] == "T" and stamp.endswith("Z"):
        return stamp[:19] + "Z"
    return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _xml(root: str, entries: Iterable[str]) -> Response:
    body = "".join(
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            f'<{root} xmlns="{NS}">\n',
            "\n".join(entries),
            f"\n</{root}>\n",
        )
    )
    return Response(body, media_type=XML, headers=CACHE)
