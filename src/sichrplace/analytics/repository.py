"""All analytics SQL: the batch insert of raw events, pg_partman's maintenance and
configuration, the rollups, and the reads of the landlord's statistics."""
# ruff: noqa: S608  (table names come from RAW_TABLES, never from input)

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import TextClause, text

from sichrplace.analytics.models import RAW_TABLES
from sichrplace.analytics.records import DayCounts, ListingDays, Partition
from sichrplace.platform.analytics import Batch
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession

AnySession = PrimarySession | ReplicaSession
PARENTS = tuple(f"public.{table}" for table, _ in RAW_TABLES)

# --- the raw events ---------------------------------------------------------------------------

# One statement per flush, whatever it carries: each kind's rows come in as parallel arrays
# (unnest), times as epoch seconds (to_timestamp: no datetime objects built in Python), and
# each kind present is one data-modifying CTE of the same statement. A view row carries the
# views of its listing in its second (`views`, migration 0029).
#
# Sent on the driver's own cursor with binary parameters (`%(name)b`): psycopg dumps a list
# for a `%s` placeholder as an array literal in text, quoting each element in Python (over
# a microsecond an element), while a binary array is packed from the elements' bytes, and
# the views' numbers (seconds, counts) go as array literals joined in C (`_numbers`, no
# quoting needed): 4 ms of CPU on the event loop for a flush of 2,000 views and 200 searches
# instead of 9 (docs/performance-log.md, round 16). The statement bypasses SQLAlchemy's
# execute (no statement span for it); the flush is timed by sichrplace_analytics_flush_seconds.
_INSERTS = {
    "views": (
        "INSERT INTO listing_views (viewed_at, listing_id, views) "
        "SELECT to_timestamp(t), id, n FROM unnest(CAST(%(v_at)s AS float8[]), "
        "CAST(%(v_listing)b AS uuid[]), CAST(%(v_count)s AS int[])) AS x(t, id, n)"
    ),
    "searches": (
        "INSERT INTO search_events (searched_at, city_key, filters, sort, results, "
        "latency_ms, cache, next_page) "
        "SELECT to_timestamp(t), c, string_to_array(f, ','), s, r, l, h, n FROM unnest("
        "CAST(%(s_at)b AS float8[]), CAST(%(s_city)b AS text[]), "
        "CAST(%(s_filters)b AS text[]), CAST(%(s_sort)b AS text[]), "
        "CAST(%(s_results)b AS int[]), CAST(%(s_latency)b AS real[]), "
        "CAST(%(s_cache)b AS text[]), CAST(%(s_next)b AS boolean[])) "
        "AS x(t, c, f, s, r, l, h, n)"
    ),
    "journeys": (
        "INSERT INTO journey_events (occurred_at, kind, listing_id, subject_id) "
        "SELECT to_timestamp(t), k, l, s FROM unnest(CAST(%(j_at)b AS float8[]), "
        "CAST(%(j_kind)b AS text[]), CAST(%(j_listing)b AS uuid[]), "
        "CAST(%(j_subject)b AS uuid[])) AS x(t, k, l, s)"
    ),
}


def _numbers(values: Iterable[float]) -> str:
    """An array literal of numbers, e.g. '{1,2.5}' (repr of an int or float needs no quoting)."""
    return "{" + ",".join(map(repr, values)) + "}"


def _batch_params(batch: Batch) -> tuple[tuple[str, ...], dict[str, object]]:
    kinds: list[str] = []
    params: dict[str, object] = {}
    if batch.views:
        kinds.append("views")
        v = batch.views
        params.update(
            v_at=_numbers([e.at for e in v]),
            v_listing=[e.listing_id for e in v],
            v_count=_numbers([e.times for e in v]),
        )
    if batch.searches:
        kinds.append("searches")
        s = batch.searches
        params.update(
            s_at=[e.at for e in s],
            s_city=[e.city_key for e in s],
            s_filters=[",".join(e.filters) for e in s],
            s_sort=[e.sort for e in s],
            s_results=[e.results for e in s],
            s_latency=[e.latency_ms for e in s],
            s_cache=[e.cache for e in s],
            s_next=[e.next_page for e in s],
        )
    if batch.journeys:
        kinds.append("journeys")
        j = batch.journeys
        params.update(
            j_at=[e.at for e in j],
            j_kind=[e.kind for e in j],
            j_listing=[e.listing_id for e in j],
            j_subject=[e.subject_id for e in j],
        )
    return tuple(kinds), params


@lru_cache(maxsize=8)
def _insert_sql(kinds: tuple[str, ...]) -> str:
    """The statement writing the kinds present (at most seven combinations)."""
    *first, last = (_INSERTS[kind] for kind in kinds)
    ctes = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(first))
    return f"WITH {ctes} {last}" if ctes else last


