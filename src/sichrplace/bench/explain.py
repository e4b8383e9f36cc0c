"""EXPLAIN (ANALYZE, BUFFERS) of the main search shapes, as Markdown for docs/performance.md."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from sichrplace.bench.scenarios import render
from sichrplace.search import repository
from sichrplace.search.params import FilterParams, SearchParams, to_filters, to_query

BERLIN = {"lat": 52.52, "lng": 13.405}


@dataclass(frozen=True)
class Shape:
    name: str
    kind: str  # "search" | "facets"
    params: dict[str, Any]


SHAPES: tuple[Shape, ...] = (
    Shape("city, newest (landing page)", "search", {"city": "Berlin"}),
    Shape("city + rent cap + rooms, rent_asc", "search",
          {"city": "Berlin", "max_rent": 120_000, "min_rooms": 2, "sort": "rent_asc"}),
    Shape("no filter, newest", "search", {}),
    Shape("postal code, newest", "search", {"postal_code": "10437"}),
    Shape("city + amenities, newest", "search", {"city": "Köln", "amenities": "balcony,elevator"}),
    Shape("full text, common word, relevance", "search", {"q": "Balkon"}),
    Shape("full text + city, relevance", "search", {"q": "Einbauküche", "city": "Hamburg"}),
    Shape("full text + city, newest", "search", {"q": "Garten", "city": "München",
                                                 "sort": "newest"}),
    Shape("radius 3 km, nearest first", "search", {**BERLIN, "radius_km": 3, "sort": "distance"}),
    Shape("radius 5 km, newest", "search", {**BERLIN, "radius_km": 5}),
    Shape("nearest first, no radius", "search", {"lat": 48.14, "lng": 11.58, "sort": "distance"}),
    Shape("map box (neighbourhood), newest", "search", {"bbox": "9.95,53.54,10.02,53.57"}),
    Shape("facets: city", "facets", {"city": "Berlin"}),
    Shape("facets: small city", "facets", {"city": "Jena"}),
    Shape("facets: city + rent cap + rooms", "facets",
          {"city": "Hamburg", "max_rent": 150_000, "min_rooms": 2}),
    Shape("facets: radius 3 km", "facets", {**BERLIN, "radius_km": 3}),
)  # fmt: skip


def statements(shape: Shape, conn: psycopg.Connection) -> list[str]:
    if shape.kind == "facets":
        filters = to_filters(FilterParams.model_validate(shape.params))
        return [render(repository.facets_statement(filters))]
    query = to_query(SearchParams.model_validate(shape.params))
    if query.sort == "distance":
        return [render(repository.distance_statement(query, None))]
    if query.sort != "relevance":
        return [render(repository.keyset_statement(query, None))]
    boundary_sql = render(repository.relevance_boundary_statement(query.filters))
    row = conn.execute(boundary_sql).fetchone()
    page = repository.relevance_statement(
        query, tier=0, boundary=(row[0], row[1]) if row else None, after=None, limit=21
    )
    return [boundary_sql, render(page)]


def _median_ms(run: Callable[[], object], times: int = 5) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def explain_markdown(dsn: str, search_path: str | None = None) -> str:
    out: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET statement_timeout = 0")
        if search_path:
            conn.execute(f"SET search_path = {search_path}")
        for shape in SHAPES:
            sqls = statements(shape, conn)
            for sql in sqls:  # warm the cache: plans of a warm system are the interesting ones
                conn.execute(sql).fetchall()

            def run(sqls: list[str] = sqls) -> None:
                for sql in sqls:
                    conn.execute(sql).fetchall()

            took = _median_ms(run)
            out.append(f"### {shape.name}: `{shape.params}` ({took:.1f} ms median)\n")
            for sql in sqls:
                plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql).fetchall()
                out.append("```\n" + "\n".join(r[0] for r in plan) + "\n```\n")
    return "\n".join(out)
