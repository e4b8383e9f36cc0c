# ruff: noqa: S608 - statements are assembled from this module's fixed fragments; every value is bound.
"""Facet counts in Postgres (what the in-process index does not count)."""

from __future__ import annotations

from typing import Any

from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search.repository.where import Statement, fetch, where_clause
from sichrplace.search.schemas import RENT_BUCKET_BOUNDS, FacetRow, SearchFilters


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


async def fetch_facets(session: ReplicaSession, statement: Statement) -> list[FacetRow]:
    return [FacetRow(*row) for row in (await fetch(session, statement)).rows]
