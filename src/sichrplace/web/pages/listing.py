"""A listing's page: /wohnung/{slug}-{id}, its canonical URL, facts, photos and JSON-LD.

The slug is made from the title and the city (`listing_path`, which every link to a listing
uses); any other spelling of the path answers 301 to the canonical one, so search engines
and shared links converge on one URL. A listing taken down answers 410 Gone (search engines
drop the page at once), an unknown one 404. Booking and contact are partials of their own
areas, included where a tenant would book (they are skipped while they do not exist).
"""

from __future__ import annotations

import asyncio
import functools
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from babel.numbers import format_decimal
from starlette.requests import Request
from starlette.responses import Response

from sichrplace.kit.errors import NotFound
from sichrplace.kit.i18n import LOCALES, N_, Language, Msg
from sichrplace.platform.http.dependencies import parts_of
from sichrplace.web.client import ApiClient, ApiProblem
from sichrplace.web.pages.base import Page, api, page, page_router, redirect, render

router = page_router()

LISTING_PREFIX = "/wohnung/"
ARCHIVED = "archived"
ARCHIVED_SLUG = "listing-archived"  # the API's 404 type for a listing taken down
_ID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_REF = re.compile(rf"(?:(?P<slug>.*)-)?(?P<id>{_ID})")
_UMLAUTS = (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"))
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
MAX_SLUG = 80
DESCRIPTION_CHARS = 155

AMENITY_LABELS: Mapping[str, Msg] = {
    "balcony": N_("Balcony"),
    "garden": N_("Garden"),
    "elevator": N_("Elevator"),
    "parking": N_("Parking space"),
    "dishwasher": N_("Dishwasher"),
    "washing_machine": N_("Washing machine"),
    "fitted_kitchen": N_("Fitted kitchen"),
    "cellar": N_("Cellar"),
    "wheelchair_accessible": N_("Wheelchair accessible"),
    "terrace": N_("Terrace"),
    "guest_toilet": N_("Guest toilet"),
    "bathtub": N_("Bathtub"),
    "floor_heating": N_("Underfloor heating"),
    "storage_room": N_("Storage room"),
    "bicycle_storage": N_("Bicycle storage"),
}
# schema.org availability of an offer per listing status.
AVAILABILITY = {
    "active": "https://schema.org/InStock",
    "reserved": "https://schema.org/LimitedAvailability",
    "rented": "https://schema.org/SoldOut",
}
# The gallery's `sizes`: the first photo spans the content column, the others are tiles.
LEAD_SIZES = "(min-width: 56rem) 46rem, 100vw"
TILE_SIZES = "(min-width: 56rem) 15rem, 50vw"


@functools.lru_cache(maxsize=4096)
def slug(*parts: str) -> str:
    """'Helle 3-Zimmer-Wohnung, Köln' -> 'helle-3-zimmer-wohnung-koeln' (German transliteration,
    then ASCII; at most MAX_SLUG characters, cut at a hyphen). A sitemap page makes ~45,000:
    plain replaces, and Unicode work only for text that needs it."""
    text = " ".join(parts).lower()
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
        for letter, spelled in _UMLAUTS:
            text = text.replace(letter, spelled)
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = _NOT_SLUG.sub("-", text).strip("-")
    if len(text) > MAX_SLUG:
        text = text[: MAX_SLUG + 1].rsplit("-", 1)[0].strip("-")
    return text or "wohnung"


def listing_path(listing: Mapping[str, Any]) -> str:
    """The canonical path of a listing (an API listing, search item or sitemap item)."""
    return f"{LISTING_PREFIX}{slug(listing['title'], listing['city'])}-{listing['id']}"


def number(value: float | int | None, language: Language) -> str:
    """3.0 -> '3', 78.5 -> '78,5' (German) / '78.5' (English), 177154 -> '177.154'."""
    if value is None:
        return ""
    return format_decimal(value, locale=LOCALES[language])


def rooms_text(value: float, made: Page) -> str:
    """'1 room', '2.5 rooms' ('1 Zimmer', '2,5 Zimmer')."""
    shown = number(value, made.language)
    return made.n_("{rooms} room", "{rooms} rooms", 1 if value == 1 else 2, rooms=shown)


def absolute(request: Request, path: str) -> str:
    """`path` on the site's public address (canonical links, sitemaps, JSON-LD)."""
    base = parts_of(request).settings.app.public_base_url.rstrip("/")
    return path if path.startswith(("http://", "https://")) else base + path


@router.get("/wohnung/{ref}")
async def listing_page(request: Request, ref: str) -> Response:
    found = _REF.fullmatch(ref)
    if found is None:
        raise NotFound(N_("No such listing."))
    listing_id = found["id"].lower()
    made = await page(request, "listing/detail")
    client = api(made)
    listing, slots = await asyncio.gather(_listing(client, listing_id), _slots(client, listing_id))
    if listing is None:
        made.template = "listing/gone"
        return render(request, made, {}, status=410)
    path = listing_path(listing)
    if request.url.path != path:
        return redirect(request, made, path, status=301)
    return render(request, made, _context(made, listing, slots, absolute(request, path)))


async def _listing(client: ApiClient, listing_id: str) -> dict[str, Any] | None:
    """The listing, or None when it was taken down (the 404 of another kind is raised)."""
    try:
        found: dict[str, Any] = await client.get(f"/listings/{listing_id}")
    except ApiProblem as problem:
        if problem.status == 404 and problem.slug == ARCHIVED_SLUG:
            return None
        raise
    return None if found.get("status") == ARCHIVED else found  # its owner sees it archived


async def _slots(client: ApiClient, listing_id: str) -> list[dict[str, Any]]:
    """Its free viewing slots; none when they cannot be read (the page shows the listing)."""
    try:
        answer = await client.get(f"/listings/{listing_id}/slots")
    except ApiProblem:
        return []
    return list(answer.get("items") or [])


def _context(
    made: Page, listing: dict[str, Any], slots: list[dict[str, Any]], url: str
) -> dict[str, Any]:
    # The public view has no owner_id; the included partials ask for it (StrictUndefined).
    listing.setdefault("owner_id", None)
    photos = gallery(listing.get("images") or [], listing["title"], made)
    return {
        "listing": listing,
        "slots": slots,
        "canonical": url,
        "photos": photos,
        "facts": facts(listing, made),
        "amenities": [made.t(AMENITY_LABELS.get(a, a)) for a in listing.get("amenities") or ()],
        "summary": summary(listing, made),
        "structured": structured(listing, url, photos),
        "num": lambda value: number(value, made.language),
        "rooms": lambda value: rooms_text(value, made),
    }


def gallery(images: list[dict[str, Any]], title: str, made: Page) -> list[dict[str, Any]]:
    """The ready photos with `srcset` over their WebP variants (w descriptors: a variant is
    never wider than its original) and the width and height that reserve their box."""
    ready = [image for image in images if image.get("status") == "ready"]
    photos: list[dict[str, Any]] = []
    for image in ready:
        original_w, original_h = int(image["width"]), int(image["height"])
        by_width: dict[int, str] = {}
        for key, url in sorted((image.get("urls") or {}).items(), key=lambda kv: _int(kv[0])):
            if url and _int(key) > 0:
                by_width.setdefault(min(_int(key), original_w), url)  # small originals: once
        if not by_width:
            continue
        widths = sorted(by_width)
        largest = widths[-1]
        n = len(photos) + 1
        photos.append(
            {
                "src": by_width[min(widths, key=lambda w: abs(w - 800))],
                "largest": by_width[largest],
                "srcset": ", ".join(f"{by_width[w]} {w}w" for w in widths),
                "sizes": LEAD_SIZES if n == 1 else TILE_SIZES,
                "width": largest,
                "height": max(1, round(original_h * largest / max(1, original_w))),
                "alt": made._("Photo {n} of {count}: {title}", n=n, count=len(ready), title=title),
            }
        )
    return photos


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 0


def facts(listing: dict[str, Any], made: Page) -> list[tuple[str, str]]:
    """(label, value) of the facts list, in the page's language."""
    _, lang = made._, made.language
    yes, no = _("yes"), _("no")
    rows = [
        (_("Warm rent"), made.money(listing["warm_rent_cents"])),
        (_("Cold rent"), made.money(listing["cold_rent_cents"])),
        (_("Utilities"), made.money(listing["utilities_cents"])),
        (_("Deposit"), made.money(listing["deposit_cents"])),
        (_("Rooms"), number(listing["rooms"], lang)),
        (_("Living space"), f"{number(listing['size_sqm'], lang)} m²"),
        (
            _("Available from"),
            made.date(listing["available_from"]) if listing.get("available_from") else _("now"),
        ),
        (_("Furnished"), yes if listing["furnished"] else no),
        (_("Pets allowed"), yes if listing["pets_allowed"] else no),
        (_("WBS required"), yes if listing.get("wbs_required") else no),
    ]
    if listing.get("energy_class"):
        rows.append((_("Energy efficiency class"), listing["energy_class"]))
    return rows


def place(listing: Mapping[str, Any]) -> str:
    """'10243 Berlin (Friedrichshain)'."""
    where = f"{listing['postal_code']} {listing['city']}"
    return f"{where} ({listing['district']})" if listing.get("district") else where


def summary(listing: dict[str, Any], made: Page) -> str:
    """The meta description: the facts that decide, then the start of the description."""
    lead = made._(
        "{rooms} rooms, {size} m², {rent} warm in {place}.",
        rooms=number(listing["rooms"], made.language),
        size=number(listing["size_sqm"], made.language),
        rent=made.money(listing["warm_rent_cents"]),
        place=place(listing),
    )
    text = " ".join(f"{lead} {listing.get('description') or ''}".split())
    if len(text) <= DESCRIPTION_CHARS:
        return text
    return text[: DESCRIPTION_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _absolute(base: str, url: str) -> str:
    return url if "://" in url else base + url


def _euros(cents: int) -> int | float:
    return cents // 100 if cents % 100 == 0 else cents / 100


def structured(listing: dict[str, Any], url: str, photos: list[dict[str, Any]]) -> dict[str, Any]:
    """schema.org JSON-LD: the Apartment and its Offer (the warm rent per month)."""
    address: dict[str, Any] = {
        "@type": "PostalAddress",
        "postalCode": listing["postal_code"],
        "addressLocality": listing["city"],
        "addressCountry": "DE",
    }
    if listing.get("street"):
        address["streetAddress"] = (
            f"{listing['street']} {listing.get('house_number') or ''}".strip()
        )
    offer: dict[str, Any] = {
        "@type": "Offer",
        "price": _euros(listing["warm_rent_cents"]),
        "priceCurrency": "EUR",
        "availability": AVAILABILITY.get(listing["status"], AVAILABILITY["active"]),
        "url": url,
    }
    if listing.get("available_from"):
        offer["availabilityStarts"] = listing["available_from"]
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Apartment",
        "name": listing["title"],
        "description": listing.get("description") or listing["title"],
        "url": url,
        "address": address,
        "numberOfRooms": listing["rooms"],
        "floorSize": {
            "@type": "QuantitativeValue",
            "value": listing["size_sqm"],
            "unitCode": "MTK",
        },
        "petsAllowed": bool(listing["pets_allowed"]),
        "offers": offer,
    }
    # Coordinates only where the landlord shows the exact address (the public ones are
    # rounded to ~500 m: not a place to point at).
    if listing.get("show_exact_address") and listing.get("latitude") is not None:
        data["geo"] = {
            "@type": "GeoCoordinates",
            "latitude": listing["latitude"],
            "longitude": listing["longitude"],
        }
    if photos:
        base = url.split(LISTING_PREFIX, 1)[0]
        data["image"] = [
            p["largest"] if "://" in p["largest"] else base + p["largest"] for p in photos
        ]
    return data