async def insert_batch(session: PrimarySession, batch: Batch) -> None:
    """Every event of `batch` in one statement, in the session's transaction (nothing when it
    is empty)."""
    kinds, params = _batch_params(batch)
    if not kinds:
        return
    conn = await session.connection()
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None  # a checked-out pool connection is always live
    async with driver.cursor() as cur:
        await cur.execute(_insert_sql(kinds), params)


# --- partitions (pg_partman 4.x) --------------------------------------------------------------


async def configure_partitions(
    session: PrimarySession, *, retention_days: int, premake_days: int
) -> int:
    """Write the retention and premake settings into partman.part_config for the raw tables
    (only where they differ); the rows changed."""
    result = await session.execute(
        text(
            "UPDATE partman.part_config SET retention = :retention, retention_keep_table = false, "
            "premake = :premake, infinite_time_partitions = true "
            "WHERE parent_table = ANY(CAST(:parents AS text[])) AND ("
            "retention IS DISTINCT FROM :retention OR retention_keep_table OR "
            "premake <> :premake OR NOT infinite_time_partitions)"
        ),
        {
            "retention": f"{retention_days} days",
            "premake": premake_days,
            "parents": list(PARENTS),
        },
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def run_maintenance(session: PrimarySession, parent: str | None = None) -> None:
    """pg_partman's maintenance: premake partitions ahead, drop those past retention. For
    one partition set, or (None) every set configured for automatic maintenance."""
    await session.execute(
        text(
            "SELECT partman.run_maintenance(p_parent_table => CAST(:parent AS text), "
            "p_analyze => false, p_jobmon => false)"
        ),
        {"parent": parent},
    )


async def create_partitions(
    session: PrimarySession, parent: str, moments: Sequence[datetime]
) -> bool:
    """The partitions holding `moments` (e.g. an old day, to see retention drop it)."""
    result = await session.execute(
        text(
            "SELECT partman.create_partition_time(CAST(:parent AS text), "
            "CAST(:moments AS timestamptz[]))"
        ),
        {"parent": parent, "moments": list(moments)},
    )
    return bool(result.scalar_one())


_FROM = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})")


async def partitions(session: AnySession, table: str) -> list[Partition]:
    """The partitions of a raw table, oldest first (the default partition last)."""
    rows = (
        await session.execute(
            text(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = CAST(:parent AS regclass)"
            ),
            {"parent": f"public.{table}"},
        )
    ).all()
    out: list[Partition] = []
    for name, bound in rows:
        found = _FROM.search(str(bound))
        first = date.fromisoformat(found.group(1)) if found else None
        out.append(Partition(table, str(name), first))
    return sorted(out, key=lambda p: (p.first_day is None, p.first_day or date.min, p.name))


async def part_config(session: AnySession) -> list[tuple[str, str | None, int, bool]]:
    """(parent table, retention, premake, retention_keep_table) of the raw tables."""
    rows = await session.execute(
        text(
            "SELECT parent_table, retention, premake, retention_keep_table "
            "FROM partman.part_config WHERE parent_table = ANY(CAST(:parents AS text[])) "
            "ORDER BY parent_table"
        ),
        {"parents": list(PARENTS)},
    )
    return [(str(p), r, int(n), bool(k)) for p, r, n, k in rows.all()]


async def default_rows(session: AnySession, table: str) -> int:
    """Rows in a raw table's default partition: events no daily partition covered."""
    row = await session.execute(text(f"SELECT count(*) FROM {table}_default"))
    return int(row.scalar_one())


# --- rollups ----------------------------------------------------------------------------------

