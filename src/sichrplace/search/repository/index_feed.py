# ruff: noqa: S608 - statements are assembled from this module's fixed fragments; every value is bound.
"""What the in-process index (search/index/) reads: every active listing as records (in
chunks), which listings changed since a snapshot of the database, their current records, and
the listings that have a word.

Changes are found by transaction id, not by clock: each insert and each update of a column
search reads stamps the row with the id of its transaction (`changed_xid`, migration 0014), a
deletion leaves a tombstone with it. A look asks for every row stamped by a transaction at or
above the oldest one still running at the previous look (`pg_snapshot_xmin`), so a change
becomes visible to the first look after its transaction commits however long that took, and
no clock of the primary or the replica is involved.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search.index.layout import STAMP_SQL, record_sql
from sichrplace.search.repository.where import Statement, fetch_binary, rows

# The stamp of a listing deleted outright (listing_tombstones).
DELETED_STAMP = -1
# How long one chunk of a full load may take per listing in the table before it is cancelled:
# a chunk may scan the whole table (its ids are spread over it), and a replica busy with a bulk
# import's index builds reads several times slower than an idle one (~150,000 listings a
# second, docs/performance.md).
LOAD_SECONDS_PER_LISTING = 60e-6
LOAD_MIN_TIMEOUT_MS = 15_000
LISTINGS_PER_CHUNK = 250_000

_XMIN = "pg_snapshot_xmin(pg_current_snapshot())::text::int8"


def horizon_statement() -> Statement:
    """The oldest transaction still running, as this statement's snapshot sees it (changes
    of that one and later ones are what the next look must read), and the table's size."""
    sql = f"SELECT {_XMIN}, (SELECT c.reltuples FROM pg_class c WHERE c.oid = 'listings'::regclass)"
    return Statement(sql, {})


async def fetch_horizon(session: ReplicaSession) -> tuple[int, int]:
    xmin, reltuples = (await rows(session, horizon_statement()))[0]
    return int(xmin), max(int(reltuples or 0), 0)


def chunk_bounds(listings: int) -> list[tuple[uuid.UUID | None, uuid.UUID | None]]:
    """Id ranges splitting about `listings` rows into chunks of LISTINGS_PER_CHUNK (ids are
    random, so equal ranges hold about equal numbers)."""
    n = min(256, max(1, -(-listings // LISTINGS_PER_CHUNK)))
    edges = [uuid.UUID(bytes=bytes([256 * i // n]) + bytes(15)) for i in range(1, n)]
    lows: list[uuid.UUID | None] = [None, *edges]
    highs: list[uuid.UUID | None] = [*edges, None]
    return list(zip(lows, highs, strict=True))


def load_statement(low: uuid.UUID | None, high: uuid.UUID | None) -> Statement:
    """The active listings with ids in [low, high), one row per (city_key, city) with their
    records concatenated, then their titles in UTF-8 and each title's length in bytes
    (int4), in the same order (one pass aggregates all three)."""
    title = "convert_to(l.title, 'UTF8')"
    params: dict[str, Any] = {}
    where = "l.status = 'active'"
    if low is not None:
        where += " AND l.id >= :low"
        params["low"] = low
    if high is not None:
        where += " AND l.id < :high"
        params["high"] = high
    sql = (
        f"SELECT l.city_key, l.city, string_agg({record_sql()}, ''::bytea), "
        f"string_agg({title}, ''::bytea), string_agg(int4send(octet_length({title})), ''::bytea) "
        f"FROM listings l WHERE {where} GROUP BY l.city_key, l.city"
    )
    return Statement(sql, params)


def load_timeout_ms(listings: int) -> int:
    """The statement timeout of a read over a table of `listings` rows."""
    return max(LOAD_MIN_TIMEOUT_MS, int(listings * LOAD_SECONDS_PER_LISTING * 1000))


def changed_statement(since: int, limit: int) -> Statement:
    """The horizon, then the id and version stamp of every listing changed by a transaction
    at or after `since` (any status: a listing that left 'active' must leave the counts;
    deleted ones with DELETED_STAMP), at most `limit` of them (more than the index follows is
    as good as any number: it must reload). Always one row at least."""
    sql = (
        f"SELECT {_XMIN}, c.* FROM (SELECT 1) AS one LEFT JOIN LATERAL ("
        f"SELECT l.id, {STAMP_SQL} FROM listings l WHERE l.changed_xid >= CAST(:since AS xid8) "
        f"UNION ALL SELECT t.listing_id, {DELETED_STAMP} FROM listing_tombstones t "
        "WHERE t.deleted_xid >= CAST(:since AS xid8) LIMIT :limit) AS c ON true"
    )
    return Statement(sql, {"since": str(since), "limit": limit})


def changed_rows_statement(ids: Sequence[uuid.UUID]) -> Statement:
    """These listings' records (any status), with their lexemes and titles."""
    sql = (
        f"SELECT l.id, l.status, l.city_key, l.city, {record_sql()}, "
        "tsvector_to_array(l.search_tsv), l.title FROM listings l WHERE l.id = ANY(:ids)"
    )
    return Statement(sql, {"ids": list(ids)})


def postings_statement(lexemes: Sequence[str]) -> Statement:
    """For each lexeme, the ids of the active listings whose text has it: one pass over the
    listings that have any of them (GIN index)."""

    def query(words: Sequence[str]) -> str:
        return " | ".join("'" + w.replace("'", "''") + "'" for w in words)

    params: dict[str, Any] = {"any": query(lexemes)}
    columns = []
    for i, lexeme in enumerate(lexemes):
        params[f"w{i}"] = query([lexeme])
        columns.append(
            f"string_agg(uuid_send(l.id), ''::bytea) "
            f"FILTER (WHERE l.search_tsv @@ CAST(:w{i} AS tsquery))"
        )
    sql = (
        f"SELECT {', '.join(columns)} FROM listings l "
        "WHERE l.search_tsv @@ CAST(:any AS tsquery) AND l.status = 'active'"
    )
    return Statement(sql, params)


async def fetch_load_chunk(
    session: ReplicaSession, low: uuid.UUID | None, high: uuid.UUID | None, timeout_ms: int
) -> list[tuple[Any, ...]]:
    return await fetch_binary(session, load_statement(low, high), timeout_ms=timeout_ms)


async def fetch_changed(session: ReplicaSession, since: int, limit: int) -> list[tuple[Any, ...]]:
    return await fetch_binary(session, changed_statement(since, limit))


async def fetch_changed_rows(
    session: ReplicaSession, ids: Sequence[uuid.UUID]
) -> list[tuple[Any, ...]]:
    return await fetch_binary(session, changed_rows_statement(ids))


async def fetch_postings(
    session: ReplicaSession, lexemes: Sequence[str], timeout_ms: int
) -> list[bytes]:
    found = await fetch_binary(session, postings_statement(lexemes), timeout_ms=timeout_ms)
    return [bytes(blob or b"") for blob in found[0]]
