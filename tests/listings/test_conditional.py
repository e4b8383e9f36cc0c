"""Conditional requests and HTTP caching of public reads: the listing detail's strong ETag and
304 on If-None-Match (weak comparison, `*`, lists), Cache-Control by who reads (public for
anonymous callers, private for others, no-store for the owner's full view), Vary:
Authorization; search, facets, popular and suggest likewise (search without an ETag)."""

from __future__ import annotations

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.listings.conftest import API, MakeUser, listing_body, replica_caught_up


@pytest.fixture
def public_cache_control(settings: Settings) -> str:
    return f"public, max-age={settings.cache.http_max_age_seconds}"


@pytest.fixture
def detail_cache_control(settings: Settings, public_cache_control: str) -> str:
    """The detail: kept longer by shared caches (the edge), which are purged on a change."""
    return f"{public_cache_control}, s-maxage={settings.cache.http_shared_max_age_seconds}"


@pytest.fixture
def slow_cache_control(settings: Settings, public_cache_control: str) -> str:
    """Popular and suggest: they trail the data by minutes anyway."""
    return f"{public_cache_control}, s-maxage={settings.cache.http_shared_max_age_slow_seconds}"


async def _listing(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> tuple[str, dict[str, str]]:
    owner = await make_user("landlord")
    r = await client.post(f"{API}/listings", json=listing_body(), headers=owner.headers)
    assert r.status_code == 201, r.text
    await replica_caught_up(db)
    return f"{API}/listings/{r.json()['id']}", owner.headers


async def test_detail_answers_304_on_a_matching_if_none_match(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database, detail_cache_control: str
) -> None:
    url, _ = await _listing(client, make_user, db)
    first = await client.get(url)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag[0] == etag[-1] == '"'  # strong
    assert first.headers["cache-control"] == detail_cache_control
    assert first.headers["vary"] == "Authorization"
    assert first.headers["surrogate-key"] == f"listing-{url.rsplit('/', 1)[1]}"

    for sent in (etag, f"W/{etag}", f'"other", {etag}', f'W/"x",W/{etag}', "*"):
        again = await client.get(url, headers={"If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == detail_cache_control
        assert again.headers["vary"] == "Authorization"
    for sent in ('"other"', 'W/"other", "else"', ""):
        assert (await client.get(url, headers={"If-None-Match": sent})).status_code == 200


async def test_an_edit_changes_the_etag(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    url, owner = await _listing(client, make_user, db)
    etag = (await client.get(url)).headers["etag"]
    r = await client.patch(url, json={"title": "Frisch renoviert"}, headers=owner)
    assert r.status_code == 200
    await replica_caught_up(db)
    after = await client.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.json()["title"] == "Frisch renoviert"
    assert after.headers["etag"] != etag


async def test_owner_view_is_private_and_not_the_public_etag(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    url, owner = await _listing(client, make_user, db)
    tenant = await make_user("tenant")
    public = await client.get(url)
    mine = await client.get(url, headers=owner)
    theirs = await client.get(url, headers=tenant.headers)

    assert mine.headers["cache-control"] == "private, no-store"
    assert "surrogate-key" not in mine.headers
    assert mine.headers["vary"] == "Authorization"
    assert mine.headers["etag"] != public.headers["etag"]  # another body: another tag
    # The owner's tag revalidates the owner's view, never the public one (nor the reverse).
    assert (
        await client.get(url, headers={**owner, "If-None-Match": mine.headers["etag"]})
    ).status_code == 304
    assert (
        await client.get(url, headers={"If-None-Match": mine.headers["etag"]})
    ).status_code == 200
    pub_tag = {"If-None-Match": public.headers["etag"]}
    assert (await client.get(url, headers={**owner, **pub_tag})).status_code == 200
    # A tenant gets the public body, kept privately and revalidated each time.
    assert theirs.headers["cache-control"] == "private, no-cache"
    assert theirs.headers["etag"] == public.headers["etag"]
    assert (await client.get(url, headers={**tenant.headers, **pub_tag})).status_code == 304


async def test_unknown_listing_is_404_whatever_the_condition(client: httpx.AsyncClient) -> None:
    url = f"{API}/listings/00000000-0000-4000-8000-000000000000"
    r = await client.get(url, headers={"If-None-Match": "*"})
    assert r.status_code == 404
    assert "etag" not in r.headers


async def test_public_lists_carry_cache_control_and_etags(
    client: httpx.AsyncClient, public_cache_control: str, slow_cache_control: str
) -> None:
    search = await client.get(f"{API}/search/listings", params={"city": "Berlin"})
    assert search.status_code == 200
    assert search.headers["cache-control"] == public_cache_control
    assert search.headers["vary"] == "Authorization"
    assert "etag" not in search.headers  # hashing every page would slow the cached search
    assert search.headers["surrogate-key"] == "listings city-berlin"

    for path, params, cache_control, keys in (
        ("/search/facets", {"city": "Berlin"}, public_cache_control, "listings city-berlin"),
        ("/search/suggest", {"q": "Ber"}, slow_cache_control, "suggest"),
        ("/listings/popular", {"limit": 5}, slow_cache_control, "listings"),
    ):
        r = await client.get(f"{API}{path}", params=params)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == cache_control
        assert r.headers["surrogate-key"] == keys
        etag = r.headers["etag"]
        again = await client.get(f"{API}{path}", params=params, headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert again.content == b""


async def test_lists_for_a_signed_in_caller_are_revalidated(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    tenant = await make_user("tenant")
    for path, params in (("/search/listings", {"city": "Berlin"}), ("/listings/popular", {})):
        r = await client.get(f"{API}{path}", params=params, headers=tenant.headers)
        assert r.status_code == 200
        # Read-your-writes: a browser must not reuse a list across the caller's own edit.
        assert r.headers["cache-control"] == "private, no-cache"
        assert r.headers["vary"] == "Authorization"
        assert "surrogate-key" not in r.headers  # nothing a shared cache may keep


async def test_conditional_get_through_nginx(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database, stack_url: str
) -> None:
    """The public entry point passes the validator and the 304 on (whatever it compresses:
    a tag nginx weakens on the way still matches, by weak comparison)."""
    url, _ = await _listing(client, make_user, db)
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as edge:
        first = await edge.get(url, headers={"Accept-Encoding": "gzip"})
        assert first.status_code == 200
        assert first.headers["cache-control"].startswith("public, max-age=")
        again = await edge.get(
            url, headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["etag"]}
        )
        assert again.status_code == 304
        # nginx weakens the tag of a body it compresses, not of a 304: compared weakly.
        assert again.headers["etag"].removeprefix("W/") == first.headers["etag"].removeprefix("W/")
