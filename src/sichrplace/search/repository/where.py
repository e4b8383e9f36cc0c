# ruff: noqa: S608 - statements are assembled from this module's fixed fragments; every value is bound.
"""The where-clause of every search and facet statement, and how statements are run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, text

from sichrplace.platform.db.sessions import ReplicaSession, Rows
from sichrplace.search.filters import SqlParams
from sichrplace.search.schemas import BBox, SearchFilters

POINT = "ST_SetSRID(ST_MakePoint(:lng, :lat), 4326)::geography"
TSQUERY = "websearch_to_tsquery('german', :q)"
# `<->` on geography is the sphere distance in metres; in ORDER BY it walks the GiST index
# nearest-first. The radius filter, the sort key, the cursor and the reported distance all use
# this one expression, so they agree to the last bit.
DISTANCE = f"(l.location <-> {POINT})"
RANK = f"ts_rank_cd(l.search_tsv, {TSQUERY})"
EARTH_RADIUS_M = 6_371_008.8


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


def text_via_lookup(f: SearchFilters, *, text_direct: bool = False) -> bool:
    """Full text together with filters the covering indexes check: check the text last.

    `search_tsv` lives only in the table, so `search_tsv @@ q` among the filters turns an
    index-only scan into a heap visit per candidate row. When other filters narrow the rows
    first, the text is checked afterwards, for the survivors only. Without such filters (or
    when they are unselective: `text_direct`, the caller's cost-based choice, search/plans/)
    the direct check is cheaper. Measured choices: docs/performance.md "Plan choices".
    """
    if text_direct or f.q is None:
        return False
    indexed_geo = f.radius_km is not None or f.bbox is not None
    return indexed_geo or any(flt.indexed for flt, _ in f.given())


def where_clause(
    f: SearchFilters,
    params: dict[str, Any],
    *,
    radius_via_index: bool = True,
    text_direct: bool = False,
) -> str:
    """The WHERE of every search/facet statement; fills `params` with the bound values.

    `radius_via_index=False` leaves out the GiST condition of a radius: the planner then walks
    the sort's (covering) index, checking the distance on each tuple (search/plans/)."""
    conds = ["l.status = 'active'"]
    bound = SqlParams(params)
    if f.city_key is not None:
        conds.append(f"l.city_key = {bound.bind('city_key', f.city_key)}")
    if f.district_key is not None:
        conds.append(f"l.district_key = {bound.bind('district_key', f.district_key)}")
    for flt, value in f.given():
        conds.append(flt.sql(value, bound, f.rent_type))
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
    if f.point is not None:
        params["lat"], params["lng"] = f.point.lat, f.point.lng
        if f.radius_km is not None:
            conds.append(_within_radius(f, params, radius_via_index))
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


def _within_radius(f: SearchFilters, params: dict[str, Any], via_index: bool) -> str:
    assert f.point is not None
    assert f.radius_km is not None
    params["radius_m"] = f.radius_km * 1000.0
    # `&&` on the expanded box is the GiST index condition (and gives the planner a usable
    # row estimate, unlike ST_DWithin's); the distance check is exact.
    within = f"{DISTANCE} <= :radius_m"
    if via_index:
        return f"l.location && _ST_Expand({POINT}, :radius_m) AND {within}"
    box = radius_box(f.point.lat, f.point.lng, f.radius_km * 1000.0)
    if box is None:
        return within
    # A walk checks the radius on every index tuple it passes: the circle's lat/lng box
    # rejects most of them with float comparisons before the distance is computed. Inside a
    # CASE, which the planner estimates as one opaque condition: as separate conditions they
    # shrank its row estimate and talked it out of the walk (docs/performance-log.md, round 3).
    params.update(r_s=box.min_lat, r_n=box.max_lat, r_w=box.min_lng, r_e=box.max_lng)
    return (
        "CASE WHEN l.latitude BETWEEN :r_s AND :r_n AND l.longitude BETWEEN :r_w AND :r_e "
        f"THEN {within} ELSE false END"
    )


@lru_cache(maxsize=1024)
def clause(sql: str) -> TextClause:
    """text() parses its bind parameters with a regex on every call: the shapes are few, so
    keep one clause per distinct statement text."""
    return text(sql)


async def fetch(session: ReplicaSession, statement: Statement) -> Rows:
    return await session.fetch(clause(statement.sql), statement.params)


async def rows(session: ReplicaSession, statement: Statement) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in (await fetch(session, statement)).rows]


async def fetch_binary(
    session: ReplicaSession, statement: Statement, *, timeout_ms: int | None = None
) -> list[tuple[Any, ...]]:
    """Rows with bytea as raw bytes (binary results: no hex text to decode)."""
    result = await session.fetch(
        clause(statement.sql), statement.params, binary=True, timeout_ms=timeout_ms
    )
    return result.rows
