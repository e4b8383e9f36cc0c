"""All listing SQL (Core, column projections; no ORM entity loading). Rows come back as the
typed records of `listings.records`."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, Table, TextClause, and_, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from sichrplace.analytics.models import listing_daily
from sichrplace.listings.models import Listing, ListingViewFlush
from sichrplace.listings.records import ADDRESS_FIELDS, ListingRow, OwnListingRow, PopularRow
from sichrplace.listings.vocabulary import GeocodeStatus, ListingStatus
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession

listings: Table = Listing.__table__  # type: ignore[assignment]
flushes: Table = ListingViewFlush.__table__  # type: ignore[assignment]
LISTING_DAILY = listing_daily.name

# The record names the columns read (the internal ones, location, text and change stamp, not).
DETAIL_COLUMNS = [listings.c[field.name] for field in dataclasses.fields(ListingRow)]
OWN_COLUMNS = [listings.c[name] for name in OwnListingRow._fields]

AnySession = PrimarySession | ReplicaSession
Values = Mapping[str, object]


def _listing(row: Row[*tuple[Any, ...]]) -> ListingRow:
    values = row._asdict()
    return ListingRow(
        **{
            **values,
            # numeric columns come as Decimal: floats, as the API and the search index use
            "rooms": float(values["rooms"]),
            "size_sqm": float(values["size_sqm"]),
            "amenities": tuple(values["amenities"]),
            "geocode_status": GeocodeStatus(values["geocode_status"]),
            "status": ListingStatus(values["status"]),
        }
    )


def _popular(row: Row[*tuple[Any, ...]]) -> PopularRow:
    card = PopularRow._make(row)
    return card._replace(
        rooms=float(card.rooms), size_sqm=float(card.size_sqm), amenities=tuple(card.amenities)
    )


async def insert_listing(session: PrimarySession, values: Values) -> ListingRow:
    stmt = insert(listings).values(**values).returning(*DETAIL_COLUMNS)
    return _listing((await session.execute(stmt)).one())


async def get_listing(session: AnySession, listing_id: uuid.UUID) -> ListingRow | None:
    stmt = select(*DETAIL_COLUMNS).where(listings.c.id == listing_id)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _listing(row)


async def lock_listing(session: PrimarySession, listing_id: uuid.UUID) -> ListingRow | None:
    """The listing, row-locked until the transaction ends (PATCH validates merged values)."""
    stmt = select(*DETAIL_COLUMNS).where(listings.c.id == listing_id).with_for_update()
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _listing(row)


async def update_listing(
    session: PrimarySession, listing_id: uuid.UUID, values: Values
) -> ListingRow:
    stmt = (
        update(listings)
        .where(listings.c.id == listing_id)
        # clock_timestamp(): when the row changed (under its lock), not when the transaction began.
        .values(**values, updated_at=func.clock_timestamp())
        .returning(*DETAIL_COLUMNS)
    )
    return _listing((await session.execute(stmt)).one())


async def store_geocode(
    session: PrimarySession,
    listing_id: uuid.UUID,
    address: Mapping[str, str],
    *,
    latitude: float | None,
    longitude: float | None,
    status: GeocodeStatus,
) -> ListingRow | None:
    """Apply a geocoder answer if the listing is still pending at the address geocoded;
    the updated listing, or None when it changed meanwhile."""
    stmt = (
        update(listings)
        .where(
            listings.c.id == listing_id,
            listings.c.geocode_status == GeocodeStatus.PENDING,
            *(listings.c[name] == address[name] for name in ADDRESS_FIELDS),
        )
        .values(
            latitude=latitude,
            longitude=longitude,
            geocode_status=status,
            updated_at=func.clock_timestamp(),
        )
        .returning(*DETAIL_COLUMNS)
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _listing(row)


_POPULAR_SELECT = ", ".join(f"l.{name}" for name in PopularRow._fields)


@functools.cache
def _popular_sql(by_city: bool) -> TextClause:
    city_daily = " AND d.city_key = :city" if by_city else ""
    city = " AND l.city_key = :city" if by_city else ""
    # First the active listings with views in the rollups of the last days (the analytics
    # domain's listing_daily: ix_listing_daily_day / _city_day, index-only), most first;
    # then, to fill the page, the others by their views of all time (ix_listings_popular /
    # _city, partial on active, read in order until the page is full).
    sql = f"""
