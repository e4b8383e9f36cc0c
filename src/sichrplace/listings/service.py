"""Listing use cases: create, update, archive (owner checks, merged validation, geocoding) and
the cached reads. The decisions are the pure rules of `listings.rules`.

Services never commit: the request boundary does, then runs the after-commit effects
registered here (cache invalidation, read-your-writes pinning).
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from sichrplace.integrations.maps.types import Geocoder, GeocodeResult, GeocodingUnavailable
from sichrplace.kit import jsonbody
from sichrplace.kit.clock import utcnow
from sichrplace.kit.cursor import decode_time_id, encode_time_id
from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.i18n import N_
from sichrplace.listings import geocoding, repository, rules
from sichrplace.listings.detail import (
    CACHE_DOMAIN,
    ConfirmedViewing,
    DetailExtras,
    cache_key,
    document,
    load_full,
    load_public,
    shaped,
)
from sichrplace.listings.errors import ListingArchived, ListingNotFound
from sichrplace.listings.fulltext import derived_columns
from sichrplace.listings.invalidation import ReadPath, after_listing_write
from sichrplace.listings.records import ListingRow, OwnListingRow, PopularRow
from sichrplace.listings.rules import Caller
from sichrplace.listings.schemas import ListingCreate, ListingUpdate
from sichrplace.listings.tasks import geocode_listing
from sichrplace.listings.vocabulary import GeocodeStatus, ListingStatus, city_key
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession
from sichrplace.platform.jobs import enqueue
from sichrplace.platform.observability import business, tracing

# The maps interface and the caller, re-exported for callers of the service.
__all__ = ["Caller", "GeocodeResult", "Geocoder", "GeocodingUnavailable"]

ReadSource = Literal["cache", "replica", "primary"]


async def _detail(
    session: PrimarySession, read_path: ReadPath, row: ListingRow, caller: Caller
) -> dict[str, Any]:
    """A written row as the detail document (e.g. with its images) as its writer sees it."""
    extras = None if read_path.extras is None else await read_path.extras(session, row.id)
    return shaped(document(row, extras), caller)


async def create_listing(
    session: PrimarySession,
    caller: Caller,
    data: ListingCreate,
    *,
    geocoder: Geocoder | None,
    read_path: ReadPath,
) -> dict[str, Any]:
    rules.check_deposit(data.deposit_cents, data.cold_rent_cents)
    rules.check_coordinates(data.latitude, data.longitude)
    sent = data.model_dump()
    values: dict[str, object] = {
        **sent,
        **derived_columns(sent),
        "id": uuid.uuid4(),
        "owner_id": caller.id,
        "status": ListingStatus.ACTIVE,
        "geocode_status": GeocodeStatus.OK,
    }
    if data.latitude is None:
        # Before the first statement: no database connection is held while the geocoder works.
        found = await geocoding.geocode(geocoder, geocoding.address_of(data))
        values.update(
            latitude=found.latitude, longitude=found.longitude, geocode_status=found.status
        )
    row = await repository.insert_listing(session, values)
    if row.geocode_status == GeocodeStatus.PENDING:
        await enqueue(session, geocode_listing, listing_id=str(row.id))
    after_listing_write(session, read_path, row.id, caller.id)
    business.listing_published(session)
    return await _detail(session, read_path, row, caller)


async def _load_for_change(
    session: PrimarySession, caller: Caller, listing_id: uuid.UUID
) -> ListingRow:
    current = await repository.lock_listing(session, listing_id)
    if current is None:
        raise ListingNotFound()
    rules.check_may_change(caller, current)
    return current


async def update_listing(
    session: PrimarySession,
    caller: Caller,
    listing_id: uuid.UUID,
    patch: ListingUpdate,
    *,
    geocoder: Geocoder | None,
    read_path: ReadPath,
) -> dict[str, Any]:
    current = await _load_for_change(session, caller, listing_id)
    merged = rules.merge(current, patch.changes())
    coordinates_sent = bool({"latitude", "longitude"} & patch.model_fields_set)
    located = False
    if coordinates_sent and merged.latitude is not None:
        merged = dataclasses.replace(merged, geocode_status=GeocodeStatus.OK)
    elif coordinates_sent or rules.address_changed(current, merged):
        # Cleared coordinates, or a new address that makes the old ones wrong.
        found = await geocoding.geocode(geocoder, geocoding.address_of(merged))
        merged = dataclasses.replace(
            merged, latitude=found.latitude, longitude=found.longitude, geocode_status=found.status
        )
        located = True
    changes = rules.changed_columns(current, merged)
    if not changes:
        return await _detail(session, read_path, current, caller)
    row = await repository.update_listing(session, listing_id, changes)
    if row.status == ListingStatus.ACTIVE and current.status != ListingStatus.ACTIVE:
        business.listing_published(session)
    if located and row.geocode_status == GeocodeStatus.PENDING:
        await enqueue(session, geocode_listing, listing_id=str(listing_id))
    after_listing_write(session, read_path, listing_id, caller.id)
    return await _detail(session, read_path, row, caller)


async def archive_listing(
    session: PrimarySession, caller: Caller, listing_id: uuid.UUID, *, read_path: ReadPath
) -> None:
    """DELETE is a soft delete: the listing is archived (viewings, contracts and messages keep
    pointing at it) and hidden from everyone but its owner and admins."""
    current = await _load_for_change(session, caller, listing_id)
    if current.status == ListingStatus.ARCHIVED:
        return
    await repository.update_listing(session, listing_id, {"status": ListingStatus.ARCHIVED})
    after_listing_write(session, read_path, listing_id, caller.id)


async def visible_listing(
    session: PrimarySession | ReplicaSession, listing_id: uuid.UUID, viewer: Caller | None
) -> ListingRow:
    """The listing if `viewer` may see it (rules.may_see), else ListingNotFound: everything
    hanging off a listing (images, later slots and viewings) asks here, so an archived
    listing's parts are as invisible as the listing itself."""
    row = await repository.get_listing(session, listing_id)
    if row is None or not rules.may_see(viewer, owner_id=row.owner_id, status=row.status):
        raise ListingNotFound()
    return row


