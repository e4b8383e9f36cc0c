"""The listing page: its canonical URL with a German slug (other spellings answer 301),
title, description and schema.org JSON-LD, the facts, the responsive WebP gallery (or a
placeholder without photos), and 410 for a listing taken down, 404 for an unknown one."""

from __future__ import annotations

import asyncio
import html
import json
import re
import uuid
from typing import Any

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from sichrplace.web.pages.listing import listing_path, slug
from tests.helpers.members import Member, create_member
from tests.listings.conftest import listing_body, replica_caught_up
from tests.media.conftest import jobs_for, photo

API = "/api/v1"
_LD = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)
_IMG = re.compile(r"<img [^>]*>")


@pytest.fixture
async def landlord(db: Database, settings: Settings) -> Member:
    return await create_member(db, settings, "landlord", label="webl")


async def _publish(client: httpx.AsyncClient, owner: Member, **fields: Any) -> dict[str, Any]:
    r = await client.post(f"{API}/listings", json=listing_body(**fields), headers=owner.headers)
    assert r.status_code == 201, r.text
    listing: dict[str, Any] = r.json()
    return listing


def _json_ld(text: str) -> dict[str, Any]:
    (block,) = _LD.findall(text)
    data: dict[str, Any] = json.loads(block)
    return data


def _attrs(tag: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'([a-z-]+)="([^"]*)"', tag)}


def test_the_slug_is_german_ascii() -> None:
    assert slug("Helle 3-Zimmer-Wohnung mit Balkon", "Berlin") == (
        "helle-3-zimmer-wohnung-mit-balkon-berlin"
    )
    assert (
        slug("Schöne Maisonette · Größe: 90 m²!", "Köln")
        == "schoene-maisonette-groesse-90-m2-koeln"
    )
    assert slug("Straße am Fluß", "Düsseldorf") == "strasse-am-fluss-duesseldorf"
    assert slug("u\u0308ber", "Mu\u0308nchen") == "ueber-muenchen"  # decomposed umlauts
    assert slug("!!!", "") == "wohnung"
    assert len(slug("lange " * 40, "Berlin")) <= 80


async def test_other_spellings_redirect_to_the_canonical_url(
    web: httpx.AsyncClient, client: httpx.AsyncClient, landlord: Member
) -> None:
    listing = await _publish(client, landlord)
    path = listing_path(listing)
    assert path == f"/wohnung/helle-3-zimmer-wohnung-mit-balkon-berlin-{listing['id']}"
    for other in (
        f"/wohnung/{listing['id']}",
        f"/wohnung/alter-titel-{listing['id']}",
        f"/wohnung/helle-3-zimmer-wohnung-mit-balkon-berlin-{str(listing['id']).upper()}",
    ):
        r = await web.get(other)
        assert r.status_code == 301, other
        assert r.headers["location"] == path
    assert (await web.get(path)).status_code == 200


async def test_the_page_has_canonical_meta_json_ld_and_facts(
    web: httpx.AsyncClient, client: httpx.AsyncClient, landlord: Member, settings: Settings
) -> None:
    listing = await _publish(client, landlord, district="Friedrichshain", wbs_required=True)
    r = await web.get(listing_path(listing))
    assert r.status_code == 200
    text = r.text
    url = settings.app.public_base_url.rstrip("/") + listing_path(listing)
    assert f'<link rel="canonical" href="{url}">' in text
    assert "<title>Helle 3-Zimmer-Wohnung mit Balkon · Berlin · SichrPlace</title>" in text
    (description,) = re.findall(r'<meta name="description" content="([^"]*)">', text)
    assert html.unescape(description).startswith(
        "3 Zimmer, 78,5 m², 1.170 € warm in 10243 Berlin (Friedrichshain). Ruhige Lage"
    )
    data = _json_ld(text)
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "Apartment"
    assert data["name"] == listing["title"]
    assert data["url"] == url
    assert data["address"] == {
        "@type": "PostalAddress",
        "postalCode": "10243",
        "addressLocality": "Berlin",
        "addressCountry": "DE",
    }  # the street only where the landlord shows it, the coordinates likewise
    assert "geo" not in data
    assert data["numberOfRooms"] == 3
    assert data["floorSize"] == {"@type": "QuantitativeValue", "value": 78.5, "unitCode": "MTK"}
    offer = data["offers"]
    assert offer["@type"] == "Offer"
    assert offer["price"] == listing["warm_rent_cents"] / 100 == 1170
    assert offer["priceCurrency"] == "EUR"
    assert offer["availability"] == "https://schema.org/InStock"
    assert offer["url"] == url
    for fact in ("1.170 €", "950 €", "220 €", "2.850 €", "78,5 m²", "Freitag, 1. Januar 2027"):
        assert fact in text, fact
    for amenity in ("Balkon", "Einbauküche", "Keller"):
        assert f"<li>{amenity}</li>" in text
    assert "<dt>WBS erforderlich</dt><dd>Ja</dd>" in text
    assert "<dt>Energieeffizienzklasse</dt><dd>B</dd>" in text
    # No photos: a placeholder box (CSS), no image requested.
    assert 'class="photo-placeholder"' in text
    assert _IMG.search(text) is None
    assert r.headers["content-security-policy"]


