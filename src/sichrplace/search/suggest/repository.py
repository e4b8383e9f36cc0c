"""search_places SQL: the counts it is made from, its refresh, the prefix lookup."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession

# Refreshes take this transaction-level advisory lock: one at a time across processes.
REFRESH_LOCK = 0x53554747  # "SUGG"


@dataclass(frozen=True, slots=True)
class Place:
    kind: str
    city_key: str
    key: str
    label: str
    city: str
    listings: int


# Active listings per spelling of city, district and postal code (a few thousand groups for a
# million listings: one pass, aggregated further in Python where the keys are made).
_COUNTS = text(
    "SELECT l.city_key, l.city, l.district_key, l.district, l.postal_code, count(*)::int "
    "FROM listings l WHERE l.status = 'active' "
    "GROUP BY l.city_key, l.city, l.district_key, l.district, l.postal_code"
)


async def active_counts(session: ReplicaSession) -> list[tuple[Any, ...]]:
    return (await session.fetch(_COUNTS)).rows


_LOCK = text("SELECT pg_advisory_xact_lock(:lock)")
_ANY = text("SELECT EXISTS (SELECT 1 FROM search_places)")
_CLEAR = text("DELETE FROM search_places")
_FILL = text(
    "INSERT INTO search_places (kind, city_key, key, label, city, listings) "
    "SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:city_keys AS text[]), "
    "CAST(:keys AS text[]), CAST(:labels AS text[]), CAST(:cities AS text[]), "
    "CAST(:listings AS int[]))"
)


async def lock_places(session: PrimarySession) -> None:
    """Hold the refresh lock until `session`'s transaction ends."""
    await session.execute(_LOCK, {"lock": REFRESH_LOCK})


async def has_places_locked(session: PrimarySession) -> bool:
    return bool((await session.execute(_ANY)).scalar_one())


async def replace_places(session: PrimarySession, places: Sequence[Place]) -> None:
    """Put `places` in place of the table's rows (one transaction: readers see the old set or
    the new one); the caller holds the refresh lock."""
    await session.execute(_CLEAR)
    if places:
        columns = {
            "kinds": [p.kind for p in places],
            "city_keys": [p.city_key for p in places],
            "keys": [p.key for p in places],
            "labels": [p.label for p in places],
            "cities": [p.city for p in places],
            "listings": [p.listings for p in places],
        }
        await session.execute(_FILL, columns)


async def has_places(session: ReplicaSession) -> bool:
    return bool((await session.fetch(_ANY)).rows[0][0])


# A prefix range of ix_search_places_key (text_pattern_ops), best first. The prefix is a
# folded key: letters, digits and single spaces, never a LIKE wildcard.
_LOOKUP = text(
    "SELECT p.kind, p.label, p.city, p.listings FROM search_places p "
    "WHERE p.key LIKE :pattern AND p.listings > 0 "
    "ORDER BY p.listings DESC, p.kind, p.label LIMIT :limit"
)


async def lookup(session: ReplicaSession, prefix: str, limit: int) -> list[tuple[Any, ...]]:
    return (await session.fetch(_LOOKUP, {"pattern": prefix + "%", "limit": limit})).rows