@dataclass(frozen=True, slots=True)
class DetailView:
    """A listing's detail for one caller: the JSON text to send, whether it is the full view
    of one who manages the listing (never cached, never to be shared), where it came from."""

    body: bytes
    managed: bool
    source: ReadSource
    # Shaped for this caller alone (a tenant with a confirmed viewing): never to be shared.
    private: bool = False


@tracing.traced("listing.detail")
async def get_listing(
    replica: ReplicaSession,
    cache: Cache,
    listing_id: uuid.UUID,
    caller: Caller | None,
    *,
    pinned: bool,
    extras: DetailExtras | None = None,
    confirmed_viewing: ConfirmedViewing | None = None,
) -> DetailView:
    """The listing's detail as `caller` may see it.

    The public view is cached per listing for everyone alike (the hot path: the cached text
    is handed on unchanged) and visibility is decided after the cache. Landlords and admins,
    who may manage it, are read past the cache first: their own listing (or any, for an
    admin) is the full view. A caller pinned by read-your-writes bypasses the cache and
    reads the primary. A tenant with a confirmed viewing of a listing whose public view
    hides the address gets the detail with it, built for them alone (`private`).
    """
    if rules.may_manage_some(caller):
        full = await load_full(replica, listing_id, extras)
        if full is None:
            raise ListingNotFound()
        if rules.may_manage(caller, full["owner_id"]):
            body = jsonbody.dumps(shaped(full, caller))
            return DetailView(body, True, replica.last_target or "replica")
    source: ReadSource = "cache"

    async def load() -> dict[str, Any] | None:
        nonlocal source
        doc = await load_public(replica, listing_id, extras)
        source = replica.last_target or "replica"
        return doc

    body = await cache.get_or_compute_json(CACHE_DOMAIN, cache_key(listing_id), load, bypass=pinned)
    doc = orjson.loads(body)
    # Not one who manages it (they were answered above): an archived listing is not found.
    if doc is None:
        raise ListingNotFound()
    if not rules.may_see(None, owner_id="", status=doc["status"]):
        raise ListingArchived()
    if (
        confirmed_viewing is not None
        and caller is not None
        and caller.role == "tenant"
        and doc["street"] is None  # the public view hides the address: may this tenant see it?
        and await confirmed_viewing(replica, listing_id, caller.id)
    ):
        full = await load_full(replica, listing_id, extras)
        if full is not None:
            own = shaped(full, caller, has_confirmed_viewing=True)
            return DetailView(jsonbody.dumps(own), False, source, private=True)
    return DetailView(body, False, source)