WITH recent AS (
  SELECT d.listing_id, sum(d.views) AS views FROM {LISTING_DAILY} d
  WHERE d.day >= :since{city_daily}
  GROUP BY d.listing_id
), ranked AS (
  SELECT {_POPULAR_SELECT}, r.views AS recent
  FROM recent r JOIN listings l ON l.id = r.listing_id
  WHERE l.status = 'active'{city}
  ORDER BY r.views DESC, l.view_count DESC, l.id
  LIMIT :limit
)
SELECT {", ".join(PopularRow._fields)} FROM (
  SELECT ranked.*, 0 AS tier FROM ranked
  UNION ALL
  (SELECT {_POPULAR_SELECT}, 0 AS recent, 1 AS tier FROM listings l
   WHERE l.status = 'active'{city} AND l.id NOT IN (SELECT id FROM ranked)
   ORDER BY l.view_count DESC, l.id
   LIMIT :limit)
) u
ORDER BY tier, recent DESC, view_count DESC, id
LIMIT :limit
"""  # noqa: S608 (no input in it: names of ours, two fixed variants)
    return text(sql)


async def popular(
    session: ReplicaSession, city_key: str | None, limit: int, *, since: date
) -> list[PopularRow]:
    """The most viewed active listings: by their views since `since` (the rollups), then by
    all their views."""
    params: dict[str, object] = {"since": since, "limit": limit}
    if city_key:
        params["city"] = city_key
    rows = (await session.execute(_popular_sql(bool(city_key)), params)).all()
    return [_popular(r) for r in rows]


async def owned_page(
    session: AnySession,
    owner_id: uuid.UUID,
    *,
    status: ListingStatus | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[OwnListingRow]:
    """The owner's listings, newest first, after a keyset cursor (the owner's index,
    ix_listings_owner_id_created_at, read backwards)."""
    stmt = select(*OWN_COLUMNS).where(listings.c.owner_id == owner_id)
    if status is not None:
        stmt = stmt.where(listings.c.status == status)
    if after is not None:
        created, last_id = after
        stmt = stmt.where(
            or_(
                listings.c.created_at < created,
                and_(listings.c.created_at == created, listings.c.id < last_id),
            )
        )
    stmt = stmt.order_by(listings.c.created_at.desc(), listings.c.id.desc()).limit(limit)
    rows = (await session.execute(stmt)).all()
    return [
        OwnListingRow._make(r)._replace(
            status=ListingStatus(r.status), rooms=float(r.rooms), size_sqm=float(r.size_sqm)
        )
        for r in rows
    ]


async def claim_view_batch(
    session: PrimarySession, batch: str, *, listings_count: int, views: int
) -> bool:
    """Record that `batch` is applied; False if it already was (its counts must not repeat).

    A concurrent flusher of the same batch waits on the primary key until this transaction
    ends, then gets False.
    """
    stmt = (
        pg_insert(flushes)
        .values(batch=batch, listings=listings_count, views=views)
        .on_conflict_do_nothing(index_elements=["batch"])
        .returning(flushes.c.batch)
    )
    return (await session.execute(stmt)).one_or_none() is not None


_ADD_VIEWS = text(
    "UPDATE listings AS l SET view_count = l.view_count + v.n "
    "FROM unnest(CAST(:ids AS uuid[]), CAST(:counts AS bigint[])) AS v(id, n) "
    "WHERE l.id = v.id"
)


async def add_views(
    session: PrimarySession, ids: Sequence[uuid.UUID], counts: Sequence[int]
) -> int:
    """Add view counts in one statement per batch; ids of deleted listings are skipped."""
    result = await session.execute(_ADD_VIEWS, {"ids": list(ids), "counts": list(counts)})
    return int(getattr(result, "rowcount", 0) or 0)


async def prune_view_batches(session: PrimarySession, *, older_than_days: int) -> None:
    await session.execute(
        text(
            "DELETE FROM listing_view_flushes WHERE flushed_at < now() - make_interval(days => :d)"
        ),
        {"d": older_than_days},
    )


# --- personal data (privacy: export and deletion) ---------------------------------------------


async def export_owned(session: PrimarySession, owner_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every listing of the owner, archived ones included (without internal search columns)."""
    stmt = text(
        "SELECT to_jsonb(l) - 'location' - 'search_tsv' - 'search_extra' - 'city_key' "
        "- 'district_key' AS doc FROM listings l WHERE owner_id = :uid ORDER BY created_at, id"
    )
    return [dict(r.doc) for r in await session.execute(stmt, {"uid": owner_id})]


