"""Images follow their listing's visibility: an archived listing's images are 404 for anyone
who may not see the listing (reads and uploads alike); its owner and admins still see them."""

from __future__ import annotations

import uuid

import httpx

from tests.media.conftest import API, MakeUser, Member, photo
from tests.media.test_upload import upload


async def _archive(client: httpx.AsyncClient, listing_id: uuid.UUID, owner: Member) -> None:
    r = await client.delete(f"{API}/listings/{listing_id}", headers=owner.headers)
    assert r.status_code == 204, r.text


async def test_archived_listing_hides_its_images(
    client: httpx.AsyncClient, listing_id: uuid.UUID, landlord: Member, make_user: MakeUser
) -> None:
    r = await upload(client, listing_id, landlord, photo(64, 48, "JPEG"))
    assert r.status_code == 201, r.text
    image = r.json()["id"]
    images = f"{API}/listings/{listing_id}/images"
    tenant = await make_user("tenant")
    other = await make_user("landlord")
    admin = await make_user("admin")

    # active: everyone sees the images; another landlord's upload is 403, as PATCH is
    for headers in ({}, tenant.headers, other.headers):
        assert (await client.get(images, headers=headers)).status_code == 200
        assert (await client.get(f"{images}/{image}", headers=headers)).status_code == 200
    r = await upload(client, listing_id, other, photo(64, 48, "JPEG"))
    assert r.status_code == 403, r.text

    await _archive(client, listing_id, landlord)
    for headers in ({}, tenant.headers, other.headers):
        r = await client.get(images, headers=headers)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert (await client.get(f"{images}/{image}", headers=headers)).status_code == 404
    for member in (tenant, other):
        r = await upload(client, listing_id, member, photo(64, 48, "JPEG"))
        assert r.status_code == 404, r.text

    for member in (landlord, admin):
        r = await client.get(images, headers=member.headers)
        assert r.status_code == 200, r.text
        assert [i["id"] for i in r.json()] == [image]
        assert (await client.get(f"{images}/{image}", headers=member.headers)).status_code == 200
