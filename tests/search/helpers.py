"""Brute-force references for search tests and a cursor walker."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from sichrplace.listings.vocabulary import ENERGY_CLASSES
from tests.search.conftest import BYPASS, SEARCH, Flat, haversine_m


def matches(f: Flat, p: dict[str, Any]) -> bool:
    """Would listing `f` match query parameters `p` (as sent over HTTP)?"""
    if f.status != "active":
        return False
    rent = f.cold if p.get("rent_type") == "cold" else f.warm
    checks = [
        ("postal_code", lambda v: f.postal_code == v),
        ("min_rent", lambda v: rent >= int(v)),
        ("max_rent", lambda v: rent <= int(v)),
        ("min_rooms", lambda v: f.rooms >= Decimal(str(v))),
        ("max_rooms", lambda v: f.rooms <= Decimal(str(v))),
        ("min_size", lambda v: f.size >= Decimal(str(v))),
        ("max_size", lambda v: f.size <= Decimal(str(v))),
        ("wbs_required", lambda v: f.wbs_required == (v == "true")),
        ("energy_class_max", lambda v: f.energy_class is not None
         and ENERGY_CLASSES.index(f.energy_class) <= ENERGY_CLASSES.index(v.upper())),
        ("furnished", lambda v: f.furnished == (v == "true")),
        ("pets_allowed", lambda v: f.pets == (v == "true")),
        ("amenities", lambda v: set(v.split(",")) <= set(f.amenities)),
        ("available_from", lambda v: f.available_from is not None
         and f.available_from <= date.fromisoformat(v)),
    ]  # fmt: skip
    for name, check in checks:
        if name in p and not check(p[name]):
            return False
    if "radius_km" in p:
        if f.lat is None or f.lng is None:
            return False
        if (
            haversine_m(float(p["lat"]), float(p["lng"]), f.lat, f.lng)
            > float(p["radius_km"]) * 1e3
        ):
            return False
    if "bbox" in p:
        w, s, e, n = (float(x) for x in p["bbox"].split(","))
        if f.lat is None or f.lng is None or not (w <= f.lng <= e and s <= f.lat <= n):
            return False
    return True


async def walk(
    client: httpx.AsyncClient, params: dict[str, Any], *, limit: int = 100, max_pages: int = 200
) -> list[dict[str, Any]]:
    """Every item of a search, following next_cursor to the end."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(max_pages):
        query = dict(params, limit=limit)
        if cursor:
            query["cursor"] = cursor
        resp = await client.get(SEARCH, params=query, headers=BYPASS)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("too many pages")
