"""Query-string parsing for /search/*: one Pydantic model, made from the filter registry
(search/filters.py) and the structural parameters, checks the types in a single validation
call (cheaper than a FastAPI parameter per filter on this hot path); then the rules across
parameters, each failure a 422 naming its field."""

from __future__ import annotations

import math
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError, create_model

from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.german import expand_query
from sichrplace.kit.i18n import N_
from sichrplace.listings.places import district_key
from sichrplace.listings.vocabulary import city_key
from sichrplace.search.cursor import MAX_CURSOR_CHARS
from sichrplace.search.filters import FILTERS
from sichrplace.search.schemas import BBox, GeoPoint, RentType, SearchFilters, SearchQuery, Sort

MAX_RADIUS_KM = 200.0
M = TypeVar("M", bound=BaseModel)
MAX_Q_CHARS = 200


class StructuralParams(BaseModel):
    """The parameters that shape the plans themselves (the rest come from the registry)."""

    city: str | None = Field(None, min_length=1, max_length=100)
    district: str | None = Field(
        None, min_length=1, max_length=100, description="Stadtteil, e.g. Kreuzberg"
    )
    q: str | None = Field(None, max_length=MAX_Q_CHARS, description="German full text")
    rent_type: RentType = Field("warm", description="which rent min_rent/max_rent bound")
    lat: float | None = Field(None, ge=-90, le=90, description="with lng: a point")
    lng: float | None = Field(None, ge=-180, le=180, description="with lat: a point")
    radius_km: float | None = Field(
        None, gt=0, le=MAX_RADIUS_KM, description="around lat/lng (needs both; not with bbox)"
    )
    bbox: str | None = Field(
        None,
        description=(
            "minLng,minLat,maxLng,maxLat with minLng < maxLng and minLat < maxLat; "
            "not with lat/lng/radius_km"
        ),
    )


# The filters shared by /search/listings and /search/facets: the structural parameters and
# one field per registered filter, in registry order.
FilterParams: type[StructuralParams] = create_model(  # type: ignore[call-overload]
    "FilterParams",
    __base__=StructuralParams,
    **{flt.name: flt.param() for flt in FILTERS},
)


class SearchParams(FilterParams):
    sort: Sort | None = Field(
        None, description="default: relevance with q, else newest; distance needs lat and lng"
    )
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(
        None,
        max_length=MAX_CURSOR_CHARS,
        description="next_cursor of the previous page, for the same filters and sort",
    )


def _bbox(raw: str) -> BBox:
    parts = raw.split(",")
    if len(parts) != 4:
        raise Unprocessable.field("bbox", N_("expected minLng,minLat,maxLng,maxLat"))
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        raise Unprocessable.field("bbox", N_("coordinates must be numbers")) from None
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise Unprocessable.field("bbox", N_("coordinates must be finite"))
    if not (-180 <= w < e <= 180):
        raise Unprocessable.field("bbox", N_("need -180 <= minLng < maxLng <= 180"))
    if not (-90 <= s < n <= 90):
        raise Unprocessable.field("bbox", N_("need -90 <= minLat < maxLat <= 90"))
    return BBox(w, s, e, n)


def _values(p: StructuralParams) -> dict[str, Any]:
    """The registered filters' normalised values, checked across parameters."""
    values: dict[str, Any] = {}
    for flt in FILTERS:
        value = flt.normalise(getattr(p, flt.name))
        if value is not None:
            values[flt.name] = value
    for flt in FILTERS:
        broken = flt.check(values)
        if broken is not None:
            raise Unprocessable.field(*broken)
    return values


def to_filters(p: StructuralParams) -> SearchFilters:
    """Check the rules across fields and normalise (equal filters -> equal cache keys)."""
    values = _values(p)
    if (p.lat is None) != (p.lng is None):
        raise Unprocessable.field("lng" if p.lng is None else "lat", N_("lat and lng go together"))
    if p.radius_km is not None and p.lat is None:
        raise Unprocessable.field("radius_km", N_("needs lat and lng"))
    if p.bbox is not None and p.radius_km is not None:
        raise Unprocessable.field("bbox", N_("use either bbox or lat/lng/radius_km, not both"))
    # German compounds become their parts ("Einbauküche" -> "Einbau Küche", kit/german.py).
    text_query = expand_query(" ".join(p.q.split())) if p.q is not None else None
    key = city_key(p.city) if p.city is not None else None
    district = district_key(p.district) if p.district is not None else None
    return SearchFilters(
        city_key=key or None,
        q=text_query or None,
        rent_type=p.rent_type,
        point=GeoPoint(p.lat, p.lng) if p.lat is not None and p.lng is not None else None,
        radius_km=p.radius_km,
        bbox=_bbox(p.bbox) if p.bbox is not None else None,
        values=values,
        district_key=district or None,
    )


def to_query(p: StructuralParams) -> SearchQuery:
    filters = to_filters(p)
    sort, limit = getattr(p, "sort", None), getattr(p, "limit", 20)
    cursor = getattr(p, "cursor", None)
    if sort == "distance" and filters.point is None:
        raise Unprocessable.field("sort", N_("distance sort needs lat and lng"))
    if sort == "relevance" and filters.q is None:
        raise Unprocessable.field("sort", N_("relevance sort needs q"))
    chosen: Sort = sort or ("relevance" if filters.q is not None else "newest")
    return SearchQuery(filters=filters, sort=chosen, limit=limit, cursor=cursor or None)


def filter_params(params: dict[str, Any]) -> StructuralParams:
    """The filter parameters of a dict (as a client would send them; tests, the benchmark)."""
    return FilterParams.model_validate(params)


def search_params(params: dict[str, Any]) -> StructuralParams:
    """The search parameters of a dict (as a client would send them)."""
    return SearchParams.model_validate(params)


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
