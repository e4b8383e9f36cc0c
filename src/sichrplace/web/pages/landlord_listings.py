"""The landlord's listings: the list of their own, create, edit, archive (with a confirm step),
and the photos of a listing.

Every page needs a signed-in landlord and works through the public API only: `GET
/listings/mine`, `POST`/`PATCH`/`DELETE /listings/{id}`, `GET`/`POST /listings/{id}/images`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Query
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from sichrplace.kit.errors import NotFound
from sichrplace.kit.i18n import N_
from sichrplace.web.client import ApiProblem
from sichrplace.web.csrf import checked_form
from sichrplace.web.pages import landlord_forms as forms
from sichrplace.web.pages.base import Page, api, page_router, redirect, render, signed_in
from sichrplace.web.pages.listing import listing_path

router = page_router()

LISTINGS = "/vermieter/inserate"
PAGE_SIZE = 20
IMAGE_TYPES = "image/jpeg,image/png,image/webp"
THUMB_WIDTH = 320
Cursor = Annotated[str | None, Query(max_length=200)]
Status = Annotated[str | None, Query(max_length=20)]


def listing_id_of(value: str) -> str:
    """Ids are opaque UUIDs: anything else is no listing (never a path of our making)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound(N_("No such listing.")) from None


async def own_listing(made: Page, listing_id: str) -> dict[str, Any]:
    """The viewer's own listing in the owner's view (404 for another's: it has no owner id)."""
    listing: dict[str, Any] = await api(made).get(f"/listings/{listing_id_of(listing_id)}")
    principal = made.viewer.principal
    if principal is None or str(listing.get("owner_id")) != str(principal.id):
        raise NotFound(N_("No such listing."))
    return listing


# What a page says after a form led back to it (?neu=1 after creating, ...).
NOTICES = {"neu": "created", "gespeichert": "saved", "bild": "image", "archiviert": "archived"}


def notice_of(request: Request, notices: dict[str, str] = NOTICES) -> str | None:
    return next((said for key, said in notices.items() if request.query_params.get(key)), None)


def _form_context(made: Page) -> dict[str, Any]:
    """What the listing form shows besides the values: choices and their labels."""
    return {
        "amenities": forms.labels(forms.AMENITY_LABELS, made.language),
        "energy_classes": forms.ENERGY_CLASS_OPTIONS,
        "statuses": forms.labels(forms.LISTING_STATUS_LABELS, made.language),
    }


# --- my listings ------------------------------------------------------------------------------


@router.get(LISTINGS)
async def my_listings(request: Request, cursor: Cursor = None, status: Status = None) -> Response:
    made = await signed_in(request, "landlord/listings", role="landlord")
    status = status if status in forms.LISTING_STATUS_LABELS else None  # else: all of them
    found = await api(made).get("/listings/mine", cursor=cursor, status=status, limit=PAGE_SIZE)
    context = {
        "listings": found["items"],
        "next_cursor": found["next_cursor"],
        "status": status or "",
        "statuses": forms.labels(forms.LISTING_STATUS_LABELS, made.language),
        "public_path": listing_path,
        "decimal": lambda value: forms.decimal(value, made.language),
        "notice": notice_of(request),
    }
    return render(request, made, context)


# --- create -----------------------------------------------------------------------------------


@router.get(f"{LISTINGS}/neu")
async def new_listing_page(request: Request) -> Response:
    made = await signed_in(request, "landlord/listing_form", role="landlord")
    values = forms.listing_values(FormData())
    context = {"mode": "new", "values": values, "errors": {}, "problem": None}
    return render(request, made, {**context, **_form_context(made)})


@router.post(f"{LISTINGS}/neu")
async def create_listing(request: Request) -> Response:
    form = await checked_form(request)
    made = await signed_in(request, "landlord/listing_form", role="landlord")
    values = forms.listing_values(form)
    parsed = forms.listing_body(values, partial=False)
    try:
        created = await api(made).post("/listings", parsed.body)
    except ApiProblem as problem:
        if not forms.for_the_form(problem):
            raise
        errors = forms.input_errors(
            problem,
            forms.LISTING_INPUTS,
            parsed.problems,
            made.language,
            known=forms.LISTING_FIELDS,
        )
        context = {"mode": "new", "values": values, "errors": errors, "problem": problem}
        return render(request, made, {**context, **_form_context(made)}, status=problem.status)
    return redirect(request, made, f"{LISTINGS}/{created['id']}/bearbeiten?neu=1")


# --- edit and photos --------------------------------------------------------------------------


