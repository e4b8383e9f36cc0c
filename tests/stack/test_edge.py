"""The edge (nginx's cache, the local CDN) on the running stack: a cached anonymous read is
served without the API (nginx's log shows no upstream), credentials and bypass requests are
never cached, a landlord's edit is seen through the edge within a second (purge after
commit), and views served from the cache are counted once, by the `edge` program."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sichrplace.config import Settings
from sichrplace.listings.page_views import BATCH_PREFIX, BATCHES_SET, BUCKET_PREFIX, BUCKETS_SET
from sichrplace.platform.db.engines import Database
from sichrplace.stack.layout import Layout
from tests.helpers.members import Member, create_member
from tests.listings.conftest import API, MakeUser, listing_body

pytestmark = pytest.mark.usefixtures("edge_on")
CREATION_PURGES_SECONDS = 1.0


@pytest.fixture
def make_user(db: Database, settings: Settings) -> MakeUser:
    async def make(role: str) -> Member:
        return await create_member(db, settings, role, label="edge")

    return make


@pytest.fixture
def edge_on(settings: Settings, layout: Layout) -> None:
    if not settings.edge.cache_enabled:
        pytest.skip("the edge cache is off (SICHRPLACE_EDGE_CACHE_ENABLED)")
    if "edge-locations.conf" not in (layout.conf / "nginx.conf").read_text():
        pytest.skip("the running stack's nginx has no edge (run `sichrplace stack up`)")


async def _listing(stack_url: str, make_user: MakeUser) -> tuple[str, dict[str, str]]:
    """A new listing (through nginx, as a landlord publishes one): its URL and the landlord's
    headers."""
    landlord = await make_user("landlord")
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as http:
        r = await http.post(f"{API}/listings", json=listing_body(), headers=landlord.headers)
    assert r.status_code == 201, r.text
    # The creation purges the new listing's answers twice, the second time after the
    # replica's lag and half a second: a copy stored before that would be gone again.
    await asyncio.sleep(CREATION_PURGES_SECONDS)
    return f"{API}/listings/{r.json()['id']}", landlord.headers


def _log_end(layout: Layout) -> int:
    """Where nginx's access log ends now (a long-lived stack's log is gigabytes)."""
    return (layout.logs / "nginx-access.log").stat().st_size


async def _entries(layout: Layout, since: int, request_id: str) -> list[dict[str, object]]:
    """nginx's access log lines of one request after `since` (written every second)."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        with (layout.logs / "nginx-access.log").open("rb") as log:
            log.seek(since)
            found = [json.loads(line) for line in log if request_id.encode() in line]
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"{request_id} not in nginx's access log")


async def test_a_second_anonymous_read_is_served_by_the_edge_alone(
    stack_url: str, layout: Layout, make_user: MakeUser, unique: str
) -> None:
    url, _ = await _listing(stack_url, make_user)
    since = _log_end(layout)
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as http:
        first = await http.get(url, headers={"X-Request-ID": f"edge-{unique}-1"})
        second = await http.get(url, headers={"X-Request-ID": f"edge-{unique}-2"})
    assert first.status_code == second.status_code == 200
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.content == first.content
    assert second.headers["x-request-id"] == f"edge-{unique}-2"  # not the stored one's
    assert "surrogate-key" not in second.headers  # the edge's index only
    # s-maxage is the edge's: a cache behind it keeps the answer no longer than a browser.
    assert second.headers["cache-control"] == first.headers["cache-control"]
    assert "s-maxage" not in second.headers["cache-control"]
    (missed,) = await _entries(layout, since, f"edge-{unique}-1")
    (hit,) = await _entries(layout, since, f"edge-{unique}-2")
    assert missed["cache"] == "MISS"
    assert str(missed["upstream"]).startswith("127.0.0.1:")  # went to an API instance
    assert hit["cache"] == "HIT"
    assert hit["upstream"] == ""  # no API instance saw it
    # A conditional read is answered by the edge too (its stored ETag).
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as http:
        again = await http.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["x-cache"] == "HIT"


