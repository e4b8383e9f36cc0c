"""A tenant with a confirmed viewing sees the listing's exact address (the address-privacy
rule); other tenants and the public still see the ~500 m cell, and the shared cache keeps
holding only the public shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sichrplace.platform.db.engines import Database
from tests.listings.conftest import replica_caught_up
from tests.viewings.conftest import API, MakeUser, Payments, Stage, book, pay

pytestmark = pytest.mark.usefixtures("payments")

EXACT = (52.5163, 13.4376)  # listing_body's coordinates


async def _detail(client: httpx.AsyncClient, listing_id: str, headers: dict[str, str]) -> Any:
    r = await client.get(f"{API}/listings/{listing_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r


def _hidden(body: dict[str, Any]) -> None:
    assert (body["street"], body["house_number"]) == (None, None)
    assert (body["latitude"], body["longitude"]) != EXACT
    assert "owner_id" not in body


async def test_a_confirmed_viewing_shows_the_tenant_the_address(
    client: httpx.AsyncClient, db: Database, stage: Stage, payments: Payments, make_user: MakeUser
) -> None:
    await replica_caught_up(db)
    _hidden((await _detail(client, stage.listing_id, stage.tenant.headers)).json())
    booked = (await book(client, stage.tenant, stage.slot["id"])).json()
    await replica_caught_up(db)
    # Booked but not paid: still hidden.
    _hidden((await _detail(client, stage.listing_id, stage.tenant.headers)).json())
    await pay(client, db, payments, stage.tenant, booked)
    await replica_caught_up(db)

    r = await _detail(client, stage.listing_id, stage.tenant.headers)
    body = r.json()
    assert (body["street"], body["house_number"]) == ("Karl-Marx-Allee", "12a")
    assert (body["latitude"], body["longitude"]) == EXACT
    assert "owner_id" not in body  # seeing the address is not managing the listing
    assert "no-store" in r.headers["cache-control"]  # built for this tenant alone

    # Everyone else, and the cached public detail, still hide it.
    for headers in ({}, (await make_user("tenant")).headers, (await make_user("landlord")).headers):
        for _ in range(2):
            _hidden((await _detail(client, stage.listing_id, headers)).json())
