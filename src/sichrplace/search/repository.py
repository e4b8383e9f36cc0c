# ruff: noqa: S608 - statements are assembled from this module's fixed fragments; every value is bound.
"""Search SQL: text statements with column projections, run through a `ReplicaSession`.

The statement text depends only on *which* filters are present (values are bound), so the
shapes stay few and their plans are the ones documented in docs/performance.md. `status =
'active'` is a literal so the partial indexes of migration 0005 match.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, text

from sichrplace.kit.jsonbody import utc_timestamp
from sichrplace.listings.vocabulary import in_vocabulary_order
from sichrplace.platform.db import ReplicaSession
from sichrplace.search.schemas import RENT_BUCKET_BOUNDS, BBox, SearchFilters, SearchQuery

POINT = "ST_SetSRID(ST_MakePoint(:lng, :lat), 4326)::geography"
TSQUERY = "websearch_to_tsquery('german', :q)"
# `<->` on geography is the sphere distance in metres; in ORDER BY it walks the GiST index
# nearest-first. The radius filter, the sort key, the cursor and the reported distance all use
# this one expression, so they agree to the last bit.
DISTANCE = f"(l.location <-> {POINT})"
RANK = f"ts_rank_cd(l.search_tsv, {TSQUERY})"
EARTH_RADIUS_M = 6_371_008.8
# Relevance ranks the newest RELEVANCE_WINDOW matches first (tier 0), then the older ones
# (tier 1): ranking every match of a common word ("Balkon": half of all listings) would cost
# seconds. A first page costs in proportion to the window (find the window's matches, rank
# them): 400 covers the first 20 pages of 20; 1,000 made a rare word with a rent cap in Berlin
# (12,346 candidates for 1,000 matches) 370 ms, and full text 3/4 of the uncached search time.
RELEVANCE_WINDOW = 400

# rooms and size as float8: the value JSON carries (numeric(3,1) and numeric(7,2) round to
# the same double either way), without a Decimal per value on the client.
ITEM_COLUMNS = (
    "l.id, l.title, l.city, l.postal_code, l.cold_rent_cents, l.warm_rent_cents, "
    "l.rooms::float8 AS rooms, l.size_sqm::float8 AS size_sqm, l.furnished, l.pets_allowed, "
    "l.available_from, l.amenities, l.latitude, l.longitude, l.created_at"
)


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: dict[str, Any]


# Shortest lengths of a degree anywhere on the WGS84 ellipsoid (latitude: at the equator;
# longitude: times cos(latitude)), less 1 % more for the sphere `<->` may measure on.
_MIN_METRES_PER_DEGREE_LAT = 110_574.0 * 0.99
_MIN_METRES_PER_DEGREE_LNG = 111_320.0 * 0.99


def radius_box(lat: float, lng: float, radius_m: float) -> BBox | None:
    """A lat/lng rectangle that contains every point within `radius_m` of (lat, lng), or None
    where one would not be a plain rectangle (near a pole or across the antimeridian)."""
    dlat = radius_m / _MIN_METRES_PER_DEGREE_LAT
    south, north = lat - dlat, lat + dlat
    if south <= -89.0 or north >= 89.0:
        return None
    widest = math.cos(math.radians(max(abs(south), abs(north))))
    dlng = radius_m / (_MIN_METRES_PER_DEGREE_LNG * widest)
    west, east = lng - dlng, lng + dlng
    if west <= -180.0 or east >= 180.0:
        return None
    return BBox(min_lng=west, min_lat=south, max_lng=east, max_lat=north)


def _bbox_margin_m(min_lng: float, max_lng: float) -> float:
    """How far a great-circle edge may bow away from its parallel, with a safety factor."""
    width = math.radians(max_lng - min_lng)
    return EARTH_RADIUS_M * width * width / 4 + 100.0


# Filters the covering search indexes can check on their own tuples (migration 0007).
_INDEXED_FILTERS = (
    "min_rooms", "max_rooms", "min_size", "furnished", "pets_allowed", "available_from",
    "min_rent", "max_rent", "radius_km", "bbox",
)  # fmt: skip


def text_via_lookup(f: SearchFilters, *, text_direct: bool = False) -> bool:
    """Full text together with filters the index can check: check the text last.

    `search_tsv` lives only in the table, so `search_tsv @@ q` among the filters turns an
    index-only scan into a heap visit per candidate row. When other filters narrow the rows
    first ("Berlin, 3+ rooms, <= 600 EUR cold, Einbauküche": 178,292 Berlin rows, 20 pass),
    the text is checked afterwards, for the survivors only: 0.6 s warm -> 0.1 s. Without such
    filters the direct check is cheaper (one visit per row instead of an index lookup + visit).
    With unselective filters it is too ("Berlin, 3+ rooms, Stellplatz": 25,000 lookups for
    401 matches, 194 ms; directly, 12 ms from the GIN index): `text_direct` is the caller's
    cost-based choice (search/words.py) to keep the direct check.
    """
    return (
        not text_direct
        and f.q is not None
        and (bool(f.amenities) or any(getattr(f, name) is not None for name in _INDEXED_FILTERS))
    )


def where_clause(
    f: SearchFilters,
    params: dict[str, Any],
    *,
    radius_via_index: bool = True,
    text_direct: bool = False,
) -> str:
    """The WHERE of every search/facet statement; fills `params` with the bound values.

    `radius_via_index=False` leaves out the GiST condition of a radius: the planner then walks
    the sort's (covering) index, checking the distance on each tuple (search/density.py)."""
    conds = ["l.status = 'active'"]
    simple = (
        ("city_key", "l.city_key = :city_key"),
        ("district_key", "l.district_key = :district_key"),
        ("postal_code", "l.postal_code = :postal_code"),
        ("min_rooms", "l.rooms >= :min_rooms"),
        ("max_rooms", "l.rooms <= :max_rooms"),
        ("min_size", "l.size_sqm >= :min_size"),
        ("furnished", "l.furnished = :furnished"),
        ("pets_allowed", "l.pets_allowed = :pets_allowed"),
        ("available_from", "l.available_from <= :available_from"),
    )
    for name, cond in simple:
        value = getattr(f, name)
        if value is not None:
            conds.append(cond)
            params[name] = value
    if f.q is not None:
        params["q"] = f.q
        if text_via_lookup(f, text_direct=text_direct):
            # Checked only for rows that passed the indexed filters (one primary-key lookup
            # each), so the scan itself can stay index-only.
            conds.append(
                f"EXISTS (SELECT 1 FROM listings t WHERE t.id = l.id AND t.search_tsv @@ {TSQUERY})"
            )
        else:
            conds.append(f"l.search_tsv @@ {TSQUERY}")
    if f.min_rent is not None:
        conds.append(f"l.{f.rent_column} >= :min_rent")
        params["min_rent"] = f.min_rent
    if f.max_rent is not None:
        conds.append(f"l.{f.rent_column} <= :max_rent")
        params["max_rent"] = f.max_rent
    if f.amenities:
        conds.append("l.amenities @> CAST(:amenities AS text[])")
        params["amenities"] = list(f.amenities)
    if f.point is not None:
        params["lat"], params["lng"] = f.point.lat, f.point.lng
        if f.radius_km is not None:
            # `&&` on the expanded box is the GiST index condition (and gives the planner a
            # usable row estimate, unlike ST_DWithin's); the distance check is exact.
            within = f"{DISTANCE} <= :radius_m"
            box = None
            if radius_via_index:
                within = f"l.location && _ST_Expand({POINT}, :radius_m) AND {within}"
            else:
                box = radius_box(f.point.lat, f.point.lng, f.radius_km * 1000.0)
            if box is not None:
                # A walk checks the radius on every index tuple it passes: the circle's
                # lat/lng box (widened to be safe) rejects most of them with float comparisons
                # before the distance is computed (64 -> 33 ms for 104,000 tuples). Inside a
                # CASE, which the planner estimates as one opaque condition: as separate
                # conditions (1/3 each) they shrank its row estimate to ~1 and talked it into
                # a bitmap scan of the whole rent range instead of the walk (Augsburg 5 km,
                # <= 800 EUR: 1.4 s instead of milliseconds), and out of the nearest-first
                # index scan elsewhere, so the box is only added to walks.
                within = (
                    "CASE WHEN l.latitude BETWEEN :r_s AND :r_n "
                    "AND l.longitude BETWEEN :r_w AND :r_e "
                    f"THEN {within} ELSE false END"
                )
                params.update(r_s=box.min_lat, r_n=box.max_lat, r_w=box.min_lng, r_e=box.max_lng)
            conds.append(within)
            params["radius_m"] = f.radius_km * 1000.0
    if f.bbox is not None:
        # A lat/lng rectangle (what a map shows). Its geography envelope has great-circle
        # edges that bow towards the pole, so the index box is widened by that bow; the column
        # comparisons then make the edges exact.
        b = f.bbox
        conds.append(
            "l.location && _ST_Expand(ST_MakeEnvelope(:bb_w, :bb_s, :bb_e, :bb_n, 4326)"
            "::geography, :bb_margin) AND l.longitude BETWEEN :bb_w AND :bb_e "
            "AND l.latitude BETWEEN :bb_s AND :bb_n"
        )
        params.update(bb_w=b.min_lng, bb_s=b.min_lat, bb_e=b.max_lng, bb_n=b.max_lat)
        params["bb_margin"] = _bbox_margin_m(b.min_lng, b.max_lng)
    return " AND ".join(conds)


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
    the keyset indexes, migration 0007), so it is an index-only scan that rejects
    non-matching rows on the index tuples; only the page's rows are then read from the table.
    A selective filter (4 rooms under 1,000 EUR) no longer costs a heap visit per rejected row.
    """
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
        # All matches first, in whatever order the cheapest index gives them (a rent range),
        # then sorted: for filters that few listings of a big city pass (search/density.py).
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


def _rent_bucket(f: SearchFilters) -> str:
    bounds = ",".join(str(b) for b in RENT_BUCKET_BOUNDS)
    return f"width_bucket(l.{f.rent_column}, ARRAY[{bounds}])"


def facets_statement(f: SearchFilters) -> Statement:
    """All four facets from ONE pass over the matches, with two grouping sets: the composite
    (city, rooms, rent bucket) -- one hash probe per row instead of three -- and the amenity
    array. The outer query rolls the (few thousand) groups up into the four facets."""
    params: dict[str, Any] = {}
    where = where_clause(f, params)
    bucket = _rent_bucket(f)
    sql = (
        "WITH g AS MATERIALIZED ("
        "SELECT GROUPING(l.amenities) AS composite, l.city_key, l.city, l.rooms, "
        f"{bucket} AS bucket, l.amenities, count(*) AS n FROM listings l WHERE {where} "
        f"GROUP BY GROUPING SETS ((l.city_key, l.city, l.rooms, {bucket}), (l.amenities))) "
        "SELECT 'city', g.city_key, g.city, sum(g.n)::bigint FROM g WHERE g.composite = 1 "
        "GROUP BY g.city_key, g.city "
        "UNION ALL SELECT 'rooms', g.rooms::text, NULL, sum(g.n)::bigint FROM g "
        "WHERE g.composite = 1 GROUP BY g.rooms "
        "UNION ALL SELECT 'rent_bucket', g.bucket::text, NULL, sum(g.n)::bigint FROM g "
        "WHERE g.composite = 1 GROUP BY g.bucket "
        # unnest in the select list (ProjectSet) is cheaper than a lateral function scan
        "UNION ALL SELECT 'amenity', x.amenity, NULL, sum(x.n)::bigint FROM "
        "(SELECT unnest(g.amenities) AS amenity, g.n FROM g WHERE g.composite = 0) AS x "
        "GROUP BY x.amenity"
    )
    return Statement(sql, params)


# The geo density grid (search/density.py): active listings per cell of this many degrees.
DENSITY_CELL_DEGREES = 0.02


def density_statement() -> Statement:
    scale = round(1 / DENSITY_CELL_DEGREES)
    sql = (
        f"SELECT floor(l.latitude * {scale})::int, floor(l.longitude * {scale})::int, "
        "count(*)::bigint FROM listings l WHERE l.status = 'active' AND l.latitude IS NOT NULL "
        "GROUP BY 1, 2"
    )
    return Statement(sql, {})


async def _rows(session: ReplicaSession, statement: Statement) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in (await session.fetch(_clause(statement.sql), statement.params)).rows]


async def fetch_density(session: ReplicaSession) -> list[tuple[Any, ...]]:
    return await _rows(session, density_statement())


def word_stats_statement() -> Statement:
    """What ANALYZE learnt about words and cities (search/words.py)."""
    stats = (
        "FROM pg_stats s WHERE s.schemaname = current_schema() AND s.tablename = 'listings' "
        "AND s.attname = "
    )
    sql = (
        "SELECT (SELECT c.reltuples FROM pg_class c WHERE c.oid = 'listings'::regclass), "
        f"(SELECT s.most_common_elems::text::text[] {stats}'search_tsv'), "
        f"(SELECT s.most_common_elem_freqs {stats}'search_tsv'), "
        f"(SELECT s.most_common_vals::text::text[] {stats}'city_key'), "
        f"(SELECT s.most_common_freqs {stats}'city_key')"
    )
    return Statement(sql, {})


async def fetch_word_stats(session: ReplicaSession) -> tuple[Any, ...]:
    return (await _rows(session, word_stats_statement()))[0]


def lexemes_statement(q: str) -> Statement:
    return Statement("SELECT tsvector_to_array(to_tsvector('german', :q))", {"q": q})


async def fetch_lexemes(session: ReplicaSession, q: str) -> list[str]:
    return list((await _rows(session, lexemes_statement(q)))[0][0] or ())


# The columns of a density sample row, in order (search/density.py reads them by position).
SAMPLE_COLUMNS = (
    "latitude", "longitude", "city_key", "postal_code", "warm_rent_cents", "cold_rent_cents",
    "rooms", "size_sqm", "furnished", "pets_allowed", "available_from", "amenities",
)  # fmt: skip


def density_sample_statement(percent: float) -> Statement:
    """The filter columns of about `percent` % of the active listings (whole pages, so it
    reads only those pages)."""
    columns = ", ".join(f"l.{c}" for c in SAMPLE_COLUMNS)
    sql = (
        f"SELECT {columns} FROM listings l TABLESAMPLE SYSTEM (:percent) "
        "WHERE l.status = 'active' AND l.latitude IS NOT NULL"
    )
    return Statement(sql, {"percent": percent})


async def fetch_density_sample(session: ReplicaSession, percent: float) -> list[tuple[Any, ...]]:
    return await _rows(session, density_sample_statement(percent))


def item(row: Sequence[Any], extras: tuple[str, ...]) -> dict[str, Any]:
    """A search item as JSON-ready values from a row of ITEM_COLUMNS (and `extras`) by
    position (Row key lookups cost more here), or the facet index's values in that shape."""
    (
        listing_id, title, city, postal_code, cold, warm, rooms, size, furnished, pets,
        available, amenities, latitude, longitude, created_at, *rest,
    ) = tuple(row)  # fmt: skip
    out: dict[str, Any] = {
        "id": str(listing_id),
        "title": title,
        "city": city,
        "postal_code": postal_code,
        "cold_rent_cents": cold,
        "warm_rent_cents": warm,
        "rooms": rooms,
        "size_sqm": size,
        "furnished": furnished,
        "pets_allowed": pets,
        "available_from": available.isoformat() if available else None,
        # In the vocabulary's order, as the API stores them and the facet index lists them
        # (a row written by other means, e.g. SQL, may hold another order).
        "amenities": in_vocabulary_order(amenities) if amenities else [],
        "latitude": latitude,
        "longitude": longitude,
        "thumbnail_url": None,
        # A UTC datetime as is: the JSON writer spells it as utc_timestamp does, cheaper
        # (sessions are in UTC: deploy/stack/postgresql.conf.tmpl; any other zone converts).
        "created_at": created_at if created_at.tzinfo is UTC else utc_timestamp(created_at),
    }
    for name, value in zip(extras, rest, strict=True):
        if name == "distance_m":
            out["distance_m"] = value
            out["distance_km"] = None if value is None else round(value / 1000.0, 3)
        else:
            out["rank"] = float(value)
    return out


