"""Search items as JSON: a listing's creation time reads the same whatever the session's zone."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import orjson

from sichrplace.kit.jsonbody import dumps
from sichrplace.listings.rules import approximate_point
from sichrplace.search.items import ItemWithDistance, from_row


def _row(created_at: datetime) -> tuple[object, ...]:
    return (
        uuid.UUID(int=7), "Altbau", "Berlin", "10115", 90_000, 110_000, 2.5, 61.25,
        False, True, date(2027, 1, 1), ["balcony"], 52.53, 13.38, created_at, True,
    )  # fmt: skip


def test_created_at_is_written_in_utc_with_z_from_any_zone() -> None:
    utc = datetime(2026, 11, 28, 15, 4, 5, 123456, tzinfo=UTC)
    berlin = utc.astimezone(ZoneInfo("Europe/Berlin"))
    whole_second = datetime(2026, 11, 28, 15, 4, 5, tzinfo=UTC)
    for moment, text in (
        (utc, "2026-11-28T15:04:05.123456Z"),
        (berlin, "2026-11-28T15:04:05.123456Z"),
        (whole_second, "2026-11-28T15:04:05Z"),
    ):
        item = orjson.loads(dumps(from_row(_row(moment))))
        assert item["created_at"] == text, moment
        assert item["rooms"] == 2.5
        assert item["size_sqm"] == 61.25


def _located(lat: float, lng: float, *, exact: bool) -> tuple[object, ...]:
    row = list(_row(datetime(2026, 11, 28, tzinfo=UTC)))
    row[12], row[13], row[15] = lat, lng, exact
    return tuple(row)


def test_items_show_the_cell_centre_unless_the_landlord_shows_the_address() -> None:
    rounded = from_row(_located(52.5163, 13.4376, exact=False))
    assert (rounded.latitude, rounded.longitude) == approximate_point(52.5163, 13.4376)
    exact = from_row(_located(52.5163, 13.4376, exact=True))
    assert (exact.latitude, exact.longitude) == (52.5163, 13.4376)


def test_distance_of_a_rounded_item_is_to_the_half_kilometre() -> None:
    shown = []
    for metres in (2617.0, 2749.0, 2751.0, 2999.0, 3240.0):
        row = (*_located(52.5163, 13.4376, exact=False), metres)
        item = from_row(row, distance=True)
        assert isinstance(item, ItemWithDistance)
        shown.append(item.distance_km)
    assert shown == [2.5, 2.5, 3.0, 3.0, 3.0]  # in the order of the exact distances
    exact = from_row((*_located(52.5163, 13.4376, exact=True), 2617.0), distance=True)
    assert isinstance(exact, ItemWithDistance)
    assert exact.distance_km == 2.617
