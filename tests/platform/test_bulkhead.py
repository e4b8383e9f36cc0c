"""Bulkheads: at most N at once, the rest wait their turn, and a wait that is too long is a
503 with Retry-After (as problem+json over HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from sichrplace.kit.errors import ServiceUnavailable
from sichrplace.platform.bulkhead import Bulkhead
from sichrplace.platform.parts import Parts
from sichrplace.search.backends.postgres import PostgresBackend
from sichrplace.search.parts import SEARCH
from sichrplace.search.repository import facets
from sichrplace.search.repository.where import Statement
from sichrplace.search.schemas import FacetRow


async def test_at_most_limit_run_at_once_and_the_rest_wait() -> None:
    bulkhead = Bulkhead("test", limit=2, max_wait_seconds=5)
    running = peak = 0

    async def work() -> None:
        nonlocal running, peak
        async with bulkhead.slot():
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.02)
            running -= 1

    await asyncio.gather(*(work() for _ in range(10)))
    assert peak == 2


async def test_a_wait_longer_than_allowed_is_service_unavailable() -> None:
    bulkhead = Bulkhead("test", limit=1, max_wait_seconds=0.05)
    async with bulkhead.slot():
        with pytest.raises(ServiceUnavailable) as raised:
            async with bulkhead.slot():
                pass
    assert raised.value.headers["Retry-After"] == "2"
    async with bulkhead.slot():  # the slot was given back
        pass


def test_a_bulkhead_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        Bulkhead("test", limit=0, max_wait_seconds=1)


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
