"""Search-box completions: which places match a typed prefix, and how search_places is made.

A prefix is compared as a place key (listings/places.py: case, umlaut spelling and
punctuation do not matter, so "muen" and "Mün" find München, "frank" Frankfurt am Main,
"kreuz" Kreuzberg, "101" the postal codes 10115...), with cities, districts and postal codes
of active listings ranked by how many listings they have. Answers are cached (domain
`suggest`) and read on the replica from `search_places`, which the periodic job
`search.refresh_places` rewrites from the active listings, and the first request rewrites
when it finds the table empty (a new database).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sichrplace.config import DatabaseSettings
from sichrplace.listings.places import name_key
from sichrplace.platform.cache import Cache
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search.suggest import repository
from sichrplace.search.suggest.repository import Place

SUGGEST_DOMAIN = "suggest"
MIN_Q, MAX_Q = 1, 100
DEFAULT_LIMIT, MAX_LIMIT = 8, 20
RETRY_EMPTY_SECONDS = 60.0  # an empty table with no active listings to fill it: ask again after
CacheStatus = Literal["hit", "miss", "bypass"]


@dataclass
class _EmptyTable:
    """When this process may next fill an empty table (not before a failed fill's retry)."""

    retry_at: float = 0.0


_empty = _EmptyTable()


def prefix_key(q: str) -> str:
    """What a typed text is matched as: its place key ("Muen" -> "mun")."""
    return name_key(q)


def places_from_counts(rows: Iterable[tuple[Any, ...]]) -> list[Place]:
    """search_places rows from counts per (city_key, city, district_key, district, postal
    code): every city, district and postal code with its total, labelled with the commonest
    spelling (ties: the first in alphabetical order)."""
    city_names: dict[str, Counter[str]] = defaultdict(Counter)
    district_names: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    postal: Counter[tuple[str, str]] = Counter()
    for city_key, city, district_key, district, postal_code, n in rows:
        city_names[city_key][city] += n
        if district_key:
            district_names[(city_key, district_key)][district] += n
        postal[(city_key, postal_code)] += n

    def commonest(spellings: Counter[str]) -> str:
        return min(spellings, key=lambda s: (-spellings[s], s))

    city_label = {key: commonest(names) for key, names in city_names.items()}
    places = [
        Place("city", key, name_key(label), label, label, sum(city_names[key].values()))
        for key, label in city_label.items()
    ]
    for (key, district_key), names in district_names.items():
        label = commonest(names)
        places.append(
            Place("district", key, district_key, label, city_label[key], sum(names.values()))
        )
    for (key, code), n in postal.items():
        places.append(Place("postal_code", key, code, code, city_label[key], n))
    # One row per primary key (kind, city_key, key): two spellings of a city that fold alike
    # but differ in city_key cannot meet here, as city_key is made from the folded name.
    return places


async def refresh_places(
    db: Database, *, only_if_empty: bool = False, from_primary: bool = False
) -> int | None:
    """Rewrite search_places from the active listings (counted on the replica, or the primary
    right after a bulk load); the number of places written, or None when `only_if_empty` and
    the table had rows already."""
    # The lock is taken before counting: refreshes run one after another, each counting what
    # the one before it had written, so a slow one cannot put older counts over newer ones.
    async with transaction(db) as session:
        await repository.lock_places(session)
        if only_if_empty and await repository.has_places_locked(session):
            return None
        counts = await repository.active_counts(ReplicaSession(db, force_primary=from_primary))
        places = places_from_counts(counts)
        await repository.replace_places(session, places)
    return len(places)


async def refresh_after_load(settings: DatabaseSettings) -> int:
    """A refresh from a process without an app (the seed command, the benchmark's loader)."""
    db = Database(settings)
    try:
        return await refresh_places(db, from_primary=True) or 0
    finally:
        await db.dispose()


def suggestion(kind: str, label: str, city: str, listings: int) -> dict[str, Any]:
    params = {"city": label}
    if kind == "district":
        params = {"city": city, "district": label}
    elif kind == "postal_code":
        params = {"city": city, "postal_code": label}
    return {
        "kind": kind,
        "label": label,
        "city": None if kind == "city" else city,
        "listings": listings,
        "params": params,
    }


async def _rows(
    replica: ReplicaSession, db: Database, prefix: str, limit: int
) -> list[tuple[Any, ...]]:
    rows = await repository.lookup(replica, prefix, limit)
    if rows or await repository.has_places(replica) or time.monotonic() < _empty.retry_at:
        return rows
    # A new database: make the table now, then read what was just written on the primary.
    if await refresh_places(db, only_if_empty=True) == 0:
        _empty.retry_at = time.monotonic() + RETRY_EMPTY_SECONDS
    return await repository.lookup(ReplicaSession(db, force_primary=True), prefix, limit)


async def suggest(
    replica: ReplicaSession,
    cache: Cache,
    db: Database,
    q: str,
    limit: int = DEFAULT_LIMIT,
    *,
    bypass: bool = False,
) -> tuple[bytes, CacheStatus]:
    """The completions of `q` as JSON text ({"items": [...]}, best first) and how they were
    served."""
    prefix = prefix_key(q)
    computed = False

    async def compute() -> dict[str, Any]:
        nonlocal computed
        computed = True
        rows = await _rows(replica, db, prefix, limit) if prefix else []
        return {"items": [suggestion(*row) for row in rows]}

    body = await cache.get_or_compute_json(
        SUGGEST_DOMAIN, f"{prefix}|{limit}", compute, bypass=bypass
    )
    return body, "bypass" if bypass else ("miss" if computed else "hit")
