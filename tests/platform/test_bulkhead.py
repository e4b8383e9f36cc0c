"""Bulkheads over HTTP: facets beyond the bulkhead answer 503 problem+json with Retry-After
(the bulkhead itself: tests/unit/platform/test_bulkhead.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from sichrplace.platform.bulkhead import Bulkhead
from sichrplace.platform.parts import Parts
from sichrplace.search.backends.postgres import PostgresBackend
from sichrplace.search.parts import SEARCH
from sichrplace.search.repository import facets
from sichrplace.search.repository.where import Statement
from sichrplace.search.schemas import FacetRow


@pytest.fixture
def one_slot(parts: Parts) -> Iterator[Bulkhead]:
    """One facet slot, and the facet index out of the way (facets are counted in Postgres)."""
    search = parts.get(SEARCH)
    one = Bulkhead("facets", limit=1, max_wait_seconds=0.1)
    parts.swap(SEARCH, replace(search, backend=PostgresBackend(search.plan_stats, one)))
    yield one
    parts.swap(SEARCH, search)


async def test_facets_over_the_bulkhead_answer_503_problem(
    client: httpx.AsyncClient, one_slot: Bulkhead, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = facets.fetch_facets

    async def slow(session: Any, statement: Statement) -> list[FacetRow]:
        await asyncio.sleep(0.4)  # holds the only slot longer than the others may wait
        return await real(session, statement)

    monkeypatch.setattr(facets, "fetch_facets", slow)
    url = "/api/v1/search/facets"
    headers = {"X-Cache-Bypass": "1"}
    first, second = await asyncio.gather(
        client.get(url, params={"city": "Jena"}, headers=headers),
        client.get(url, params={"city": "Ulm"}, headers=headers),
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 503]
    refused = first if first.status_code == 503 else second
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["Retry-After"] == "2"
    assert refused.json()["status"] == 503
