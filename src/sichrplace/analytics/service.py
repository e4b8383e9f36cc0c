"""Analytics use cases: writing a buffered batch, pg_partman's maintenance with the retention
setting, the rollups, and a listing's statistics for the one who manages it."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sichrplace.analytics import repository
from sichrplace.analytics.models import RAW_TABLES
from sichrplace.analytics.records import Partition, RollupReport
from sichrplace.config import AnalyticsSettings
from sichrplace.kit.clock import utcnow
from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.i18n import N_
from sichrplace.listings.errors import ListingNotFound
from sichrplace.listings.rules import Caller, may_manage
from sichrplace.platform.analytics import Batch, Sink
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession
from sichrplace.platform.db.unit import transaction


def writer(db: Database) -> Sink:
    """The buffer's sink: one transaction on the primary, one statement per batch."""

    async def write(batch: Batch) -> None:
        async with transaction(db) as session:
            await repository.insert_batch(session, batch)

    return write


# --- partitions -------------------------------------------------------------------------------


async def maintain(
    session: PrimarySession, settings: AnalyticsSettings, *, only_ours: bool = False
) -> None:
    """The retention and premake settings into partman.part_config, then pg_partman's
    maintenance (partitions ahead, old ones dropped): for every partition set it manages, or
    only the raw analytics tables."""
    await repository.configure_partitions(
        session, retention_days=settings.retention_days, premake_days=settings.premake_days
    )
    if only_ours:
        for parent in repository.PARENTS:
            await repository.run_maintenance(session, parent)
    else:
        await repository.run_maintenance(session)


async def partitions(session: PrimarySession | ReplicaSession) -> dict[str, list[Partition]]:
    return {table: await repository.partitions(session, table) for table, _ in RAW_TABLES}


# --- rollups ----------------------------------------------------------------------------------


def recent_days(today: date | None = None, days: int = 2) -> tuple[date, date]:
    """The UTC days the periodic rollup recomputes: yesterday (late events, a flush around
    midnight) and today."""
    last = today or utcnow().date()
    return last - timedelta(days=days - 1), last


async def rollup(session: PrimarySession, first_day: date, last_day: date) -> RollupReport:
    """Recompute the rollups of first_day..last_day from the raw events (idempotent)."""
    listing_rows, city_rows = await repository.rollup(session, first_day, last_day)
    return RollupReport(first_day, last_day, listing_rows, city_rows)


# --- a listing's statistics -------------------------------------------------------------------


def stats_range(
    first: date | None, last: date | None, settings: AnalyticsSettings, *, today: date
) -> tuple[date, date]:
    """The days asked for: `to` defaults to today, `from` to the default span before it; 422
    naming the field for a backwards or too long range."""
    last = last or today
    first = first or last - timedelta(days=settings.stats_default_days - 1)
    if last < first:
        raise Unprocessable.field("to", N_("must be at least {limit}", limit=first.isoformat()))
    longest = first + timedelta(days=settings.stats_max_days - 1)
    if last > longest:
        raise Unprocessable.field("to", N_("must be at most {limit}", limit=longest.isoformat()))
    return first, last


async def listing_stats(
    replica: ReplicaSession,
    caller: Caller,
    listing_id: uuid.UUID,
    *,
    first: date,
    last: date,
    primary: ReplicaSession | None = None,
) -> dict[str, Any]:
    """Views, enquiries and bookings per UTC day of first..last (days without any: zeros),
    from the rollups; 404 for anyone who does not manage the listing (listings' rule), as if
    it did not exist.

    Read from the replica; only a listing the replica does not know is looked for on
    `primary` (one made within the replica's lag). That replaces the read-your-writes pin,
    whose Redis round trip every request would pay: a listing's owner never changes, and
    the rollups trail the events by minutes anyway."""
    found = await repository.listing_days(replica, listing_id, first, last)
    if found is None and primary is not None:
        found = await repository.listing_days(primary, listing_id, first, last)
    if found is None or not may_manage(caller, found.owner_id):
        raise ListingNotFound()
    by_day = {row.day: row for row in found.days}
    days: list[dict[str, Any]] = []
    totals = {"views": 0, "enquiries": 0, "bookings": 0}
    day = first
    while day <= last:
        row = by_day.get(day)
        entry: dict[str, Any] = {
            "day": day,
            "views": row.views if row else 0,
            "enquiries": row.enquiries if row else 0,
            "bookings": row.bookings if row else 0,
        }
        for key in totals:
            totals[key] += entry[key]
        days.append(entry)
        day += timedelta(days=1)
    return {"listing_id": listing_id, "from": first, "to": last, "days": days, "totals": totals}
