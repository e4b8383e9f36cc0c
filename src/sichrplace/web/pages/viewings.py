"""The tenant's viewings: choosing a slot, booking it and paying the fee on the provider's
approval page, the return from there, the list of bookings and one booking (its state while
the payment is confirmed, paying again, cancelling).

Booking makes the booking and its payment in one API call (`POST /viewings`, with the form's
Idempotency-Key: a double submit books once); the page then sends the browser to the
provider. The booking is confirmed by the provider's webhook, not by the browser's return:
the viewing's page polls its state (htmx, and the `viewing.updated` event) until it is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from sichrplace.kit.errors import ProblemError
from sichrplace.kit.i18n import N_
from sichrplace.web.client import ApiClient, ApiProblem
from sichrplace.web.csrf import checked_form
from sichrplace.web.pages.base import api, page, page_router, redirect, render, safe_next, signed_in
from sichrplace.web.pages.journey import (
    OPEN_PAYMENT,
    for_the_form,
    form_key,
    is_uuid,
    listing_of,
    listing_path,
    listings_of,
    new_key,
    returned_to,
    segment,
    text_of,
    to_provider,
)

router = page_router()

PAGE_SIZE = 20
PaymentRef = Annotated[str | None, Query(alias="zahlung")]


def _viewing_id(value: str) -> str:
    if not is_uuid(value):
        raise ProblemError(N_("No such viewing."), status=404, slug="viewing-not-found")
    return value


def _listing_id(value: str) -> str:
    if not is_uuid(value):
        raise ProblemError(N_("No such listing."), status=404, slug="listing-not-found")
    return value


# --- choosing a slot and booking it -----------------------------------------------------------


async def _booking_context(client: ApiClient, listing_id: str) -> dict[str, Any]:
    listing = await client.get(f"/listings/{segment(listing_id)}")
    slots = await client.get(f"/listings/{segment(listing_id)}/slots")
    return {"listing": listing, "slots": slots["items"], "listing_path": listing_path}


@router.get("/besichtigungen/neu")
async def booking_page(request: Request, listing: str = "") -> Response:
    """A listing's free slots to book (what the listing page shows, as a page of its own)."""
    made = await page(request, "viewings/book")
    context = await _booking_context(api(made), _listing_id(listing))
    return render(request, made, context)


@router.post("/besichtigungen/buchen")
async def book(request: Request) -> Response:
    form = await checked_form(request)
    made = await signed_in(request, "viewings/book")
    client = api(made)
    slot_id, listing_id = text_of(form, "slot_id"), text_of(form, "listing_id")
    body: dict[str, Any] = {"slot_id": slot_id or None}
    if message := text_of(form, "message"):
        body["message"] = message
    try:
        answer = await client.call(
            "POST", "/viewings", json=body, headers={"Idempotency-Key": form_key(form)}
        )
    except ApiProblem as problem:
        if not for_the_form(problem) or not is_uuid(listing_id):
            raise
        context = await _booking_context(client, listing_id)
        context.update(
            booking_problem=problem,
            booking_errors=problem.field_errors(),
            booking_values={"slot_id": slot_id, "message": message},
        )
        return render(request, made, context, status=problem.status)
    booked = answer.json()
    gone = to_provider(request, made, booked.get("payment") or {}, kind="viewing", ref=booked["id"])
    return gone or redirect(request, made, f"/besichtigungen/{booked['id']}")


@router.get("/zahlung/zurueck")
@router.get("/viewings")  # payments.return_path's default (config.py): the same return
async def payment_return(request: Request) -> Response:
    """Back from the provider's page: on to the page of what was paid for."""
    made = await signed_in(request, "viewings/list")
    return redirect(request, made, returned_to(request))


# --- the list and one viewing -------------------------------------------------------------------


@router.get("/besichtigungen")
async def viewings_page(request: Request, cursor: str | None = None) -> Response:
    """The viewer's bookings as tenant (a landlord's incoming ones are on the landlord's pages)."""
    made = await signed_in(request, "viewings/list")
    client = api(made)
    found = await client.get("/viewings", cursor=cursor, limit=PAGE_SIZE, **{"as": "tenant"})
    listings = await listings_of(client, (v["listing_id"] for v in found["items"]))
    context = {
        "viewings": found["items"],
        "listings": listings,
        "next_cursor": found.get("next_cursor"),
        "listing_path": listing_path,
        "key": new_key(),
    }
    return render(request, made, context)


async def _viewing_context(
    client: ApiClient, viewing_id: str, payment_ref: str | None
) -> dict[str, Any]:
    """The viewing and its fee's payment; `waiting` while the provider's confirmation is due
    (the payer came back from its page, `payment_ref`, or the provider is completing it)."""
    viewing = await client.get(f"/viewings/{segment(viewing_id)}")
    payment = viewing.get("payment") or {}
    returned = payment_ref if payment_ref and is_uuid(payment_ref) else ""
    # Succeeded while the viewing still waits: the two were read one after the other and the
    # provider's confirmation committed in between (both change in one transaction); the next
    # poll shows the viewing confirmed.
    waiting = viewing["status"] == "pending_payment" and (
        payment.get("status") in ("processing", "succeeded")
        or (bool(returned) and payment.get("status") in OPEN_PAYMENT)
    )
    return {
        "viewing": viewing,
        "payment": payment,
        "waiting": waiting,
        "payment_ref": returned,
        "key": new_key(),
    }


@router.get("/besichtigungen/{viewing_id}")
async def viewing_page(request: Request, viewing_id: str, zahlung: PaymentRef = None) -> Response:
    made = await signed_in(request, "viewings/detail")
    client = api(made)
    context = await _viewing_context(client, _viewing_id(viewing_id), zahlung)
    listing = await listing_of(client, context["viewing"]["listing_id"])
    context.update(listing=listing, listing_path=listing_path)
    return render(request, made, context)


@router.get("/besichtigungen/{viewing_id}/status")
async def viewing_status(request: Request, viewing_id: str, zahlung: PaymentRef = None) -> Response:
    """The viewing's state box alone: what the page polls while the payment is confirmed."""
    made = await signed_in(request, "viewings/_status")
    context = await _viewing_context(api(made), _viewing_id(viewing_id), zahlung)
    # 286: htmx swaps the answer and stops polling (the payment is settled either way).
    return render(request, made, context, status=200 if context["waiting"] else 286)


@router.post("/besichtigungen/{viewing_id}/absagen")
async def cancel(request: Request, viewing_id: str) -> Response:
    form = await checked_form(request)
    made = await signed_in(request, "viewings/detail")
    await api(made).post(f"/viewings/{segment(_viewing_id(viewing_id))}/cancel")
    target = safe_next(text_of(form, "next") or None, f"/besichtigungen/{viewing_id}")
    return redirect(request, made, target)


@router.post("/besichtigungen/{viewing_id}/bezahlen")
async def pay(request: Request, viewing_id: str) -> Response:
    """Pay a booking's fee (again, after a declined or abandoned payment): the provider's page."""
    form = await checked_form(request)
    made = await signed_in(request, "viewings/detail")
    payment = (
        await api(made).call(
            "POST",
            "/payments/intents",
            json={"purpose": "viewing_fee", "viewing_id": _viewing_id(viewing_id)},
            headers={"Idempotency-Key": form_key(form)},
        )
    ).json()
    gone = to_provider(request, made, payment, kind="viewing", ref=viewing_id)
    return gone or redirect(request, made, f"/besichtigungen/{viewing_id}")
