"""What the analytics repository returns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple


class DayCounts(NamedTuple):
    """One listing's rollup of one day (listing_daily)."""

    day: date
    views: int
    enquiries: int
    bookings: int


@dataclass(frozen=True, slots=True)
class ListingDays:
    """A listing's owner and its rolled-up days in a range (days without a row are absent)."""

    owner_id: uuid.UUID
    days: list[DayCounts]


@dataclass(frozen=True, slots=True)
class Partition:
    """A daily partition of a raw table (None bounds: the default partition)."""

    table: str
    name: str
    first_day: date | None


@dataclass(frozen=True, slots=True)
class RollupReport:
    first_day: date
    last_day: date
    listing_rows: int  # listing_daily rows inserted or changed
    city_rows: int
