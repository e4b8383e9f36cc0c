"""Search results (/suche), the same results on a map (/suche/karte), and the search box's
place suggestions (/suche/vorschlaege).

The filters are the API's (GET /api/v1/search/listings and /search/facets), under the API's
names, except that rents are euros on the page (cents in the API). The home page's box sends
free text (`where`): it becomes the first matching place of GET /search/suggest (a city, a
district or a postal code) unless the query names a place itself. A filter the API refuses
is shown next to its field (422), never as a crash.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from sichrplace.kit.i18n import N_
from sichrplace.platform.http.dependencies import parts_of
from sichrplace.web.client import ApiClient, ApiProblem
from sichrplace.web.pages.base import Page, api, page, page_router, render
from sichrplace.web.pages.listing import AMENITY_LABELS, listing_path, number, rooms_text

router = page_router()

LIST_PATH, MAP_PATH = "/suche", "/suche/karte"
PAGE_SIZE, MAP_PAGE_SIZE = 20, 50
TOP_CITIES = 10
MIN_WHERE = 2  # the suggestions start with the second character
MAX_TEXT = 100
# The page's filters as the API names them (the query string keeps them all, shown or not).
FILTERS = (
    "city", "district", "postal_code", "q", "min_rent", "max_rent", "rent_type", "min_rooms",
    "max_rooms", "min_size", "max_size", "furnished", "pets_allowed", "wbs_required",
    "amenities", "available_from", "energy_class_max",
)  # fmt: skip
PLACE = ("city", "district", "postal_code")
EURO = ("min_rent", "max_rent")
# Shown by the form itself; the others ride along as hidden fields.
SHOWN = {*PLACE, *EURO, "rent_type", "min_rooms", "max_rooms", "min_size", "max_size"}
SHOWN |= {"furnished", "pets_allowed", "amenities"}
SORTS = {
    "newest": N_("Newest first"),
    "rent_asc": N_("Lowest rent first"),
    "rent_desc": N_("Highest rent first"),
    "relevance": N_("Best match"),
}
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+")


@router.get(LIST_PATH)
async def search_page(request: Request) -> Response:
    return await _results(request, "search/results", PAGE_SIZE)


@router.get(MAP_PATH)
async def map_page(request: Request) -> Response:
    return await _results(request, "search/map", MAP_PAGE_SIZE)


@router.get("/suche/vorschlaege")
async def suggestions(request: Request) -> Response:
    """<option>s for the search box's datalist (htmx swaps them in; a plain GET works too)."""
    made = await page(request, "search/_suggestions")
    typed = " ".join((request.query_params.get("where") or "").split())[:MAX_TEXT]
    items: list[dict[str, Any]] = []
    if len(typed) >= MIN_WHERE:
        try:
            items = (await api(made).get("/search/suggest", q=typed))["items"]
        except ApiProblem:  # no suggestions is an answer a search box can live with
            items = []
    options = [
        {
            "value": _place_text(item),
            "label": made.n_(
                "{n} apartment", "{n} apartments", item["listings"], n=_n(item["listings"], made)
            ),
        }
        for item in items
    ]
    return render(request, made, {"options": options})


def _place_text(item: Mapping[str, Any]) -> str:
    """What a suggestion puts in the box: 'Berlin', 'Kreuzberg, Berlin', '10115, Berlin'."""
    return f"{item['label']}, {item['city']}" if item.get("city") else str(item["label"])


def _n(value: int, made: Page) -> str:
    return number(value, made.language)


def read_filters(request: Request) -> dict[str, str]:
    """The filters of the query string (blank ones dropped; amenities as one comma list,
    from repeated check boxes or a list)."""
    query = request.query_params
    values: dict[str, str] = {}
    for name in FILTERS:
        if name == "amenities":
            names = [a.strip() for raw in query.getlist(name) for a in raw.split(",")]
            joined = ",".join(dict.fromkeys(a for a in names if a))
            if joined:
                values[name] = joined
        elif text := " ".join((query.get(name) or "").split()):
            values[name] = text
    return values