async def test_credentials_and_bypass_requests_are_never_cached(
    stack_url: str, make_user: MakeUser
) -> None:
    url, landlord = await _listing(stack_url, make_user)
    tenant = await make_user("tenant")
    skipping = [
        landlord,  # the owner's full view, private
        landlord,
        tenant.headers,  # the public body, but for a signed-in caller: private, no-cache
        {"Cookie": "sp_lang=de; __Host-sp_access=a.b.c"},  # a web page's session
        {"X-Cache-Bypass": "1"},  # the uncached benchmark
        {"Cache-Control": "no-cache"},
    ]
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as http:
        for headers in skipping:
            r = await http.get(url, headers=headers)
            assert r.status_code == 200
            assert r.headers["x-cache"] == "BYPASS", headers
        owner = await http.get(url, headers=landlord)
        # A signed-in caller's revalidation still reaches the API and ends in its 304.
        etag = {"If-None-Match": owner.headers["etag"]}
        revalidated = await http.get(url, headers={**landlord, **etag})
        anonymous = await http.get(url)
    assert revalidated.status_code == 304
    assert revalidated.headers["x-cache"] == "BYPASS"
    # Nothing of the above was stored: the first anonymous read still misses, and gets the
    # public view, not the owner's.
    assert anonymous.headers["x-cache"] == "MISS"
    assert "owner_id" in owner.json()
    assert "owner_id" not in anonymous.json()


async def test_an_edit_is_seen_through_the_edge_within_a_second(
    stack_url: str, make_user: MakeUser, unique: str
) -> None:
    url, landlord = await _listing(stack_url, make_user)
    title = f"Frisch renoviert {unique}"
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as http:
        await http.get(url)
        assert (await http.get(url)).headers["x-cache"] == "HIT"  # kept for s-maxage (300 s)
        edited = await http.patch(url, json={"title": title}, headers=landlord)
        assert edited.status_code == 200, edited.text
        committed = time.monotonic()
        reads: list[str] = []  # what each read got, for the failure's message
        while True:
            seen = await http.get(url)
            if seen.json()["title"] == title:
                break
            reads.append(f"{seen.headers['x-cache']} {seen.headers['x-request-id']}")
            assert time.monotonic() - committed < 1.0, f"not at the edge in 1 s: {reads}"
            await asyncio.sleep(0.05)
    print(f"edit seen through the edge {1000 * (time.monotonic() - committed):.0f} ms after")
    assert seen.headers["x-cache"] in ("MISS", "EXPIRED")  # purged, fetched again


async def _views(db: Database, redis_counts: Any, listing: str) -> tuple[int, int]:
    async with db.primary.connect() as conn:
        recorded = (
            await conn.execute(
                text("SELECT coalesce(sum(views), 0) FROM listing_views WHERE listing_id = :l"),
                {"l": listing},
            )
        ).scalar_one()
        counted = (
            await conn.execute(
                text("SELECT view_count FROM listings WHERE id = :l"), {"l": listing}
            )
        ).scalar_one()
    return int(recorded), int(counted) + await redis_counts(listing)


async def test_views_served_by_the_edge_are_counted_once(
    stack_url: str, make_user: MakeUser, db: Database, redis: Any
) -> None:
    url, _ = await _listing(stack_url, make_user)
    listing = url.rsplit("/", 1)[1]

    async def in_redis(listing_id: str) -> int:
        """Views not yet added to view_count: the minutes' hashes and sealed batches."""
        names = [BUCKET_PREFIX + b.decode() for b in await redis.smembers(BUCKETS_SET)]
        names += [BATCH_PREFIX + b.decode() for b in await redis.smembers(BATCHES_SET)]
        values = [await redis.hget(name, listing_id) for name in names]
        return sum(int(v) for v in values if v is not None)

    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as http:
        statuses = [(await http.get(url)).headers["x-cache"] for _ in range(5)]
    assert statuses[0] == "MISS"
    assert statuses.count("HIT") >= 3  # the API saw the others only
    deadline = time.monotonic() + 6
    while await _views(db, in_redis, listing) != (5, 5):
        assert time.monotonic() < deadline, await _views(db, in_redis, listing)
        await asyncio.sleep(0.25)
    await asyncio.sleep(1.5)  # a count twice would show by now (both buffers flush each second)
    assert await _views(db, in_redis, listing) == (5, 5)


def test_search_answers_carry_the_edge_status_and_uncached_ones_pass(stack_url: str) -> None:
    params = {"city": f"Nirgendwo{uuid.uuid4().hex}"}
    with httpx.Client(base_url=stack_url, timeout=10) as http:
        first = http.get(f"{API}/search/listings", params=params)
        second = http.get(f"{API}/search/listings", params=params)
        bypass = http.get(f"{API}/search/listings", params=params, headers={"X-Cache-Bypass": "1"})
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert first.headers["x-origin-cache"] == "miss"  # the API's own cache, passed on
    assert bypass.headers["x-cache"] == "BYPASS"
    assert bypass.headers["x-origin-cache"] == "bypass"  # and past the API's cache as well