async def own_listings(
    session: ReplicaSession,
    caller: Caller,
    *,
    status: ListingStatus | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[OwnListingRow], str | None]:
    """The caller's own listings (any status, or one), newest first, and the next cursor."""
    after = _decode_cursor(cursor) if cursor else None
    rows = await repository.owned_page(
        session, caller.id, status=status, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_time_id(rows[-1].created_at, rows[-1].id) if more and rows else None
    return rows, next_cursor


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        return decode_time_id(cursor)
    except ValueError:
        raise Unprocessable.field("cursor", N_("is not a cursor of this list")) from None


async def popular_listings(
    replica: ReplicaSession, cache: Cache, city: str | None, limit: int, *, days: int = 7
) -> bytes:
    """The most viewed active listings as JSON text ({"items": [...]}, public cards: the
    coordinates as the public may see them): by their views of the last `days` UTC days
    (the analytics rollups), then by all their views."""
    key = city_key(city) if city else ""

    async def load() -> dict[str, Any]:
        since = utcnow().date() - timedelta(days=days - 1)
        cards = await repository.popular(replica, key or None, limit, since=since)
        return {"items": [_public_card(card) for card in cards]}

    # "p|": cards as the public may see them (cards cached before held exact coordinates).
    return await cache.get_or_compute_json("popular", f"p|{key}|{limit}", load)


def _public_card(card: PopularRow) -> dict[str, Any]:
    out = card._asdict()
    exact = out.pop("show_exact_address")
    out["latitude"], out["longitude"] = rules.shown_point(
        card.latitude,
        card.longitude,
        exact=rules.may_see_exact_address(show_exact_address=exact, owner_id=None, viewer=None),
    )
    return out


SITEMAP_CACHE_DOMAIN = "sitemap"


async def sitemap_pages(replica: ReplicaSession, cache: Cache, size: int) -> bytes:
    """The id ranges of the sitemap's pages of `size` listings each (SitemapPages as JSON).

    Cached for the sitemap's lifetime (CacheSettings.ttl_sitemap_seconds): the ranges
    partition the whole id space whatever is written meanwhile, so pages read with one set
    of ranges list every active listing exactly once; a listing published since only makes
    its page a little longer (the web's page size leaves room below the protocol's limit)."""

    async def load() -> dict[str, Any]:
        cuts: list[uuid.UUID | None] = [None, *await repository.sitemap_cuts(replica, size), None]
        pages = [{"after": a, "until": u} for a, u in itertools.pairwise(cuts)]
        return {"size": size, "pages": pages}

    return await cache.get_or_compute_json(SITEMAP_CACHE_DOMAIN, f"pages|{size}", load)


async def sitemap_items(
    replica: ReplicaSession, *, after: uuid.UUID | None, until: uuid.UUID | None, limit: int
) -> bytes:
    """The active listings of one id range, by id (SitemapPage as JSON); not cached: a
    sitemap page is read rarely and its HTTP answer is cached by whoever reads it."""
    rows = await repository.sitemap_items(replica, after=after, until=until, limit=limit)
    items = [{"id": i, "title": t, "city": c, "updated_at": u} for i, t, c, u in rows]
    next_after = rows[-1][0] if len(rows) == limit else None
    return jsonbody.dumps({"items": items, "next_after": next_after})
