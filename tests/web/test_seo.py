"""robots.txt and the sitemaps: every active listing exactly once across the sitemap's pages
(the whole database's, ~1M listings on the seeded stack), with its canonical URL; archived
ones not; valid XML within the protocol's limits; and the API read behind them."""

from __future__ import annotations

import asyncio
import itertools
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.web.pages.listing import listing_path
from tests.search.conftest import (  # noqa: F401 - fixtures
    Flat,
    Insert,
    insert_flats,
    landlord,
    make_landlord,
    random_flats,
)


@dataclass
class Town:
    """A city of its own (no other test's or seeded listings) and a way to add listings."""

    name: str
    add: Insert


@pytest.fixture
def town(unique: str, insert_flats: Insert) -> Town:  # noqa: F811 - the fixture imported above
    return Town(f"Webstadt {unique}", insert_flats)


NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
ID_CHARS = 36


def _base(settings: Settings) -> str:
    return settings.app.public_base_url.rstrip("/")


def _xml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["cache-control"] == "public, max-age=3600"
    return ET.fromstring(response.content)  # noqa: S314 - our own answer


async def test_robots_allows_all_but_the_private_areas(
    web: httpx.AsyncClient, settings: Settings
) -> None:
    r = await web.get("/robots.txt")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    lines = r.text.splitlines()
    assert lines[:2] == ["User-agent: *", "Allow: /"]
    for private in (
        "/konto",
        "/besichtigungen",
        "/nachrichten",
        "/vertraege",
        "/vermieter",
        "/anmelden",
        "/registrieren",
        "/api/",
    ):
        assert f"Disallow: {private}" in lines
    assert f"Sitemap: {_base(settings)}/sitemap.xml" in lines


async def test_the_static_sitemap_has_home_and_search(
    web: httpx.AsyncClient, settings: Settings
) -> None:
    root = _xml(await web.get("/sitemaps/pages.xml"))
    locs = [e.text for e in root.findall("s:url/s:loc", NS)]
    assert locs == [f"{_base(settings)}/", f"{_base(settings)}/suche"]


async def test_every_active_listing_is_in_the_sitemap_exactly_once(
    web: httpx.AsyncClient, town: Town, settings: Settings
) -> None:
    city = town.name
    flats = random_flats(city, 6, seed=3)
    for n, flat in enumerate(flats):
        flat.status = "archived" if n == 0 else "active"
        flat.title = f"Schöne Wohnung & Garten <{n}>"  # escaped in the XML
    await town.add(flats)
    base = _base(settings)

    index = _xml(await web.get("/sitemap.xml"))
    assert index.tag == f"{{{NS['s']}}}sitemapindex"
    files = [e.text or "" for e in index.findall("s:sitemap/s:loc", NS)]
    assert files[0] == f"{base}/sitemaps/pages.xml"
    pages = files[1:]
    assert pages == [f"{base}/sitemaps/listings-{n}.xml" for n in range(1, len(pages) + 1)]

    gate = asyncio.Semaphore(6)

    async def read(url: str) -> list[tuple[str, str]]:
        async with gate:
            root = _xml(await web.get(url.removeprefix(base)))
        entries = [
            (e.findtext("s:loc", "", NS), e.findtext("s:lastmod", "", NS))
            for e in root.findall("s:url", NS)
        ]
        assert len(entries) <= 50_000  # the protocol's limit per file
        return entries

    found = [entry for part in await asyncio.gather(*map(read, pages)) for entry in part]
    ids = Counter(loc[-ID_CHARS:] for loc, _ in found)
    duplicates = [i for i, n in ids.items() if n > 1]
    assert not duplicates, duplicates[:5]
    by_id = dict(found)
    for flat in flats[1:]:
        item = {"id": str(flat.id), "title": flat.title, "city": flat.city}
        url = base + listing_path(item)
        assert url in by_id, url
        assert by_id[url].endswith("Z")
        assert len(by_id[url]) == 20
    assert str(flats[0].id) not in ids  # archived: not in the sitemap

    assert (await web.get(f"/sitemaps/listings-{len(pages) + 1}.xml")).status_code == 404


async def test_the_sitemap_read_pages_by_id(client: httpx.AsyncClient, town: Town) -> None:
    """GET /api/v1/listings/sitemap: keyset pages by id within a range, archived left out."""
    city = town.name
    flats, prefix = random_flats(city, 6, seed=4), uuid.uuid4().hex[:10]
    for n, flat in enumerate(flats):  # consecutive ids of their own at the end of the id space
        flat.id = uuid.UUID(f"ffffffff-ffff-4fff-bfff-{prefix}{n:02d}")
        flat.status = "archived" if n == 2 else "active"
    await town.add(flats)
    after = str(uuid.UUID(int=flats[0].id.int - 1))
    until = str(flats[-1].id)
    seen: list[str] = []
    params: dict[str, str | int] = {"after": after, "until": until, "limit": 2}
    while True:
        r = await client.get("/api/v1/listings/sitemap", params=params)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"].startswith("public")
        body = r.json()
        assert len(body["items"]) <= 2
        for item in body["items"]:
            assert set(item) == {"id", "title", "city", "updated_at"}
        seen += [i["id"] for i in body["items"]]
        if body["next_after"] is None:
            break
        params["after"] = body["next_after"]
    assert seen == [str(f.id) for n, f in enumerate(flats) if n != 2]
    bad = await client.get("/api/v1/listings/sitemap", params={"after": "x", "limit": 50_001})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} >= {"after", "limit"}
    odd = await client.get("/api/v1/listings/sitemap/pages", params={"size": 1500})
    assert odd.status_code == 422  # whole thousands: a few cached sets of ranges at most
    pages = await client.get("/api/v1/listings/sitemap/pages", params={"size": 45_000})
    assert pages.status_code == 200
    ranges = pages.json()["pages"]
    assert ranges[0]["after"] is None
    assert ranges[-1]["until"] is None
    assert all(a["until"] == b["after"] for a, b in itertools.pairwise(ranges))
