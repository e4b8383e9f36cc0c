"""The bulk loader (COPY) and the benchmark's request mixes and rendered SQL."""

from __future__ import annotations

import asyncio
import copy
import math
import subprocess

import httpx
import psycopg
import pytest
from sqlalchemy import text

from sichrplace.bench import scenarios
from sichrplace.bench.load import _percentile
from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from sichrplace.seeding import loader
from tests.search.conftest import BYPASS, Landlord, wait_for_replica


async def test_copy_listings_writes_searchable_rows(
    client: httpx.AsyncClient, db: Database, settings: Settings, landlord: Landlord
) -> None:
    written = await asyncio.to_thread(
        loader.copy_listings, settings.db.direct_dsn, [landlord.id], 1500, workers=2
    )
    await wait_for_replica(db)

    async with db.primary.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE status = 'active'), "
                    "count(DISTINCT city_key), bool_and(search_tsv IS NOT NULL), "
                    "bool_and(warm_rent_cents = cold_rent_cents + utilities_cents), "
                    "bool_and(location IS NOT NULL) FROM listings WHERE owner_id = :o"
                ),
                {"o": landlord.id},
            )
        ).one()
    total, active, cities, has_tsv, warm_ok, located = rows
    assert written == total == 1500
    assert 0.8 * total < active < total
    assert cities > 10
    assert has_tsv
    assert warm_ok
    assert located
    city = (await client.get("/api/v1/search/facets", headers=BYPASS)).json()["city"][0]
    assert city["count"] > 0
    async with db.primary.begin() as conn:  # keep the shared database's city mix unchanged
        await conn.execute(text("DELETE FROM listings WHERE owner_id = :o"), {"o": landlord.id})


def test_secondary_indexes_exclude_constraint_indexes(settings: Settings) -> None:
    with psycopg.connect(settings.db.direct_dsn) as conn:
        indexes = loader.secondary_indexes(conn)
    assert "pk_listings" not in indexes
    assert "ix_listings_search_location" in indexes
    assert all(stmt.startswith("CREATE INDEX") for stmt in indexes.values())


MIXES = {
    "popular_search": scenarios.popular_search(),
    "popular_facets": scenarios.popular_facets(),
    "uncached_search": scenarios.uncached_search(60, seed=5),
    "geo_radius": scenarios.geo_radius(40, seed=6),
    "uncached_facets": scenarios.uncached_facets(30, seed=7),
    "suggest": scenarios.suggest(30, seed=8),
}


@pytest.mark.parametrize("mix", list(MIXES))
async def test_every_benchmark_request_is_valid(client: httpx.AsyncClient, mix: str) -> None:
    for request in MIXES[mix]:
        resp = await client.get(scenarios.path_of(request), headers=BYPASS)
        assert resp.status_code == 200, (scenarios.path_of(request), resp.text)


def test_rendered_sql_runs_and_matches_the_mix(settings: Settings) -> None:
    with psycopg.connect(settings.db.direct_dsn, autocommit=True) as conn:
        plans = scenarios.Plans(conn)
        for request in MIXES["uncached_search"][:30] + MIXES["geo_radius"][:10]:
            for statement in scenarios.search_sql(request, plans):
                assert ":" + "lat" not in statement  # every bind was inlined
                conn.execute(statement).fetchall()
        for request in MIXES["uncached_facets"][:10]:
            for statement in scenarios.facets_sql(request):
                rows = conn.execute(statement).fetchall()
                assert {r[0] for r in rows} <= {"city", "rooms", "rent_bucket", "amenity"}


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert _percentile(values, 50) == 50
    assert _percentile(values, 95) == 95
    assert _percentile(values, 99) == 99
    assert _percentile([], 95) == 0
    assert math.isclose(_percentile([3.0], 99), 3.0)


def test_results_name_the_code_they_measured(settings: Settings) -> None:
    from sichrplace.bench.runner import code_version
    from sichrplace.config import PROJECT_ROOT

    head = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short=12", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    version = code_version(settings)
    assert version.removesuffix("+dirty") == (head or "unknown")
    deployed = copy.copy(settings)
    deployed.app = settings.app.model_copy(update={"git_sha": "0123abcd"})
    assert code_version(deployed) == "0123abcd"