# A day's counts are recomputed from the raw rows of that whole day and upserted: running
# it again gives the same rows (idempotent), and a row is rewritten only when a count moved.
# Views are summed, not counted: a listing_views row holds a listing's views in one second.
_LISTING_ROLLUP = text(
    """
WITH v AS (
  SELECT listing_id, (viewed_at AT TIME ZONE 'UTC')::date AS day, sum(views) AS views
  FROM listing_views WHERE viewed_at >= :start AND viewed_at < :end
  GROUP BY 1, 2
), j AS (
  SELECT listing_id, (occurred_at AT TIME ZONE 'UTC')::date AS day,
         count(*) FILTER (WHERE kind = 'enquiry') AS enquiries,
         count(*) FILTER (WHERE kind = 'viewing_booked') AS bookings,
         count(*) FILTER (WHERE kind IN ('viewing_paid', 'deposit_paid')) AS payments,
         count(*) FILTER (WHERE kind = 'contract_signed') AS signings
  FROM journey_events WHERE occurred_at >= :start AND occurred_at < :end
  GROUP BY 1, 2
), s AS (
  SELECT coalesce(v.listing_id, j.listing_id) AS listing_id, coalesce(v.day, j.day) AS day,
         coalesce(v.views, 0) AS views, coalesce(j.enquiries, 0) AS enquiries,
         coalesce(j.bookings, 0) AS bookings, coalesce(j.payments, 0) AS payments,
         coalesce(j.signings, 0) AS signings
  FROM v FULL JOIN j ON j.listing_id = v.listing_id AND j.day = v.day
)
INSERT INTO listing_daily AS d
  (listing_id, day, city_key, views, enquiries, bookings, payments, signings, updated_at)
SELECT s.listing_id, s.day, l.city_key, s.views, s.enquiries, s.bookings, s.payments,
       s.signings, now()
FROM s JOIN listings l ON l.id = s.listing_id
ON CONFLICT (listing_id, day) DO UPDATE SET
  city_key = EXCLUDED.city_key, views = EXCLUDED.views, enquiries = EXCLUDED.enquiries,
  bookings = EXCLUDED.bookings, payments = EXCLUDED.payments, signings = EXCLUDED.signings,
  updated_at = EXCLUDED.updated_at
WHERE (d.city_key, d.views, d.enquiries, d.bookings, d.payments, d.signings)
  IS DISTINCT FROM (EXCLUDED.city_key, EXCLUDED.views, EXCLUDED.enquiries, EXCLUDED.bookings,
                    EXCLUDED.payments, EXCLUDED.signings)
"""
)

# Per city: views and bookings from the listings' rollup of the same days (just written, in
# the same transaction), searches from the raw searches by their city filter ('' without).
_CITY_ROLLUP = text(
    """
WITH d AS (
  SELECT city_key, day, sum(views)::int AS views, sum(bookings)::int AS bookings
  FROM listing_daily WHERE day >= :first_day AND day <= :last_day
  GROUP BY 1, 2
), s AS (
  SELECT coalesce(city_key, '') AS city_key, (searched_at AT TIME ZONE 'UTC')::date AS day,
         count(*)::int AS searches
  FROM search_events WHERE searched_at >= :start AND searched_at < :end
  GROUP BY 1, 2
)
INSERT INTO city_daily AS c (city_key, day, views, searches, bookings, updated_at)
SELECT coalesce(d.city_key, s.city_key), coalesce(d.day, s.day), coalesce(d.views, 0),
       coalesce(s.searches, 0), coalesce(d.bookings, 0), now()
FROM d FULL JOIN s ON s.city_key = d.city_key AND s.day = d.day
ON CONFLICT (city_key, day) DO UPDATE SET
  views = EXCLUDED.views, searches = EXCLUDED.searches, bookings = EXCLUDED.bookings,
  updated_at = EXCLUDED.updated_at
WHERE (c.views, c.searches, c.bookings)
  IS DISTINCT FROM (EXCLUDED.views, EXCLUDED.searches, EXCLUDED.bookings)
"""
)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def _rowcount(session: PrimarySession, stmt: TextClause, params: dict[str, object]) -> int:
    result = await session.execute(stmt, params)
    return int(getattr(result, "rowcount", 0) or 0)


async def rollup(session: PrimarySession, first_day: date, last_day: date) -> tuple[int, int]:
    """Recompute listing_daily, then city_daily, for the UTC days first_day..last_day; the
    rows inserted or changed in each."""
    params: dict[str, object] = {
        "start": _day_start(first_day),
        "end": _day_start(last_day) + timedelta(days=1),
        "first_day": first_day,
        "last_day": last_day,
    }
    listing_rows = await _rowcount(session, _LISTING_ROLLUP, params)
    city_rows = await _rowcount(session, _CITY_ROLLUP, params)
    return listing_rows, city_rows


# --- reads ------------------------------------------------------------------------------------

_LISTING_DAYS = text(
    "SELECT l.owner_id, d.day, d.views, d.enquiries, d.bookings FROM listings l "
    "LEFT JOIN listing_daily d ON d.listing_id = l.id AND d.day >= :first AND d.day <= :last "
    "WHERE l.id = :listing_id ORDER BY d.day"
)


async def listing_days(
    session: ReplicaSession, listing_id: uuid.UUID, first: date, last: date
) -> ListingDays | None:
    """The listing's owner and its rollup rows in first..last (one statement, by the primary
    keys of listings and listing_daily, on the driver's cursor); None when there is no such
    listing."""
    params = {"listing_id": listing_id, "first": first, "last": last}
    rows = (await session.fetch(_LISTING_DAYS, params)).rows
    if not rows:
        return None
    days = [DayCounts(r[1], r[2], r[3], r[4]) for r in rows if r[1] is not None]
    return ListingDays(rows[0][0], days)