@lru_cache(maxsize=1024)
def _clause(sql: str) -> TextClause:
    """text() parses its bind parameters with a regex on every call: the shapes are few, so
    keep one clause per distinct statement text (measured: -0.25 ms CPU per query)."""
    return text(sql)


def _extras(columns: Sequence[str]) -> tuple[str, ...]:
    """The optional item columns a statement selected after ITEM_COLUMNS, in order."""
    return tuple(k for k in columns if k in ("distance_m", "rank"))


async def fetch_items(session: ReplicaSession, statement: Statement) -> list[dict[str, Any]]:
    result = await session.fetch(_clause(statement.sql), statement.params)
    extras = _extras(result.columns)
    return [item(row, extras) for row in result.rows]


async def fetch_first_relevance(
    session: ReplicaSession, statement: Statement
) -> tuple[list[dict[str, Any]], tuple[datetime, uuid.UUID] | None]:
    """The items of `relevance_first_statement` and its tier boundary (None: no tier 1)."""
    result = await session.fetch(_clause(statement.sql), statement.params)
    extras = _extras(result.columns[:-2])  # rank, and distance_m when a point is given
    items = [item(row[:-2], extras) for row in result.rows]
    boundary = None
    if result.rows and result.rows[0][-1] is not None:
        boundary = (result.rows[0][-2], result.rows[0][-1])
    return items, boundary