async def test_the_exact_address_shows_in_json_ld_only_when_public(
    web: httpx.AsyncClient, client: httpx.AsyncClient, landlord: Member
) -> None:
    listing = await _publish(client, landlord, show_exact_address=True)
    data = _json_ld((await web.get(listing_path(listing))).text)
    assert data["address"]["streetAddress"] == "Karl-Marx-Allee 12a"
    assert data["geo"] == {"@type": "GeoCoordinates", "latitude": 52.5163, "longitude": 13.4376}


async def _variants_made(db: Database, image_id: str) -> None:
    for _ in range(400):
        if [status for _, status in await jobs_for(db, image_id)] == ["succeeded"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the image's variants job did not finish")


async def test_photos_are_a_responsive_webp_gallery(
    web: httpx.AsyncClient, client: httpx.AsyncClient, landlord: Member, db: Database
) -> None:
    listing = await _publish(client, landlord)
    url = f"{API}/listings/{listing['id']}/images"
    uploaded = []
    for size in ((2000, 1500), (1200, 900)):
        r = await client.post(
            url,
            files={"file": ("flat.jpg", photo(*size, "JPEG"), "image/jpeg")},
            headers=landlord.headers,
        )
        assert r.status_code == 201, r.text
        uploaded.append(r.json()["id"])
    for image_id in uploaded:
        await _variants_made(db, image_id)
    await replica_caught_up(db)
    text = (await web.get(listing_path(listing))).text
    first, second = (_attrs(tag) for tag in _IMG.findall(text))
    widths = [part.rsplit(" ", 1)[1] for part in first["srcset"].split(", ")]
    assert widths == ["320w", "800w", "1600w"]
    assert all(".webp" in part for part in first["srcset"].split(", "))
    assert (first["width"], first["height"]) == ("1600", "1200")
    assert first["fetchpriority"] == "high"
    assert "loading" not in first
    assert first["sizes"]
    assert first["alt"] == f"Foto 1 von 2: {listing['title']}"
    # Never wider than the original: 1200 px wide, so the 1600 variant is 1200 wide.
    assert [p.rsplit(" ", 1)[1] for p in second["srcset"].split(", ")] == [
        "320w",
        "800w",
        "1200w",
    ]
    assert (second["width"], second["height"]) == ("1200", "900")
    assert second["loading"] == "lazy"
    assert 'class="photo-placeholder"' not in text
    assert len(_json_ld(text)["image"]) == 2


async def test_a_listing_taken_down_is_gone_and_an_unknown_one_not_found(
    web: httpx.AsyncClient, client: httpx.AsyncClient, landlord: Member
) -> None:
    listing = await _publish(client, landlord)
    path = listing_path(listing)
    assert (await web.get(path)).status_code == 200
    r = await client.delete(f"{API}/listings/{listing['id']}", headers=landlord.headers)
    assert r.status_code == 204
    gone = await web.get(path)
    assert gone.status_code == 410
    assert "Diese Wohnung ist nicht mehr verfügbar" in gone.text
    assert (await web.get(f"/wohnung/{listing['id']}")).status_code == 410
    # The API itself keeps its contract: 404, of a type that says why.
    api = await client.get(f"{API}/listings/{listing['id']}")
    assert api.status_code == 404
    assert api.json()["type"].endswith("/listing-archived")
    assert (await web.get(f"/wohnung/wohnung-{uuid.uuid4()}")).status_code == 404
    assert (await web.get("/wohnung/keine-id")).status_code == 404
