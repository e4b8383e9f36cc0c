"""Search items as JSON: a listing's creation time reads the same whatever the session's zone."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import orjson

from sichrplace.kit.jsonbody import dumps
from sichrplace.search.items import from_row


def _row(created_at: datetime) -> tuple[object, ...]:
    return (
        uuid.UUID(int=7), "Altbau", "Berlin", "10115", 90_000, 110_000, 2.5, 61.25,
        False, True, date(2027, 1, 1), ["balcony"], 52.53, 13.38, created_at,
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