async def fetch_facets(session: ReplicaSession, statement: Statement) -> list[tuple[Any, ...]]:
    return (await session.fetch(_clause(statement.sql), statement.params)).rows


# --- the facet index (search/facet_index.py) -------------------------------------------------


# A listing's version: changed_at in microseconds (0 before its first change, migration 0012).
STAMP = "coalesce((extract(epoch FROM l.changed_at) * 1000000)::int8, 0)"
CREATED = "(extract(epoch FROM l.created_at) * 1000000)::int8"


# available_from NULL in a record (never available: `<=` any day is false, as in SQL).
NEVER_AVAILABLE = 2**31 - 1


# One listing as a fixed-width record (the byte layout facet_index.RECORD reads): id, postal
# code, rooms x 2, size x 100, flags (1 furnished, 2 pets), warm and cold rent, amenity bits
# (vocabulary order), available_from as days since 2000-01-01 (NULL: never available, as
# `<=` treats it), latitude and longitude (NULL: NaN, outside every box), version stamp,
# created_at in microseconds (the newest-first key).
def _record(amenities: Sequence[str]) -> str:
    bits = " | ".join(
        f"(CASE WHEN '{name}' = ANY(l.amenities) THEN {1 << i} ELSE 0 END)"
        for i, name in enumerate(amenities)
    )
    return (
        "uuid_send(l.id) || int4send(l.postal_code::int4) || int2send((l.rooms * 2)::int2) "
        "|| int4send((l.size_sqm * 100)::int4) "
        "|| int2send((l.furnished::int + 2 * l.pets_allowed::int)::int2) "
        "|| int4send(l.warm_rent_cents) || int4send(l.cold_rent_cents) "
        f"|| int4send({bits or '0'}) "
        f"|| int4send(coalesce(l.available_from - DATE '2000-01-01', {NEVER_AVAILABLE})) "
        "|| float8send(coalesce(l.latitude, 'NaN')) || float8send(coalesce(l.longitude, 'NaN')) "
        f"|| int8send({STAMP}) || int8send({CREATED})"
    )


