"""The landlord's statistics of a listing (GET /listings/{id}/stats)."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class DayStats(BaseModel):
    day: date = Field(description="a UTC day")
    views: int = Field(description="detail page views by people who do not manage the listing")
    enquiries: int = Field(description="conversations started about the listing")
    bookings: int = Field(description="viewings booked")


class Totals(BaseModel):
    views: int
    enquiries: int
    bookings: int


class ListingStats(BaseModel):
    """Per day from `from` to `to` (both included, every day listed, zeros where nothing
    happened), from the rollups: they trail the events by up to about five minutes."""

    model_config = ConfigDict(populate_by_name=True)

    listing_id: uuid.UUID
    first: date = Field(alias="from")
    last: date = Field(alias="to")
    days: list[DayStats]
    totals: Totals
