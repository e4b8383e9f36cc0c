# ruff: noqa: S608 - statements are assembled from this module's fixed fragments; every value is bound.
"""Result pages in Postgres: keyset pages (newest, rent), nearest first, relevance tiers, and
the listings the in-process index named, read by id (plans: docs/performance.md)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search.index.layout import STAMP_SQL
from sichrplace.search.items import ITEM_COLUMNS, ITEM_WIDTH, Item, from_row
from sichrplace.search.repository.where import (
    DISTANCE,
    RANK,
    Statement,
    fetch,
    text_via_lookup,
    where_clause,
)
from sichrplace.search.schemas import SearchFilters, SearchQuery

# Relevance ranks the newest RELEVANCE_WINDOW matches first (tier 0), then the older ones
# (tier 1): ranking every match of a common word ("Balkon": half of all listings) would cost
# seconds. A first page costs in proportion to the window; 400 covers the first 20 pages of 20
# (the sizes tried: docs/performance-log.md, round 3).
RELEVANCE_WINDOW = 400


@dataclass(frozen=True, slots=True)
class PageRows:
    """Items of a statement, and each one's distance in metres when it has a point (the
    cursor of a nearest-first page carries the exact distance)."""

    items: list[Item]
    distances: list[float | None]


def _columns(f: SearchFilters, *, rank: bool = False) -> str:
    columns = ITEM_COLUMNS
    if f.point is not None:
        columns += f", {DISTANCE} AS distance_m"
    if rank:
        columns += f", {RANK} AS rank"
    return columns


def keyset_statement(
    query: SearchQuery,
    after: tuple[Any, uuid.UUID] | None,
    *,
    radius_via_index: bool = True,
    text_direct: bool = False,
    collect: bool = False,
) -> Statement:
    """newest / rent_asc / rent_desc: ORDER BY (key, id) with a row-comparison keyset.

    Late row lookup: the inner query reads only indexed columns (the filters are INCLUDEd in
    the keyset indexes), so it is an index-only scan that rejects non-matching rows on the
    index tuples; only the page's rows are then read from the table. `collect`: all matches
    first, in whatever order the cheapest index gives them (a rent range), then sorted."""
    f = query.filters
    params: dict[str, Any] = {"limit": query.limit + 1}
    where = where_clause(f, params, radius_via_index=radius_via_index, text_direct=text_direct)
    if query.sort == "newest":
        expr, ascending = "l.created_at", False
    else:
        expr, ascending = f"l.{f.rent_column}", query.sort == "rent_asc"
    if after is not None:
        where += f" AND ({expr}, l.id) {'>' if ascending else '<'} (:k_key, :k_id)"
        params["k_key"], params["k_id"] = after
    direction = "ASC" if ascending else "DESC"
    if collect:
        source = (
            f"WITH m AS MATERIALIZED (SELECT l.id, {expr} AS sort_key FROM listings l "
            f"WHERE {where}), page AS (SELECT m.id, m.sort_key FROM m "
            f"ORDER BY m.sort_key {direction}, m.id {direction} LIMIT :limit) "
            f"SELECT {_columns(f, rank=f.q is not None)} FROM page "
        )
    else:
        source = (
            f"SELECT {_columns(f, rank=f.q is not None)} FROM ("
            f"SELECT l.id, {expr} AS sort_key FROM listings l WHERE {where} "
            f"ORDER BY {expr} {direction}, l.id {direction} LIMIT :limit) AS page "
        )
    # The inner `l` and the outer `l` are two scans of listings (the fragments say `l.`).
    sql = (
        f"{source}JOIN listings l ON l.id = page.id "
        f"ORDER BY page.sort_key {direction}, page.id {direction}"
    )
    return Statement(sql, params)


def distance_statement(query: SearchQuery, after: tuple[float, uuid.UUID] | None) -> Statement:
    """Nearest first. The inner query walks the GiST index in distance order (an index can
    only order by `<->` alone); WITH TIES keeps every row that shares the cut-off distance,
    so the outer sort by (distance, id) sees the complete next page."""
    f = query.filters
    params: dict[str, Any] = {"limit": query.limit + 1}
    where = where_clause(f, params) + " AND l.location IS NOT NULL"
    if after is not None:
        where += f" AND ({DISTANCE}, l.id) > (:k_key, :k_id)"
        params["k_key"], params["k_id"] = after
    sql = (
        f"SELECT * FROM (SELECT {_columns(f, rank=f.q is not None)} FROM listings l "
        f"WHERE {where} ORDER BY {DISTANCE} FETCH FIRST :limit ROWS WITH TIES) AS page "
        "ORDER BY page.distance_m, page.id LIMIT :limit"
    )
    return Statement(sql, params)


def relevance_first_statement(
    query: SearchQuery, *, limit: int, text_direct: bool = False
) -> Statement:
    """The first relevance page in one pass: the newest RELEVANCE_WINDOW + 1 matches are found
    once (`w`), the first RELEVANCE_WINDOW of them are ranked (tier 0), and the one after them,
    if any, is the tier boundary, returned as two extra columns on every row."""
    f = query.filters
    params: dict[str, Any] = {"limit": limit, "window": RELEVANCE_WINDOW}
    where = where_clause(f, params, text_direct=text_direct)
    newest = "ORDER BY w.created_at DESC, w.id DESC"
    sql = (
        f"WITH w AS MATERIALIZED (SELECT l.id, l.created_at FROM listings l WHERE {where} "
        "ORDER BY l.created_at DESC, l.id DESC LIMIT :window + 1) "
        f"SELECT {_columns(f, rank=True)}, b.created_at AS b_created, b.id AS b_id "
        f"FROM (SELECT w.id FROM w {newest} LIMIT :window) AS t "
        "JOIN listings l ON l.id = t.id "
        f"LEFT JOIN (SELECT w.created_at, w.id FROM w {newest} OFFSET :window LIMIT 1) AS b "
        f"ON TRUE ORDER BY {RANK} DESC, l.id DESC LIMIT :limit"
    )
    return Statement(sql, params)


def relevance_statement(
    query: SearchQuery,
    *,
    tier: int,
    boundary: tuple[datetime, uuid.UUID] | None,
    after: tuple[float, uuid.UUID] | None,
    limit: int,
    text_direct: bool = False,
) -> Statement:
    """Best rank first within one tier (0: newer than the boundary, 1: the rest)."""
    f = query.filters
    params: dict[str, Any] = {"limit": limit}
    where = where_clause(f, params, text_direct=text_direct)
    if boundary is not None:
        where += f" AND (l.created_at, l.id) {'>' if tier == 0 else '<='} (:b_created, :b_id)"
        params["b_created"], params["b_id"] = boundary
    order = f"ORDER BY {RANK} DESC, l.id DESC LIMIT :limit"
    if after is not None:
        # ts_rank_cd is float4: compare in float4, the cursor's value came from its text form.
        position = f"({RANK}, l.id) < (CAST(:k_key AS real), :k_id)"
        params["k_key"], params["k_id"] = after
    else:
        position = "TRUE"
    if text_via_lookup(f, text_direct=text_direct):
        # The candidates come from an index-only scan (text checked last); the rank needs the
        # row, which is read once per candidate in the outer query.
        sql = (
            f"SELECT {_columns(f, rank=True)} FROM (SELECT l.id FROM listings l WHERE {where}) "
            f"AS candidate JOIN listings l ON l.id = candidate.id WHERE {position} {order}"
        )
    else:
        sql = (
            f"SELECT {_columns(f, rank=True)} FROM listings l WHERE {where} AND {position} {order}"
        )
    return Statement(sql, params)


def _shape(rows: Sequence[Sequence[Any]], f: SearchFilters, rank: bool) -> PageRows:
    distance = f.point is not None
    items = [from_row(row, distance=distance, rank=rank) for row in rows]
    distances: list[float | None] = [row[ITEM_WIDTH] for row in rows] if distance else []
    return PageRows(items, distances)


async def fetch_page(session: ReplicaSession, statement: Statement, f: SearchFilters) -> PageRows:
    """The rows of keyset_statement, distance_statement or relevance_statement."""
    result = await fetch(session, statement)
    return _shape(result.rows, f, rank="rank" in result.columns)


async def fetch_first_relevance(
    session: ReplicaSession, statement: Statement, f: SearchFilters
) -> tuple[PageRows, tuple[datetime, uuid.UUID] | None]:
    """The rows of relevance_first_statement and its tier boundary (None: no tier 1)."""
    result = await fetch(session, statement)
    boundary = None
    if result.rows and result.rows[0][-1] is not None:
        boundary = (result.rows[0][-2], result.rows[0][-1])
    return _shape([row[:-2] for row in result.rows], f, rank=True), boundary


def _int8_array(values: Sequence[int]) -> str:
    """Integers as an int8[] literal (one text parameter, like _uuid_array)."""
    return "{" + ",".join(map(str, values)) + "}"


def _uuid_array(ids: bytes) -> str:
    """Concatenated 16-byte ids as a uuid[] literal: one text parameter, cheaper to send than
    a list of UUIDs psycopg adapts one by one."""
    return "{" + ",".join(ids[n : n + 16].hex() for n in range(0, len(ids), 16)) + "}"


def named_rows_statement(f: SearchFilters, ids: bytes) -> Statement:
    """The search items of the listings the index named (ids: 16 bytes each), in no
    particular order, each row ending with whether the listing is active and its version."""
    params: dict[str, Any] = {"ids": _uuid_array(ids)}
    if f.q is not None:
        params["q"] = f.q
    if f.point is not None:  # the items' distance_km
        params["lat"], params["lng"] = f.point.lat, f.point.lng
    sql = (
        f"SELECT {_columns(f, rank=f.q is not None)}, l.status = 'active', {STAMP_SQL} "
        "FROM listings l WHERE l.id = ANY(CAST(:ids AS uuid[]))"
    )
    return Statement(sql, params)


async def fetch_named_rows(
    session: ReplicaSession, f: SearchFilters, ids: bytes, stamps: Sequence[int]
) -> PageRows | None:
    """The items of the listings `ids` in that order, or None if any of them is no longer
    active in the version `stamps` names (it changed after the index chose it)."""
    result = await fetch(session, named_rows_statement(f, ids))
    by_id = {row[0].bytes: row for row in result.rows}
    chosen = []
    for n, stamp in enumerate(stamps):
        row = by_id.get(ids[16 * n : 16 * n + 16])
        if row is None or not row[-2] or row[-1] != stamp:
            return None
        chosen.append(row[:-2])
    return _shape(chosen, f, rank=f.q is not None)


def rank_window_statement(
    f: SearchFilters, ids: bytes, stamps: Sequence[int], limit: int
) -> Statement:
    """The best-ranked `limit` of a relevance window (ids: 16 bytes each, concatenated, with
    the version stamps the index holds), ordered as relevance_first_statement orders them,
    each row ending with how many of the window are still active in that version."""
    sql = (
        "WITH x AS MATERIALIZED (SELECT * FROM unnest(CAST(:ids AS uuid[]), "
        "CAST(:stamps AS int8[])) AS x(id, stamp)), "
        f"r AS MATERIALIZED (SELECT l.id, {RANK} AS rank, "
        f"(l.status = 'active' AND {STAMP_SQL} = x.stamp) AS current "
        "FROM x JOIN listings l ON l.id = x.id), "
        "top AS (SELECT r.id, r.rank FROM r ORDER BY r.rank DESC, r.id DESC LIMIT :limit) "
        f"SELECT {_columns(f, rank=True)}, "
        "(SELECT count(*) FILTER (WHERE r.current) FROM r) "
        "FROM top JOIN listings l ON l.id = top.id ORDER BY top.rank DESC, top.id DESC"
    )
    params: dict[str, Any] = {
        "ids": _uuid_array(ids),
        "stamps": _int8_array(stamps),
        "q": f.q,
        "limit": limit,
    }
    if f.point is not None:  # the items' distance_km
        params["lat"], params["lng"] = f.point.lat, f.point.lng
    return Statement(sql, params)


async def fetch_rank_window(
    session: ReplicaSession, f: SearchFilters, ids: bytes, stamps: Sequence[int], limit: int
) -> PageRows | None:
    """The best-ranked `limit` of the window, or None if a listing of it changed."""
    result = await fetch(session, rank_window_statement(f, ids, stamps, limit))
    if not result.rows or result.rows[0][-1] != len(stamps):
        return None
    return _shape([row[:-1] for row in result.rows], f, rank=True)
