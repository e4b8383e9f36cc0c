"""The in-process index against Postgres, filter by filter from the registry: random filter
sets drawn from search/filters.py (each filter's own generator), with city, text, box and
radius, must count and page the same through the index backend as through the Postgres one.
A filter added to the registry is covered here without a change to this file."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import replace
from typing import Any

import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from sichrplace.app import parts_of_app
from sichrplace.kit.errors import Unprocessable
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search import service
from sichrplace.search.backends.base import SearchBackend
from sichrplace.search.backends.index import IndexBackend
from sichrplace.search.backends.postgres import PostgresBackend
from sichrplace.search.filters import FILTERS
from sichrplace.search.index.errors import Unsupported
from sichrplace.search.index.keeper import FacetIndex
from sichrplace.search.params import filter_params, search_params, to_filters, to_query
from sichrplace.search.repository import pages
from sichrplace.search.schemas import SearchQuery
from tests.search.conftest import Flat, Insert, random_flats

WORDS = ("Balkon", "Altbau", "hell", "ruhig", "Garten", "Dachterrasse", "Stuck")


def worded(flats: list[Flat], seed: int) -> list[Flat]:
    rng = random.Random(seed)
    for flat in flats:
        flat.description = " ".join(rng.sample(WORDS, rng.randint(0, 3))) + " Wohnung."
    return flats


def random_params(rng: random.Random, city: str) -> dict[str, Any]:
    """A filter set as a client sends it: every registered filter with some probability,
    valued by its own generator, plus the structural ones; values the cross-parameter rules
    refuse (a minimum above the maximum) are dropped."""
    p: dict[str, Any] = {"city": city}
    for flt in FILTERS:
        if rng.random() < 0.18:
            p[flt.name] = flt.random(rng)
    if rng.random() < 0.3:
        p["rent_type"] = "cold"
    if rng.random() < 0.2:
        lat, lng = 50.0 + rng.uniform(-0.05, 0.05), 8.0 + rng.uniform(-0.05, 0.05)
        p["bbox"] = f"{lng - 0.04:.5f},{lat - 0.03:.5f},{lng + 0.04:.5f},{lat + 0.03:.5f}"
    elif rng.random() < 0.3:  # circles that cut through the flats
        p["lat"], p["lng"] = 50.0 + rng.uniform(-0.03, 0.03), 8.0 + rng.uniform(-0.04, 0.04)
        p["radius_km"] = rng.choice((1, 2.5, 4, 7))
    if rng.random() < 0.4:
        p["q"] = rng.choice((*WORDS, "Balkon hell", "ruhig Garten", "Balkone"))
    while True:
        try:
            to_filters(filter_params(p))
        except Unprocessable as exc:
            del p[exc.errors[0]["field"]]
        else:
            return p


async def _index_rows(index: FacetIndex, session: ReplicaSession, params: dict[str, Any]) -> Any:
    filters = to_filters(filter_params(params))
    reason = ""
    for _ in range(200):  # the first query of a word starts loading its postings
        try:
            return service.assemble_facets(filters, await index.count(session, filters))
        except Unsupported as exc:
            reason = str(exc)
        assert reason == "postings loading", reason
        await asyncio.sleep(0.05)
    raise AssertionError("postings did not load")


async def _postgres_rows(session: ReplicaSession, params: dict[str, Any]) -> Any:
    filters = to_filters(filter_params(params))
    return service.assemble_facets(
        filters, await PostgresBackend(None, None).count(session, filters)
    )


async def test_the_index_counts_what_postgres_counts(
    own_index: FacetIndex, db: Database, insert_flats: Insert, city: str
) -> None:
    seed = random.randint(0, 99_999)
    await insert_flats(worded(random_flats(city, 300, seed=seed), seed))
    session = ReplicaSession(db)
    rng = random.Random(seed)
    compared = 0
    used: set[str] = set()
    for _ in range(150):
        params = random_params(rng, city)
        used |= set(params)
        want = await _postgres_rows(session, params)
        got = await _index_rows(own_index, session, params)
        assert got == want, (seed, params)
        compared += want["total"] > 0
    assert compared > 50  # most filter sets matched something
    assert {flt.name for flt in FILTERS} <= used  # every registered filter was compared


async def _walk(
    session: ReplicaSession, app: FastAPI, query: SearchQuery, backend: SearchBackend
) -> list[Any]:
    """Every page of `query`, following next_cursor (the index may wait for postings)."""
    walked: list[Any] = []
    cache = parts_of_app(app).cache
    while True:
        body, _ = await service.search(session, cache, backend, query, bypass=True)
        walked.append(json.loads(body))
        cursor = walked[-1]["next_cursor"]
        if cursor is None:
            return walked
        query = replace(query, cursor=cursor)


@pytest.mark.parametrize("window", [pages.RELEVANCE_WINDOW, 10])
async def test_the_index_picks_the_pages_postgres_picks(
    own_index: FacetIndex,
    db: Database,
    app: FastAPI,
    insert_flats: Insert,
    city: str,
    window: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A window of 10: relevance walks cross the tier boundary the first page fixes.
    monkeypatch.setattr(pages, "RELEVANCE_WINDOW", window)
    seed = random.randint(0, 99_999)
    flats = worded(random_flats(city, 150, seed=seed), seed)
    await insert_flats(flats)
    session = ReplicaSession(db)
    postgres = PostgresBackend(None, None)
    by_index = IndexBackend(own_index, postgres)
    rng = random.Random(seed)
    before = REGISTRY.get_sample_value("sichrplace_search_pages_total", {"source": "index"}) or 0
    walked = 0
    for _ in range(40):
        params = random_params(rng, city)
        # With q and no sort: relevance (the index finds the first page's window).
        sort = rng.choice(("newest", "rent_asc", "rent_desc", None))
        if sort is not None:
            params["sort"] = sort
        params["limit"] = rng.choice((3, 7, 20))
        query = to_query(search_params(params))
        indexed = await _walk(session, app, query, by_index)
        assert indexed == await _walk(session, app, query, postgres), (seed, params)
        walked += len(indexed)
    after = REGISTRY.get_sample_value("sichrplace_search_pages_total", {"source": "index"}) or 0
    assert after - before >= walked * 0.6  # relevance: first pages only
