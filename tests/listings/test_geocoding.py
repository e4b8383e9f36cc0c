"""Geocoding through the maps interface: coordinates filled in, and a geocoder failure still
stores the listing (pending, no coordinates) with a retry job committed alongside it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from sichrplace.app import parts_of_app
from sichrplace.integrations.maps.types import GeocodeResult, GeocodingUnavailable
from sichrplace.listings.parts import LISTINGS
from sichrplace.listings.rules import approximate_point
from sichrplace.listings.tasks import run_geocode
from sichrplace.platform.db.engines import Database
from sichrplace.platform.parts import Parts
from tests.listings.conftest import API, MakeUser, listing_body, replica_caught_up


class FakeGeocoder:
    """Implements the maps `Geocoder` interface; `mode` says how it answers."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.calls: list[dict[str, str]] = []

    async def geocode(
        self, *, street: str, house_number: str, postal_code: str, city: str
    ) -> GeocodeResult | None:
        self.calls.append(
            {
                "street": street,
                "house_number": house_number,
                "postal_code": postal_code,
                "city": city,
            }
        )
        if self.mode == "down":
            raise GeocodingUnavailable("provider down")
        if self.mode == "unknown":
            return None
        if self.mode == "broken":
            raise RuntimeError("bug in a client")
        return GeocodeResult(48.1372, 11.5756, f"{street} {house_number}, {postal_code} {city}")


@pytest.fixture
def geocoder(parts: Parts) -> Iterator[FakeGeocoder]:
    fake = FakeGeocoder()
    saved = parts.get(LISTINGS)
    parts.swap(LISTINGS, replace(saved, geocoder=fake))
    yield fake
    parts.swap(LISTINGS, saved)


NO_COORDS = {"latitude": ..., "longitude": ..., "city": "München", "postal_code": "80331"}


async def _jobs_for(db: Database, listing_id: str) -> int:
    async with db.primary.connect() as conn:
        return int(
            (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM procrastinate_jobs "
                        "WHERE task_name = 'listings.geocode_listing' "
                        "AND args->>'listing_id' = :id"
                    ),
                    {"id": listing_id},
                )
            ).scalar_one()
        )


async def test_missing_coordinates_are_geocoded(
    client: httpx.AsyncClient, make_user: MakeUser, geocoder: FakeGeocoder, db: Database
) -> None:
    landlord = await make_user("landlord")
    r = await client.post(
        f"{API}/listings", json=listing_body(**NO_COORDS), headers=landlord.headers
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["latitude"], out["longitude"], out["geocode_status"]) == (48.1372, 11.5756, "ok")
    assert geocoder.calls[-1]["city"] == "München"
    assert await _jobs_for(db, out["id"]) == 0


async def test_given_coordinates_skip_the_geocoder(
    client: httpx.AsyncClient, make_user: MakeUser, geocoder: FakeGeocoder
) -> None:
    landlord = await make_user("landlord")
    r = await client.post(f"{API}/listings", json=listing_body(), headers=landlord.headers)
    assert r.status_code == 201
    assert geocoder.calls == []


@pytest.mark.parametrize("mode", ["down", "broken"])
async def test_geocoder_failure_stores_pending_and_enqueues_retry(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    geocoder: FakeGeocoder,
    db: Database,
    app: FastAPI,
    mode: str,
) -> None:
    geocoder.mode = mode
    landlord = await make_user("landlord")
    r = await client.post(
        f"{API}/listings", json=listing_body(**NO_COORDS), headers=landlord.headers
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["latitude"], out["longitude"], out["geocode_status"]) == (None, None, "pending")
    assert await _jobs_for(db, out["id"]) == 1

    # The job's body, once the geocoder is back: coordinates stored, detail cache refreshed.
    geocoder.mode = "ok"
    listing_id = uuid.UUID(out["id"])
    status = await run_geocode(db, geocoder, parts_of_app(app).cache, listing_id)
    assert status == "ok"
    await replica_caught_up(db)  # the job invalidates; the next read refills from the replica
    got = (await client.get(f"{API}/listings/{listing_id}")).json()
    # The public sees the geocoded point rounded to its ~500 m cell.
    shown = (*approximate_point(48.1372, 11.5756), "ok")
    assert (got["latitude"], got["longitude"], got["geocode_status"]) == shown
    # A second delivery of the same job changes nothing (handlers are at-least-once).
    cache = parts_of_app(client._transport.app).cache  # type: ignore[attr-defined]
    assert await run_geocode(db, geocoder, cache, listing_id) is None


async def test_retry_while_still_down_raises_for_backoff(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    geocoder: FakeGeocoder,
    db: Database,
    app: FastAPI,
) -> None:
    geocoder.mode = "down"
    landlord = await make_user("landlord")
    r = await client.post(
        f"{API}/listings", json=listing_body(**NO_COORDS), headers=landlord.headers
    )
    with pytest.raises(GeocodingUnavailable):
        await run_geocode(db, geocoder, parts_of_app(app).cache, uuid.UUID(r.json()["id"]))
    got = (await client.get(f"{API}/listings/{r.json()['id']}")).json()
    assert got["geocode_status"] == "pending"


async def test_unknown_address_is_failed_without_retry(
    client: httpx.AsyncClient, make_user: MakeUser, geocoder: FakeGeocoder, db: Database
) -> None:
    geocoder.mode = "unknown"
    landlord = await make_user("landlord")
    r = await client.post(
        f"{API}/listings", json=listing_body(**NO_COORDS), headers=landlord.headers
    )
    assert r.status_code == 201
    assert r.json()["geocode_status"] == "failed"
    assert await _jobs_for(db, r.json()["id"]) == 0


async def test_no_geocoder_configured_means_pending(
    client: httpx.AsyncClient, make_user: MakeUser, parts: Parts, db: Database
) -> None:
    saved = parts.swap(LISTINGS, replace(parts.get(LISTINGS), geocoder=None))
    try:
        landlord = await make_user("landlord")
        body = listing_body(**NO_COORDS)
        r = await client.post(f"{API}/listings", json=body, headers=landlord.headers)
    finally:
        parts.swap(LISTINGS, saved)
    assert r.status_code == 201
    assert r.json()["geocode_status"] == "pending"
    assert await _jobs_for(db, r.json()["id"]) == 1


async def test_new_address_is_geocoded_again_on_patch(
    client: httpx.AsyncClient, make_user: MakeUser, geocoder: FakeGeocoder
) -> None:
    landlord = await make_user("landlord")
    r = await client.post(f"{API}/listings", json=listing_body(), headers=landlord.headers)
    url = f"{API}/listings/{r.json()['id']}"
    assert r.json()["latitude"] == 52.5163
    patched = await client.patch(
        url,
        json={
            "street": "Marienplatz",
            "house_number": "1",
            "postal_code": "80331",
            "city": "München",
        },
        headers=landlord.headers,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["latitude"], patched.json()["longitude"]) == (48.1372, 11.5756)
    assert geocoder.calls[-1]["street"] == "Marienplatz"
    # Only the title changes: no geocoder call.
    n = len(geocoder.calls)
    await client.patch(url, json={"title": "Neuer Titel"}, headers=landlord.headers)
    assert len(geocoder.calls) == n