async def _images(made: Page, listing_id: str) -> list[dict[str, Any]]:
    """The listing's photos with the smallest variant as the thumbnail (none while processing)."""
    found: list[dict[str, Any]] = await api(made).get(f"/listings/{listing_id}/images")
    for image in found:
        urls = {int(w): u for w, u in (image.get("urls") or {}).items() if u}
        width = min(THUMB_WIDTH, int(image["width"]))
        image["thumb"] = urls[min(urls)] if urls else None
        image["thumb_width"] = width
        image["thumb_height"] = max(1, round(width * int(image["height"]) / int(image["width"])))
    return found


async def _edit_page(
    request: Request,
    made: Page,
    listing: dict[str, Any],
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    problem: ApiProblem | None = None,
    image_error: str | None = None,
    status: int = 200,
) -> Response:
    context = {
        "mode": "edit",
        "listing": listing,
        "public": listing_path(listing),
        "values": values or forms.listing_values_of(listing, made.language),
        "errors": errors or {},
        "problem": problem,
        "images": await _images(made, listing["id"]),
        "image_types": IMAGE_TYPES,
        "image_error": image_error,
        "notice": notice_of(request),
    }
    made.template = "landlord/listing_form"
    return render(request, made, {**context, **_form_context(made)}, status=status)


@router.get(LISTINGS + "/{listing_id}/bearbeiten")
async def edit_listing_page(request: Request, listing_id: str) -> Response:
    made = await signed_in(request, "landlord/listing_form", role="landlord")
    return await _edit_page(request, made, await own_listing(made, listing_id))


@router.post(LISTINGS + "/{listing_id}/bearbeiten")
async def edit_listing(request: Request, listing_id: str) -> Response:
    form = await checked_form(request)
    made = await signed_in(request, "landlord/listing_form", role="landlord")
    listing = await own_listing(made, listing_id)
    values = forms.listing_values(form)
    parsed = forms.listing_body(values, partial=True)
    changes = forms.changed(parsed.body, listing)
    if changes:
        try:
            await api(made).patch(f"/listings/{listing['id']}", changes)
        except ApiProblem as problem:
            if not forms.for_the_form(problem):
                raise
            errors = forms.input_errors(
                problem,
                forms.LISTING_INPUTS,
                parsed.problems,
                made.language,
                known=forms.LISTING_FIELDS,
            )
            return await _edit_page(
                request,
                made,
                listing,
                values=values,
                errors=errors,
                problem=problem,
                status=problem.status,
            )
    return redirect(request, made, f"{LISTINGS}/{listing['id']}/bearbeiten?gespeichert=1")


@router.post(LISTINGS + "/{listing_id}/bilder")
async def upload_image(request: Request, listing_id: str) -> Response:
    """Forwards the chosen file to the API (which checks type, size and content)."""
    form = await checked_form(request)
    made = await signed_in(request, "landlord/listing_form", role="landlord")
    listing = await own_listing(made, listing_id)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        message = N_("Choose a photo (JPEG, PNG or WebP) to upload.").render(made.language)
        return await _edit_page(request, made, listing, image_error=message, status=422)
    data = await upload.read()
    file = (upload.filename, data, upload.content_type or "application/octet-stream")
    try:
        await api(made).call("POST", f"/listings/{listing['id']}/images", files={"file": file})
    except ApiProblem as problem:
        if not forms.for_the_form(problem):
            raise
        message = problem.field_errors().get("file") or problem.detail
        return await _edit_page(request, made, listing, image_error=message, status=problem.status)
    return redirect(request, made, f"{LISTINGS}/{listing['id']}/bearbeiten?bild=1#bilder")


# --- archive ----------------------------------------------------------------------------------


@router.get(LISTINGS + "/{listing_id}/archivieren")
async def archive_page(request: Request, listing_id: str) -> Response:
    made = await signed_in(request, "landlord/archive", role="landlord")
    listing = await own_listing(made, listing_id)
    return render(request, made, {"listing": listing, "problem": None})


@router.post(LISTINGS + "/{listing_id}/archivieren")
async def archive(request: Request, listing_id: str) -> Response:
    await checked_form(request)
    made = await signed_in(request, "landlord/archive", role="landlord")
    listing = await own_listing(made, listing_id)
    try:
        await api(made).delete(f"/listings/{listing['id']}")
    except ApiProblem as problem:
        if not forms.for_the_form(problem):
            raise
        return render(
            request, made, {"listing": listing, "problem": problem}, status=problem.status
        )
    return redirect(request, made, f"{LISTINGS}?archiviert=1")
