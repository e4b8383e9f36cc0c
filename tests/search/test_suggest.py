"""GET /search/suggest: completions of cities, districts and postal codes from search_places
(refreshed by the periodic job's function here, and on first use when the table is empty)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from sichrplace.app import parts_of_app
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.platform.jobs import MAINTENANCE_QUEUE
from sichrplace.platform.jobs.app import job_app
from sichrplace.platform.jobs.runtime import use_job_parts
from sichrplace.search.suggest import repository, service, tasks
from tests.search.conftest import BYPASS, SEARCH, Insert, random_flats, wait_for_replica

SUGGEST = "/api/v1/search/suggest"


async def _suggest(client: httpx.AsyncClient, q: str, **params: Any) -> list[dict[str, Any]]:
    resp = await client.get(SUGGEST, params={"q": q, **params}, headers=BYPASS)
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


@pytest.fixture
async def place(db: Database, insert_flats: Insert, unique: str) -> dict[str, str]:
    """A city with an umlaut, two districts (3 and 1 active listings, an archived one) and a
    postal code of its own, written and counted into search_places. The districts' names are
    the test's own: the database keeps every earlier run's places, and a common name would
    tie with more of them than a lookup returns."""
    city = f"Mühlstadt {unique}"
    postal = f"9{random.randint(0, 9999):04d}"
    south, north = f"Südufer {unique}", f"Nordhang {unique}"
    flats = random_flats(city, 6, seed=5)
    for flat, district, status in zip(
        flats,
        (south, south, south.upper(), north, south, None),
        ("active", "active", "active", "active", "archived", "active"),
        strict=True,
    ):
        flat.district, flat.status, flat.postal_code = district, status, postal
    await insert_flats(flats)
    assert await service.refresh_places(db) is not None
    await wait_for_replica(db)
    return {"city": city, "postal": postal, "unique": unique}


async def test_cities_match_in_any_spelling_with_their_active_listings(
    client: httpx.AsyncClient, place: dict[str, str]
) -> None:
    short = place["unique"][:6]
    for typed in (f"mühlstadt {short}", f"MUEHLSTADT {short}", f"Muhlstadt {short}"):
        items = await _suggest(client, typed)
        assert items == [
            {
                "kind": "city",
                "label": place["city"],
                "city": None,
                "listings": 5,  # the archived one is not counted
                "params": {"city": place["city"]},
            }
        ], typed


async def test_districts_and_postal_codes_best_first(
    client: httpx.AsyncClient, place: dict[str, str]
) -> None:
    city = place["city"]
    items = await _suggest(client, place["postal"], limit=20)
    assert {
        "kind": "postal_code",
        "label": place["postal"],
        "city": city,
        "listings": 5,
        "params": {"city": city, "postal_code": place["postal"]},
    } in items
    assert len(await _suggest(client, "s", limit=2)) == 2
    south = await _suggest(client, f"sudufer {place['unique']}", limit=20)
    label = f"Südufer {place['unique']}"  # the commonest spelling
    assert south == [
        {
            "kind": "district",
            "label": label,
            "city": city,
            "listings": 3,
            "params": {"city": city, "district": label},
        }
    ]
    counts = [i["listings"] for i in await _suggest(client, "1", limit=20)]
    assert counts == sorted(counts, reverse=True)


async def test_a_suggestion_s_parameters_find_its_listings(
    client: httpx.AsyncClient, place: dict[str, str]
) -> None:
    (district,) = await _suggest(client, f"nordhang {place['unique']}", limit=20)
    assert district["city"] == place["city"]
    resp = await client.get(SEARCH, params=district["params"], headers=BYPASS)
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["items"]) == district["listings"] == 1


async def test_answers_are_cached(client: httpx.AsyncClient, place: dict[str, str]) -> None:
    q = f"Mühlstadt {place['unique']}"
    first = await client.get(SUGGEST, params={"q": q})
    second = await client.get(SUGGEST, params={"q": q})
    assert first.headers["X-Cache"] == "miss"
    assert second.headers["X-Cache"] == "hit"
    assert first.json() == second.json()


async def test_an_empty_table_is_filled_on_first_use(
    client: httpx.AsyncClient, db: Database, place: dict[str, str]
) -> None:
    async with db.primary.begin() as conn:
        await conn.execute(text("DELETE FROM search_places"))
    await wait_for_replica(db)
    items = await _suggest(client, f"muehlstadt {place['unique']}")
    assert [i["label"] for i in items] == [place["city"]]
    async with db.primary.connect() as conn:
        places = (await conn.execute(text("SELECT count(*) FROM search_places"))).scalar_one()
    assert places > 0


@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "q"), ({"q": ""}, "q"), ({"q": "x" * 101}, "q"), ({"q": "a", "limit": 0}, "limit"),
     ({"q": "a", "limit": 21}, "limit")],
)  # fmt: skip
async def test_bad_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    resp = await client.get(SUGGEST, params=params)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in resp.json()["errors"]] == [field]


async def test_text_without_letters_or_digits_suggests_nothing(client: httpx.AsyncClient) -> None:
    assert await _suggest(client, " -?! ") == []


async def test_the_periodic_job_counts_new_listings(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    insert_flats: Insert,
    place: dict[str, str],
) -> None:
    assert ("search.refresh_places", MAINTENANCE_QUEUE) in job_app.periodic_registry.periodic_tasks
    flat = random_flats(place["city"], 1, seed=9)[0]
    flat.district, flat.status = f"Neuviertel {place['unique']}", "active"
    await insert_flats([flat])
    assert await _suggest(client, f"neuviertel {place['unique']}") == []
    with use_job_parts(parts_of_app(app)):  # as the worker installs its parts
        written = await tasks.refresh_places.func()  # the job's body
    assert written > 0
    await wait_for_replica(db)
    found = await _suggest(client, f"neuviertel {place['unique']}")
    assert [(i["label"], i["city"], i["listings"]) for i in found] == [
        (f"Neuviertel {place['unique']}", place["city"], 1)
    ]


async def _waits_for_the_refresh_lock(db: Database) -> bool:
    async with db.primary.connect() as conn:
        waiting = await conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND objid = :lock"
            ),
            {"lock": repository.REFRESH_LOCK},
        )
        return bool(waiting.scalar_one())


async def test_a_slow_refresh_never_puts_older_counts_over_newer_ones(
    db: Database, insert_flats: Insert, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh that counted before new listings arrived (the periodic job's, say) and writes
    after a later refresh has written must not win: refreshes count under their lock."""
    counted, release = asyncio.Event(), asyncio.Event()
    real_counts = repository.active_counts
    calls = 0

    async def counts_then_stall(session: ReplicaSession) -> list[tuple[Any, ...]]:
        nonlocal calls
        rows = await real_counts(session)
        calls += 1
        if calls == 1:  # the first refresh counts, then stalls before it writes
            counted.set()
            await release.wait()
        return rows

    monkeypatch.setattr(repository, "active_counts", counts_then_stall)
    stale = asyncio.create_task(service.refresh_places(db))
    await asyncio.wait_for(counted.wait(), 10)
    city = f"Spätstadt {unique}"
    flats = random_flats(city, 2, seed=11)
    for flat in flats:
        flat.status = "active"
    await insert_flats(flats)
    fresh = asyncio.create_task(service.refresh_places(db))
    # The fresh refresh either finishes or waits for the stalled one's lock; only then may
    # the stalled one go on.
    deadline = asyncio.get_running_loop().time() + 20
    while not fresh.done() and not await _waits_for_the_refresh_lock(db):
        assert asyncio.get_running_loop().time() < deadline, (
            "the fresh refresh neither ended nor waited"
        )
        await asyncio.sleep(0.05)
    release.set()
    await asyncio.wait_for(asyncio.gather(stale, fresh), 20)
    async with db.primary.connect() as conn:
        listings = (
            await conn.execute(
                text("SELECT listings FROM search_places WHERE kind = 'city' AND label = :c"),
                {"c": city},
            )
        ).scalar_one_or_none()
    assert listings == 2
