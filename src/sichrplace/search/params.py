"""Query-string parsing for /search/*: one Pydantic model checks the types (a single
validation call, cheaper than a FastAPI parameter per filter on this hot path), then the
rules that involve several fields, each failure a 422 naming its field."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.german import expand_query
from sichrplace.listings.places import district_key
from sichrplace.listings.vocabulary import AMENITIES, MAX_CENTS, city_key
from sichrplace.search.cursor import MAX_CURSOR_CHARS
from sichrplace.search.schemas import BBox, GeoPoint, RentType, SearchFilters, SearchQuery, Sort

MAX_RADIUS_KM = 200.0
M = TypeVar("M", bound=BaseModel)
MAX_Q_CHARS = 200


class FilterParams(BaseModel):
    """The filters shared by /search/listings and /search/facets."""

    city: str | None = Field(None, min_length=1, max_length=100)
    district: str | None = Field(
        None, min_length=1, max_length=100, description="Stadtteil, e.g. Kreuzberg"
    )
    postal_code: str | None = Field(None, pattern=r"^[0-9]{5}$")
    q: str | None = Field(None, max_length=MAX_Q_CHARS, description="German full text")
    min_rent: int | None = Field(None, ge=0, le=MAX_CENTS, description="cents")
    max_rent: int | None = Field(None, ge=0, le=MAX_CENTS, description="cents")
    rent_type: RentType = "warm"
    min_rooms: float | None = Field(None, ge=0, le=100)
    max_rooms: float | None = Field(None, ge=0, le=100)
    min_size: float | None = Field(None, ge=0, le=100_000, description="m²")
    furnished: bool | None = None
    pets_allowed: bool | None = None
    amenities: str | None = Field(None, description="comma list; all must match")
    available_from: date | None = Field(None, description="available on or before this day")
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)
    radius_km: float | None = Field(None, gt=0, le=MAX_RADIUS_KM)
    bbox: str | None = Field(None, description="minLng,minLat,maxLng,maxLat")


class SearchParams(FilterParams):
    sort: Sort | None = Field(None, description="default: relevance with q, else newest")
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(None, max_length=MAX_CURSOR_CHARS)


def _bbox(raw: str) -> BBox:
    parts = raw.split(",")
    if len(parts) != 4:
        raise Unprocessable.field("bbox", "expected minLng,minLat,maxLng,maxLat")
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        raise Unprocessable.field("bbox", "coordinates must be numbers") from None
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise Unprocessable.field("bbox", "coordinates must be finite")
    if not (-180 <= w < e <= 180):
        raise Unprocessable.field("bbox", "need -180 <= minLng < maxLng <= 180")
    if not (-90 <= s < n <= 90):
        raise Unprocessable.field("bbox", "need -90 <= minLat < maxLat <= 90")
    return BBox(w, s, e, n)


def _amenities(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    names = {a.strip().lower() for a in raw.split(",") if a.strip()}
    unknown = sorted(names - set(AMENITIES))
    if unknown:
        raise Unprocessable.field("amenities", f"unknown amenity: {', '.join(unknown)}")
    return tuple(sorted(names))


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def to_filters(p: FilterParams) -> SearchFilters:
    """Check the rules across fields and normalise (equal filters -> equal cache keys)."""
    if p.min_rent is not None and p.max_rent is not None and p.min_rent > p.max_rent:
        raise Unprocessable.field("min_rent", "must not be greater than max_rent")
    if p.min_rooms is not None and p.max_rooms is not None and p.min_rooms > p.max_rooms:
        raise Unprocessable.field("min_rooms", "must not be greater than max_rooms")
    if (p.lat is None) != (p.lng is None):
        raise Unprocessable.field("lng" if p.lng is None else "lat", "lat and lng go together")
    if p.radius_km is not None and p.lat is None:
        raise Unprocessable.field("radius_km", "needs lat and lng")
    if p.bbox is not None and p.radius_km is not None:
        raise Unprocessable.field("bbox", "use either bbox or lat/lng/radius_km, not both")
    # German compounds become their parts ("Einbauküche" -> "Einbau Küche", kit/german.py).
    text_query = expand_query(" ".join(p.q.split())) if p.q is not None else None
    key = city_key(p.city) if p.city is not None else None
    district = district_key(p.district) if p.district is not None else None
    return SearchFilters(
        city_key=key or None,
        postal_code=p.postal_code,
        q=text_query or None,
        min_rent=p.min_rent,
        max_rent=p.max_rent,
        rent_type=p.rent_type,
        min_rooms=_decimal(p.min_rooms),
        max_rooms=_decimal(p.max_rooms),
        min_size=_decimal(p.min_size),
        furnished=p.furnished,
        pets_allowed=p.pets_allowed,
        amenities=_amenities(p.amenities),
        available_from=p.available_from,
        point=GeoPoint(p.lat, p.lng) if p.lat is not None and p.lng is not None else None,
        radius_km=p.radius_km,
        bbox=_bbox(p.bbox) if p.bbox is not None else None,
        district_key=district or None,
    )


def to_query(p: SearchParams) -> SearchQuery:
    filters = to_filters(p)
    if p.sort == "distance" and filters.point is None:
        raise Unprocessable.field("sort", "distance sort needs lat and lng")
    if p.sort == "relevance" and filters.q is None:
        raise Unprocessable.field("sort", "relevance sort needs q")
    chosen: Sort = p.sort or ("relevance" if filters.q is not None else "newest")
    return SearchQuery(filters=filters, sort=chosen, limit=p.limit, cursor=p.cursor or None)


def _validate(model: type[M], request: Request) -> M:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        errors = [dict(e, loc=("query", *e["loc"])) for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


# One `model_validate` of the query string: FastAPI's own per-parameter (or query-model)
# handling costs about a millisecond per request here, more than the cached search itself.
def parse_filters(request: Request) -> SearchFilters:
    """The /search/facets filters of the query string (422 naming the field)."""
    return to_filters(_validate(FilterParams, request))


def parse_query(request: Request) -> SearchQuery:
    """The /search/listings query of the query string (422 naming the field)."""
    return to_query(_validate(SearchParams, request))


def openapi_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """The model's fields as OpenAPI query parameters (the routes parse the query by hand)."""
    schema = model.model_json_schema()
    params = []
    for name, prop in schema["properties"].items():
        described = dict(prop)
        description = described.pop("description", None)
        described.pop("title", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": False}
        param["schema"] = described
        if description:
            param["description"] = description
        params.append(param)
    return {"parameters": params}
