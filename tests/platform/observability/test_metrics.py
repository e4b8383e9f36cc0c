"""The API's /metrics after real requests: bounded labels (no ids, raw paths, emails or query
strings in any label value, and at most MAX_SERIES_PER_FAMILY series per metric family),
the DB pool and replica metrics, the facet index's age and the business counters."""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from collections import defaultdict

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from prometheus_client.parser import text_string_to_metric_families

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from sichrplace.platform.parts import Parts
from sichrplace.web.routes import web_routers
from tests.accounts.conftest import client_for, strong_password

API = "/api/v1"
# Per family (a histogram's buckets, sum and count included). The largest today is the
# request-duration histogram: methods x route templates x 15 samples; a route label holding
# raw paths would pass this after a few hundred distinct requests.
MAX_SERIES_PER_FAMILY = 1500

_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
_LONG_NUMBER = re.compile(r"\d{5,}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.I)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> tuple[Samples, dict[str, int]]:
    """Every sample of /metrics by (name, labels), and the series count per family."""
    r = await client.get("/metrics")
    assert r.status_code == 200
    samples: Samples = {}
    per_family: dict[str, int] = defaultdict(int)
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
            per_family[family.name] += 1
    return samples, per_family


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _templates(app: FastAPI) -> set[str]:
    """Route templates a `route` label may hold: the documented ones, the operational ones and
    the web pages (left out of the schema), and `unmatched`."""
    pages = {r.path for router in web_routers() for r in router.routes if isinstance(r, APIRoute)}
    return {"unmatched", "/metrics", "/healthz", "/readyz", *app.openapi()["paths"], *pages}


async def test_labels_stay_bounded_after_hostile_requests(app: FastAPI) -> None:
    async with client_for(app) as client:
        before, _ = await scrape(client)
        for i in range(40):
            ident = uuid.uuid4()
            await client.get(f"{API}/listings/{ident}")
            await client.get(f"{API}/listings/{i * 104729}")
            await client.get(f"/no/such/{ident}/path-{i}")
            await client.get(f"{API}/users/someone{i}@example.com")
            await client.get(f"{API}/search/listings?city=Berlin&x{i}={ident}&max_rent={i}")
            await client.request("PROPFIND", f"{API}/listings/{ident}")
            await client.request(f"VERB{i}", f"/nothing/here-{i}")
        samples, per_family = await scrape(client)

    templates = _templates(app)
    bad = []
    # The series these requests touched: other tests in this process make labels of their
    # own on purpose (e.g. a dependency name per test, for isolated breakers).
    touched = [key for key, v in samples.items() if before.get(key) != v]
    assert touched
    for name, labels in touched:
        for label, text in labels:
            if _UUID.search(text) or _LONG_NUMBER.search(text) or _EMAIL.search(text):
                bad.append(f"{name} {label}={text!r}")
            if "?" in text or "&" in text:
                bad.append(f"{name} {label}={text!r} (a query string)")
            if label == "route" and text not in templates:
                bad.append(f"{name} route={text!r} is not a route template")
            if label == "method" and text not in {"GET", "HEAD", "POST", "PUT", "PATCH",
                                                  "DELETE", "OPTIONS", "OTHER"}:  # fmt: skip
                bad.append(f"{name} method={text!r}")
    assert not bad, bad[:20]
    too_many = {f: n for f, n in per_family.items() if n > MAX_SERIES_PER_FAMILY}
    assert not too_many, too_many
    assert value(samples, "sichrplace_http_requests_total", method="OTHER", route="unmatched",
                 status="404") >= 40  # fmt: skip
    assert value(samples, "sichrplace_http_requests_total", method="GET",
                 route=f"{API}/listings/{{listing_id}}", status="404") >= 40  # fmt: skip
    # The scrape itself is the only request in flight while /metrics renders.
    assert value(samples, "sichrplace_http_requests_in_flight") == 1


async def test_pool_metrics_per_engine(
    client: httpx.AsyncClient, settings: Settings, db: Database
) -> None:
    before, _ = await scrape(client)
    await db.check_replica()  # checks out a connection of each engine
    after, _ = await scrape(client)
    for engine in ("primary", "replica"):
        size = value(after, "sichrplace_db_pool_size", engine=engine)
        assert size == settings.db.pool_size
        open_ = sum(
            value(after, "sichrplace_db_pool_connections", engine=engine, state=s)
            for s in ("in_use", "idle")
        )
        assert open_ >= 1, engine  # the replica monitor opened some
    waited = "sichrplace_db_pool_wait_seconds_count"
    for engine in ("primary", "replica"):
        assert value(after, waited, engine=engine) > value(before, waited, engine=engine)


async def test_replica_lag_is_exported_where_it_is_measured(
    client: httpx.AsyncClient, db: Database
) -> None:
    state = await db.check_replica()
    assert state.reachable
    samples, _ = await scrape(client)
    seconds = value(samples, "sichrplace_db_replica_lag_seconds")
    lag_bytes = value(samples, "sichrplace_db_replica_lag_bytes")
    assert math.isfinite(seconds)
    assert 0 <= seconds < 60
    assert math.isfinite(lag_bytes)
    assert lag_bytes >= 0
    assert value(samples, "sichrplace_db_replica_usable") == 1


async def test_facet_index_age(client: httpx.AsyncClient, parts: Parts) -> None:
    from sichrplace.search.parts import SEARCH

    index = parts.get(SEARCH).facet_index
    assert index is not None, "the tests run the index backend"
    # Bounded: loading takes seconds with the test data, up to a minute with 1M listings.
    for _ in range(1200):
        if index.ready:
            break
        await asyncio.sleep(0.1)
    samples, _ = await scrape(client)
    age = value(samples, "sichrplace_facet_index_age_seconds")
    assert math.isfinite(age)
    assert 0 <= age < 60


async def test_registrations_are_counted_after_commit_only(app: FastAPI) -> None:
    email = f"metrics-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": strong_password(), "full_name": "Erika Muster",
            "role": "landlord"}  # fmt: skip
    async with client_for(app) as client:
        before, _ = await scrape(client)
        assert (await client.post(f"{API}/auth/register", json=body)).status_code == 201
        # The same email again: refused, rolled back, not counted.
        assert (await client.post(f"{API}/auth/register", json=body)).status_code == 409
        after, _ = await scrape(client)
    name = "sichrplace_registrations_total"
    assert value(after, name, role="landlord") - value(before, name, role="landlord") == 1
    # Every label value exists from the start (a rate needs the series before the event).
    assert (name, frozenset({("role", "admin")})) in after
    assert ("sichrplace_bookings_total", frozenset({("outcome", "failed")})) in after
