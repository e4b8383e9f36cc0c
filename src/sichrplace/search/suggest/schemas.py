"""GET /search/suggest output."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

PlaceKind = Literal["city", "district", "postal_code"]


class Suggestion(BaseModel):
    kind: PlaceKind
    label: str = Field(description="what to show: the commonest spelling, or the postal code")
    city: str | None = Field(description="the city of a district or postal code")
    listings: int = Field(description="active listings there (refreshed every few minutes)")
    params: dict[str, str] = Field(
        description='the /search/listings query for it, e.g. {"city": "Berlin", '
        '"district": "Kreuzberg"}'
    )


class SuggestOut(BaseModel):
    items: list[Suggestion]