def clock_statement() -> Statement:
    return Statement("SELECT statement_timestamp()", {})


def facet_load_statement(amenities: Sequence[str]) -> Statement:
    """Every active listing, one row per (city_key, city) with its records concatenated (the
    few thousand rows of a million listings; 76 bytes a listing), then their titles in UTF-8
    and each title's length in bytes (int4), in the same order (one pass aggregates all
    three)."""
    title = "convert_to(l.title, 'UTF8')"
    sql = (
        f"SELECT l.city_key, l.city, string_agg({_record(amenities)}, ''::bytea), "
        f"string_agg({title}, ''::bytea), string_agg(int4send(octet_length({title})), ''::bytea) "
        "FROM listings l WHERE l.status = 'active' GROUP BY l.city_key, l.city"
    )
    return Statement(sql, {})


# The stamp of a listing deleted outright (listing_tombstones).
DELETED_STAMP = -1


def facet_changed_statement(since: datetime) -> Statement:
    """The clock, then the id and version stamp of every listing changed after `since` (any
    status: a listing that left 'active' must leave the counts; deleted ones with
    DELETED_STAMP). Always one row at least."""
    sql = (
        "SELECT statement_timestamp(), c.* FROM (SELECT 1) AS one LEFT JOIN LATERAL ("
        f"SELECT l.id, {STAMP} FROM listings l WHERE l.changed_at > :since UNION ALL "
        f"SELECT t.listing_id, {DELETED_STAMP} FROM listing_tombstones t "
        "WHERE t.deleted_at > :since) AS c ON true"
    )
    return Statement(sql, {"since": since})