def cents(text: str) -> str:
    """A rent typed in euros as the API's cents ('750' -> '75000', '749,99' -> '74999',
    '1.200' -> '120000'); anything else as typed, for the API to name what is wrong."""
    cleaned = text.replace("€", "").replace(" ", "")
    if _THOUSANDS.fullmatch(cleaned):
        cleaned = cleaned.replace(".", "")
    cleaned = cleaned.replace(".", "").replace(",", ".") if "," in cleaned else cleaned
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return text
    if not amount.is_finite():
        return text
    return str(int((amount * 100).to_integral_value()))


def euros(cents_value: int) -> str:
    """Cents as a euro amount for a link: 50000 -> '500', 74999 -> '749.99'."""
    whole, rest = divmod(cents_value, 100)
    return f"{whole}.{rest:02d}" if rest else str(whole)


def api_params(values: Mapping[str, str]) -> dict[str, str]:
    return {name: cents(v) if name in EURO else v for name, v in values.items()}


async def resolve_where(client: ApiClient, where: str) -> tuple[dict[str, str], str | None]:
    """The place filters `where` stands for (the first suggestion; 'Kreuzviertel, Münster'
    picks that city's) and how to name it; unknown text is taken as a city."""
    name, _, city = (part.strip() for part in where.partition(","))
    if not name:
        return {}, None
    try:
        items = (await client.get("/search/suggest", q=name[:MAX_TEXT]))["items"]
    except ApiProblem:
        items = []
    wanted = city.casefold()
    chosen = next(
        (i for i in items if wanted and str(i.get("city") or i["label"]).casefold() == wanted),
        items[0] if items else None,
    )
    if chosen is None:
        return {"city": name[:MAX_TEXT]}, None
    return {k: str(v) for k, v in chosen["params"].items() if k in PLACE}, _place_text(chosen)


def link(path: str, values: Mapping[str, str], **changes: str | None) -> str:
    """`path` with the filters, some changed (None drops one)."""
    merged = {**values, **changes}
    pairs = [(k, v) for k, v in merged.items() if v]
    return f"{path}?{urlencode(pairs)}" if pairs else path


async def _results(request: Request, template: str, limit: int) -> Response:
    made = await page(request, template)
    client = api(made)
    values = read_filters(request)
    sort = (request.query_params.get("sort") or "").strip()
    cursor = request.query_params.get("cursor") or None
    where = " ".join((request.query_params.get("where") or "").split())
    resolved = None
    if where and not any(name in values for name in PLACE):
        found, resolved = await resolve_where(client, where)
        values.update(found)
    params = api_params(values)
    found_page: Any
    found_facets: Any
    found_page, found_facets = await asyncio.gather(
        client.get("/search/listings", **params, sort=sort, limit=limit, cursor=cursor),
        client.get("/search/facets", **params),
        return_exceptions=True,
    )
    problem = _refused(found_page, found_facets)
    page_of: dict[str, Any] = {} if problem else found_page
    # The counts are a help, not the answer: the results show without them.
    facets = None if problem or isinstance(found_facets, BaseException) else found_facets
    if sort:
        values["sort"] = sort
    path = MAP_PATH if template == "search/map" else LIST_PATH
    web = parts_of(request).settings.web
    context = {
        "values": values,
        "resolved": resolved,
        "problem": problem,
        "errors": problem.field_errors() if problem else {},
        "items": [card(item, made) for item in page_of.get("items", [])],
        "total": _n(facets["total"], made) if facets else None,
        "total_count": facets["total"] if facets else None,
        "facets": facet_links(facets, values, path, made) if facets else None,
        "amenities": amenity_options(facets, values, made),
        "sorts": [(key, made.t(label)) for key, label in SORTS.items() if key != "relevance"]
        + ([("relevance", made.t(SORTS["relevance"]))] if values.get("q") else []),
        "hidden": {k: v for k, v in values.items() if k not in SHOWN and k != "sort"},
        "more": _more(page_of, path, values),
        "first": link(path, values) if cursor else None,
        "list_link": link(LIST_PATH, values),
        "map_link": link(MAP_PATH, values),
        "action": path,
        "compact": path == MAP_PATH,  # the map's list: no photos
        "tile_url": web.tile_url,
        "tile_attribution": web.tile_attribution,
    }
    return render(request, made, context, status=422 if problem else 200)


