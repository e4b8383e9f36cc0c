"""EXPLAIN (ANALYZE, BUFFERS) of the main search shapes, as Markdown for docs/performance.md."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from sichrplace.bench import scenarios

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
    Shape("city + filters nothing matches, newest", "search",
          {"city": "Frankfurt am Main", "min_rooms": 4, "max_rent": 100_000}),
    Shape("city + rooms + amenity, rent_asc", "search",
          {"city": "Berlin", "min_rooms": 4, "amenities": "balcony", "sort": "rent_asc"}),
    Shape("full text, common word, relevance", "search", {"q": "Balkon"}),
    Shape("full text + city, relevance", "search", {"q": "Einbauküche", "city": "Hamburg"}),
    Shape("full text + city, newest", "search", {"q": "Garten", "city": "München",
                                                 "sort": "newest"}),
    Shape("full text, rare word + city + rooms, relevance (text first)", "search",
          {"q": "Stellplatz", "city": "Berlin", "min_rooms": 3}),
    Shape("full text + selective filters, relevance (text last)", "search",
          {"q": "Einbauküche", "city": "Berlin", "min_rooms": 3, "max_rent": 60_000,
           "rent_type": "cold"}),
    Shape("city + cheap + roomy, newest (rent range collected)", "search",
          {"city": "Berlin", "max_rent": 60_000, "min_rooms": 3, "furnished": "true"}),
    Shape("radius 3 km, nearest first", "search", {**BERLIN, "radius_km": 3, "sort": "distance"}),
    Shape("radius 5 km, newest", "search",
          {**BERLIN, "radius_km": 5}),
    Shape("radius 1 km in a small town, newest", "search",
          {"lat": 50.93, "lng": 11.59, "radius_km": 1}),
    Shape("radius 1 km, dense but dear, rent cap, newest (collected)", "search",
          {"lat": 48.12949, "lng": 11.55652, "radius_km": 1, "max_rent": 80_000}),
    Shape("radius 5 km in a mid-size city, rent cap, newest (walked)", "search",
          {"lat": 48.39917, "lng": 10.88598, "radius_km": 5, "max_rent": 80_000}),
    Shape("nearest first, no radius", "search", {"lat": 48.14, "lng": 11.58, "sort": "distance"}),
    Shape("map box (neighbourhood), newest", "search", {"bbox": "9.95,53.54,10.02,53.57"}),
    Shape("facets: city", "facets", {"city": "Berlin"}),
    Shape("facets: small city", "facets", {"city": "Jena"}),
    Shape("facets: city + rent cap + rooms", "facets",
          {"city": "Hamburg", "max_rent": 150_000, "min_rooms": 2}),
    Shape("facets: radius 3 km", "facets", {**BERLIN, "radius_km": 3}),
)  # fmt: skip


def statements(shape: Shape, plans: scenarios.Plans | None) -> list[str]:
    """Exactly what the API runs for the shape (the benchmark's rendering of it)."""
    path = f"/search/{'facets' if shape.kind == 'facets' else 'listings'}"
    request = scenarios.Request(path, shape.params)
    if shape.kind == "facets":
        return scenarios.facets_sql(request)
    return scenarios.search_sql(request, plans)


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
        plans = scenarios.Plans(conn)
        for shape in SHAPES:
            sqls = statements(shape, plans)
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