async def unarchived_of(session: PrimarySession, owner_id: uuid.UUID) -> list[uuid.UUID]:
    """The owner's listings that are not archived yet."""
    stmt = select(Listing.id).where(
        Listing.owner_id == owner_id, Listing.status != ListingStatus.ARCHIVED.value
    )
    return list((await session.execute(stmt)).scalars())


# --- the sitemap (web/pages/seo.py) -----------------------------------------------------------

# The ids at positions step, 2·step, ... of every listing by id, whatever its status: each
# step is a keyset scan from the previous cut that skips `step` entries of pk_listings, an
# index-only scan (it reads ids alone, no table rows), so a cut costs O(step) and never
# O(position) as an OFFSET from the start would: ~250 ms for all ~20 cuts at 1M listings.
# Counting rows of any status (not only active ones) is what lets the scan stay index-only:
# a status test would visit the table for every id passed. A cut with nothing after it is
# dropped, so no page covers an empty range of ids.
_SITEMAP_CUTS = text(
    """
    WITH RECURSIVE cut(id) AS (
        SELECT (SELECT id FROM listings ORDER BY id OFFSET :skip LIMIT 1)
        UNION ALL
        SELECT (SELECT l.id FROM listings l WHERE l.id > cut.id ORDER BY l.id OFFSET :skip LIMIT 1)
        FROM cut WHERE cut.id IS NOT NULL
    )
    SELECT id FROM cut
    WHERE id IS NOT NULL AND EXISTS (SELECT 1 FROM listings n WHERE n.id > cut.id)
    """
)


async def sitemap_cuts(session: ReplicaSession, step: int) -> list[uuid.UUID]:
    """Where the sitemap's pages end: page k holds the ids in (cut k-1, cut k]."""
    rows = await session.fetch(_SITEMAP_CUTS, {"skip": step - 1})
    return [row[0] for row in rows.rows]


@functools.cache
def _sitemap_items_sql(after: bool, until: bool) -> TextClause:
    where = ["status = 'active'"]
    if after:
        where.append("id > :after")
    if until:
        where.append("id <= :until")
    return text(
        f"SELECT id, title, city, updated_at FROM listings WHERE {' AND '.join(where)} "  # noqa: S608
        "ORDER BY id LIMIT :limit"
    )


async def sitemap_items(
    session: ReplicaSession, *, after: uuid.UUID | None, until: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, str, str, datetime]]:
    """(id, title, city, updated_at) of the active listings with after < id <= until, by id:
    a range scan of pk_listings (keyset, never OFFSET)."""
    stmt = _sitemap_items_sql(after is not None, until is not None)
    rows = await session.fetch(stmt, {"after": after, "until": until, "limit": limit})
    return [(r[0], r[1], r[2], r[3]) for r in rows.rows]