def _refused(results: Any, facets: Any) -> ApiProblem | None:
    """The API's 422 (bad filters) if it gave one; any other failure of the search itself
    is raised (an error page); the facets' failures are left to the caller."""
    for answer in (results, facets):
        if isinstance(answer, ApiProblem) and answer.status == 422:
            return answer
    if isinstance(results, BaseException):
        raise results
    return None


def _more(page_of: Mapping[str, Any], path: str, values: Mapping[str, str]) -> str | None:
    following = page_of.get("next_cursor")
    return link(path, values, cursor=following) if following else None


def card(item: Mapping[str, Any], made: Page) -> dict[str, Any]:
    """A result as the card shows it."""
    return {
        "href": listing_path(item),
        "title": item["title"],
        "place": f"{item['postal_code']} {item['city']}",
        "rent": made.money(item["warm_rent_cents"]),
        "rooms": rooms_text(item["rooms"], made),
        "size": f"{number(item['size_sqm'], made.language)} m²",
        "thumbnail": item.get("thumbnail_url"),
        "lat": item.get("latitude"),
        "lng": item.get("longitude"),
    }


def facet_links(
    facets: Mapping[str, Any], values: Mapping[str, str], path: str, made: Page
) -> dict[str, list[dict[str, str]]]:
    """Each facet's values with their counts, each a link that applies it."""
    others = {k: v for k, v in values.items() if k not in PLACE}
    cities = [
        {"label": c["label"] or c["value"], "count": _n(c["count"], made)}
        | {"href": link(path, others, city=c["label"] or c["value"])}
        for c in facets.get("city", [])[:TOP_CITIES]
    ]
    rooms = [
        {
            "label": rooms_text(float(r["value"]), made),
            "count": _n(r["count"], made),
            "href": link(path, values, min_rooms=r["value"], max_rooms=r["value"]),
        }
        for r in facets.get("rooms", [])
    ]
    rents = [
        {
            "label": _bucket(b, made),
            "count": _n(b["count"], made),
            "href": link(
                path,
                values,
                min_rent=euros(b["min_cents"]) if b.get("min_cents") else None,
                max_rent=euros(b["max_cents"] - 1) if b.get("max_cents") else None,
            ),
        }
        for b in facets.get("rent_bucket", [])
    ]
    return {"cities": cities if "city" not in values else [], "rooms": rooms, "rents": rents}


def _bucket(bucket: Mapping[str, Any], made: Page) -> str:
    low, high = bucket.get("min_cents") or 0, bucket.get("max_cents")
    if high is None:
        return made._("from {low}", low=made.money(low))
    return made._("{low} to {high}", low=made.money(low), high=made.money(high))


def amenity_options(
    facets: Mapping[str, Any] | None, values: Mapping[str, str], made: Page
) -> list[dict[str, Any]]:
    """Every amenity as a check box, with its count where the facets gave one."""
    counts = {a["value"]: a["count"] for a in (facets or {}).get("amenity", [])}
    chosen = set((values.get("amenities") or "").split(","))
    return [
        {
            "value": name,
            "label": made.t(label),
            "count": _n(counts[name], made) if name in counts else None,
            "checked": name in chosen,
        }
        for name, label in AMENITY_LABELS.items()
    ]
