"""Text Postgres cannot hold (NUL, lone surrogates, invalid UTF-8) is a 422 naming the field,
wherever it enters (query string, path, JSON body at any depth), never a 500."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.helpers.members import Member, create_member
from tests.listings.conftest import listing_body

API = "/api/v1"
PROBLEM = "application/problem+json"


def refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM)
    assert field in {e["field"] for e in r.json()["errors"]}, r.text


@pytest.fixture
async def landlord(db: Database, settings: Settings) -> Member:
    return await create_member(db, settings, "landlord", label="text")


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/search/listings?q=%00", "q"),
        ("/search/facets?q=%00", "q"),
        ("/listings/popular?city=Ber%00lin", "city"),
        ("/search/listings?q=%FF%FE", "q"),
        ("/search/listings?city=Berlin&q=a%00b", "q"),
    ],
)
async def test_query_strings(client: httpx.AsyncClient, url: str, field: str) -> None:
    refused(await client.get(API + url), field)


async def test_path_parameter(client: httpx.AsyncClient) -> None:
    refused(await client.get(f"{API}/listings/abc%00def"), "path")
    refused(await client.get(f"{API}/listings/%C3%28"), "path")


async def test_plain_escapes_still_work(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{API}/search/listings?city=M%C3%BCnchen&q=Altbau%20Balkon")
    assert r.status_code == 200, r.text


async def test_register_full_name(client: httpx.AsyncClient) -> None:
    body = {
        "email": f"nul-{uuid.uuid4().hex[:10]}@example.com",
        "password": "Kx9!mQ2#vLp7-Tz",
        "full_name": "Max\u0000Mustermann",
        "role": "tenant",
    }
    refused(await client.post(f"{API}/auth/register", json=body), "full_name")


async def test_lone_surrogate(client: httpx.AsyncClient) -> None:
    raw = (
        b'{"email": "s@example.com", "password": "Kx9!mQ2#vLp7-Tz", '
        b'"full_name": "Max \\ud800", "role": "tenant"}'
    )
    r = await client.post(
        f"{API}/auth/register", content=raw, headers={"content-type": "application/json"}
    )
    refused(r, "full_name")


async def test_body_without_content_type(client: httpx.AsyncClient) -> None:
    raw = b'{"email": "a\\u0000b@example.com", "password": "whatever-it-is"}'
    r = await client.post(f"{API}/auth/login", content=raw, headers={"content-type": ""})
    refused(r, "email")


async def test_login_email(client: httpx.AsyncClient) -> None:
    body = {"email": "a\u0000b@example.com", "password": "whatever-it-is"}
    refused(await client.post(f"{API}/auth/login", json=body), "email")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "Helle\u0000Wohnung"}, "title"),
        ({"city": "Ber\u0000lin"}, "city"),
        ({"amenities": ["balcony", "x\u0000"]}, "amenities.1"),
        ({"extra\u0000": 1}, "body"),
    ],
)
async def test_create_listing(
    client: httpx.AsyncClient, landlord: Member, overrides: dict[str, Any], field: str
) -> None:
    r = await client.post(
        f"{API}/listings", json=listing_body(**overrides), headers=landlord.headers
    )
    refused(r, field)


async def test_patch_listing(client: httpx.AsyncClient, landlord: Member) -> None:
    r = await client.post(f"{API}/listings", json=listing_body(), headers=landlord.headers)
    assert r.status_code == 201, r.text
    listing = r.json()["id"]
    for field in ("title", "city"):
        r = await client.patch(
            f"{API}/listings/{listing}", json={field: "a\u0000"}, headers=landlord.headers
        )
        refused(r, field)