def facet_rows_statement(amenities: Sequence[str], ids: Sequence[uuid.UUID]) -> Statement:
    """These listings' records (any status), with their lexemes and titles."""
    sql = (
        f"SELECT l.id, l.status, l.city_key, l.city, {_record(amenities)}, "
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


def _int8_array(values: Sequence[int]) -> str:
    """Integers as an int8[] literal (one text parameter, like _uuid_array)."""
    return "{" + ",".join(map(str, values)) + "}"


def _uuid_array(ids: bytes) -> str:
    """Concatenated 16-byte ids as a uuid[] literal: one text parameter, cheaper to send than
    a list of UUIDs psycopg adapts one by one."""
    return "{" + ",".join(ids[n : n + 16].hex() for n in range(0, len(ids), 16)) + "}"


def page_rows_statement(f: SearchFilters, ids: bytes) -> Statement:
    """The search items of the listings a facet index named (ids: 16 bytes each), in no
    particular order, each row ending with whether the listing is active and its version."""
    params: dict[str, Any] = {"ids": _uuid_array(ids)}
    if f.q is not None:
        params["q"] = f.q
    if f.point is not None:  # the items' distance_km
        params["lat"], params["lng"] = f.point.lat, f.point.lng
    sql = (
        f"SELECT {_columns(f, rank=f.q is not None)}, l.status = 'active', {STAMP} "
        "FROM listings l WHERE l.id = ANY(CAST(:ids AS uuid[]))"
    )
    return Statement(sql, params)


async def fetch_page_rows(
    session: ReplicaSession, statement: Statement, ids: bytes, stamps: Sequence[int]
) -> list[dict[str, Any]] | None:
    """The items of page_rows_statement in the order of `ids`, or None if any of them is no
    longer active in the version `stamps` names (it changed after the index chose it)."""
    result = await session.fetch(_clause(statement.sql), statement.params)
    rows = {row[0].bytes: row for row in result.rows}
    extras = _extras(result.columns[:-2])
    items = []
    for n, stamp in enumerate(stamps):
        row = rows.get(ids[16 * n : 16 * n + 16])
        if row is None or not row[-2] or row[-1] != stamp:
            return None
        items.append(item(row[:-2], extras))
    return items


def rank_window_statement(
    f: SearchFilters, ids: bytes, stamps: Sequence[int], limit: int
) -> Statement:
    """The best-ranked `limit` of a relevance window (ids: 16 bytes each, concatenated, with
    the version stamps the facet index holds), ordered as relevance_first_statement orders
    them, each row ending with how many of the window are still active in that version."""
    sql = (
        "WITH x AS MATERIALIZED (SELECT * FROM unnest(CAST(:ids AS uuid[]), "
        "CAST(:stamps AS int8[])) AS x(id, stamp)), "
        f"r AS MATERIALIZED (SELECT l.id, {RANK} AS rank, "
        f"(l.status = 'active' AND {STAMP} = x.stamp) AS current "
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
    session: ReplicaSession, statement: Statement, size: int
) -> list[dict[str, Any]] | None:
    """The items of rank_window_statement, or None if a listing of the window changed."""
    result = await session.fetch(_clause(statement.sql), statement.params)
    if not result.rows or result.rows[0][-1] != size:
        return None
    extras = _extras(result.columns[:-1])
    return [item(row[:-1], extras) for row in result.rows]


def tsquery_statement(q: str) -> Statement:
    """What full text searches for `q`, as tsquery text ("'balkon' & 'hell'")."""
    return Statement(f"SELECT {TSQUERY}::text", {"q": q})


async def fetch_clock(session: ReplicaSession) -> datetime:
    value: datetime = (await _rows(session, clock_statement()))[0][0]
    return value


async def fetch_binary(
    session: ReplicaSession, statement: Statement, *, timeout_ms: int | None = None
) -> list[tuple[Any, ...]]:
    """Rows with bytea as raw bytes (binary results: no hex text to decode)."""
    result = await session.fetch(
        _clause(statement.sql), statement.params, binary=True, timeout_ms=timeout_ms
    )
    return result.rows


async def fetch_tsquery(session: ReplicaSession, q: str) -> str:
    value: str = (await _rows(session, tsquery_statement(q)))[0][0]
    return value
