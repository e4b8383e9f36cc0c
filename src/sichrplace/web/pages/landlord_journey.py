"""The landlord's side of the booking journey: a listing's viewing slots, the incoming viewings
(cancel, mark completed), and rental contracts (draft from a viewing, send for signing).

Slots are typed as Berlin wall-clock times and sent as aware RFC 3339 times. The contract's
own page (/vertraege/{id}: read, sign) is the contracts pages' module; these pages lead there.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from sichrplace.kit.errors import NotFound
from sichrplace.kit.i18n import N_
from sichrplace.web.client import ApiProblem
from sichrplace.web.csrf import checked_form
from sichrplace.web.pages import landlord_forms as forms
from sichrplace.web.pages.base import Page, api, page_router, redirect, render, signed_in
from sichrplace.web.pages.landlord_listings import LISTINGS, notice_of, own_listing

router = page_router()

VIEWINGS = "/vermieter/besichtigungen"
CONTRACTS = "/vermieter/vertraege"
PAGE_SIZE = 20
SLOT_NOTICES = {"angelegt": "added", "geloescht": "deleted"}
CANCELLABLE = frozenset({"pending_payment", "confirmed"})
CONTRACTABLE = frozenset({"confirmed", "completed"})
Cursor = Annotated[str | None, Query(max_length=200)]
ViewingParam = Annotated[str | None, Query(max_length=64)]


NOT_FOUND = {
    "slot": N_("No such viewing slot."),
    "viewing": N_("No such viewing."),
    "contract": N_("No such contract."),
}


def _id(value: str, what: str) -> str:
    """Ids are opaque UUIDs: anything else is not found (never a path of our making)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound(NOT_FOUND[what]) from None


async def listing_titles(made: Page, ids: Iterable[str]) -> dict[str, str]:
    """The titles of the viewer's listings among `ids` (their newest hundred in one call,
    older ones one by one)."""
    wanted = set(ids)
    if not wanted:
        return {}
    mine = await api(made).get("/listings/mine", limit=100)
    titles = {item["id"]: item["title"] for item in mine["items"] if item["id"] in wanted}
    for missing in wanted - titles.keys():
        try:
            titles[missing] = (await api(made).get(f"/listings/{missing}"))["title"]
        except ApiProblem as problem:
            if problem.status != 404:
                raise
    return titles


# --- slots ------------------------------------------------------------------------------------


async def _slots_page(
    request: Request,
    made: Page,
    listing: dict[str, Any],
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem: ApiProblem | None = None,
    status: int = 200,
) -> Response:
    found = await api(made).get(f"/listings/{listing['id']}/slots", limit=200)
    context = {
        "listing": listing,
        "slots": found["items"],
        "values": values or {"date": "", "start": "18:00", "duration": "30"},
        "durations": forms.SLOT_MINUTES,
        "errors": errors or {},
        "problem": problem,
        "notice": notice_of(request, SLOT_NOTICES),
    }
    made.template = "landlord/slots"
    return render(request, made, context, status=status)


@router.get(LISTINGS + "/{listing_id}/termine")
async def slots_page(request: Request, listing_id: str) -> Response:
    made = await signed_in(request, "landlord/slots", role="landlord")
    return await _slots_page(request, made, await own_listing(made, listing_id))


@router.post(LISTINGS + "/{listing_id}/termine")
async def add_slot(request: Request, listing_id: str) -> Response:
    form = await checked_form(request)
    made = await signed_in(request, "landlord/slots", role="landlord")
    listing = await own_listing(made, listing_id)
    values = {name: forms.text_of(form, name) for name in ("date", "start", "duration")}
    try:
        starts, ends = forms.slot_times(values["date"], values["start"], values["duration"])
    except ValueError as exc:
        wrong = str(exc)
        message = {"date": forms.DAY_PROBLEM, "start": forms.TIME_PROBLEM}.get(
            wrong, N_("Choose how long the viewing lasts.")
        )
        errors = {wrong: message.render(made.language)}
        return await _slots_page(request, made, listing, values=values, errors=errors, status=422)
    body = {"starts_at": starts.isoformat(), "ends_at": ends.isoformat()}
    try:
        await api(made).post(f"/listings/{listing['id']}/slots", body)
    except ApiProblem as problem:
        if not forms.for_the_form(problem):
            raise
        inputs = {"starts_at": "start", "ends_at": "duration"}
        errors = forms.input_errors(
            problem, inputs, {}, made.language, known=("date", "start", "duration")
        )
        return await _slots_page(
            request,
            made,
            listing,
            values=values,
            errors=errors,
            problem=problem,
            status=problem.status,
        )
    return redirect(request, made, f"{LISTINGS}/{listing['id']}/termine?angelegt=1")


@router.post(LISTINGS + "/{listing_id}/termine/{slot_id}/loeschen")
async def delete_slot(request: Request, listing_id: str, slot_id: str) -> Response:
    await checked_form(request)
    made = await signed_in(request, "landlord/slots", role="landlord")
    listing = await own_listing(made, listing_id)
    try:
        await api(made).delete(f"/listings/{listing['id']}/slots/{_id(slot_id, 'slot')}")
    except ApiProblem as problem:
        if not forms.for_the_form(problem):
            raise
        return await _slots_page(request, made, listing, problem=problem, status=problem.status)
    return redirect(request, made, f"{LISTINGS}/{listing['id']}/termine?geloescht=1")


# --- incoming viewings ------------------------------------------------------------------------


def _actions(viewing: dict[str, Any], now: datetime) -> dict[str, bool]:
    """What the landlord may do with a booking now (the API decides; this hides the rest)."""
    started = datetime.fromisoformat(viewing["slot"]["starts_at"]) <= now
    return {
        "cancel": viewing["status"] in CANCELLABLE,
        "complete": viewing["status"] == "confirmed" and started,
        "contract": viewing["status"] in CONTRACTABLE,
    }


@router.get(VIEWINGS)
async def viewings_page(request: Request, cursor: Cursor = None) -> Response:
    made = await signed_in(request, "landlord/viewings", role="landlord")
    found = await api(made).get("/viewings", **{"as": "landlord"}, cursor=cursor, limit=PAGE_SIZE)
    now = datetime.now(UTC)
    rows = [{**v, "can": _actions(v, now)} for v in found["items"]]
    context = {
        "viewings": rows,
        "next_cursor": found["next_cursor"],
        "titles": await listing_titles(made, (v["listing_id"] for v in rows)),
        "statuses": forms.labels(forms.VIEWING_STATUS_LABELS, made.language),
        "notice": request.query_params.get("erledigt"),
    }
    return render(request, made, context)


async def _viewing(made: Page, viewing_id: str) -> dict[str, Any]:
    viewing: dict[str, Any] = await api(made).get(f"/viewings/{_id(viewing_id, 'viewing')}")
    return viewing


@router.get(VIEWINGS + "/{viewing_id}/absagen")
async def cancel_page(request: Request, viewing_id: str) -> Response:
    made = await signed_in(request, "landlord/cancel_viewing", role="landlord")
    viewing = await _viewing(made, viewing_id)
    titles = await listing_titles(made, [viewing["listing_id"]])
    return render(request, made, {"viewing": viewing, "title": titles.get(viewing["listing_id"])})


@router.post(VIEWINGS + "/{viewing_id}/absagen")
async def cancel_viewing(request: Request, viewing_id: str) -> Response:
    await checked_form(request)
    made = await signed_in(request, "landlord/cancel_viewing", role="landlord")
    await api(made).post(f"/viewings/{_id(viewing_id, 'viewing')}/cancel")
    return redirect(request, made, f"{VIEWINGS}?erledigt=cancelled")


@router.post(VIEWINGS + "/{viewing_id}/abschliessen")
async def complete_viewing(request: Request, viewing_id: str) -> Response:
    await checked_form(request)
    made = await signed_in(request, "landlord/viewings", role="landlord")
    await api(made).post(f"/viewings/{_id(viewing_id, 'viewing')}/complete")
    return redirect(request, made, f"{VIEWINGS}?erledigt=completed")


# --- contracts --------------------------------------------------------------------------------


@router.get(CONTRACTS)
async def contracts_page(request: Request) -> Response:
    made = await signed_in(request, "landlord/contracts", role="landlord")
    found = await api(made).get("/contracts", **{"as": "landlord"}, limit=100)
    context = {
        "contracts": found["items"],
        "titles": await listing_titles(made, (c["listing_id"] for c in found["items"])),
        "statuses": forms.labels(forms.CONTRACT_STATUS_LABELS, made.language),
    }
    return render(request, made, context)


CONTRACT_INPUTS = {
    "cold_rent_cents": "cold_rent",
    "utilities_cents": "utilities",
    "deposit_cents": "deposit",
}
CONTRACT_FIELDS = frozenset(
    ("start_date", "end_date", "cold_rent", "utilities", "deposit", "deposit_plan")
)
CONTRACT_READERS = {
    "start_date": forms.Reader("start_date", forms.day, forms.DAY_PROBLEM),
    "end_date": forms.Reader("end_date", forms.day, forms.DAY_PROBLEM),
    **{
        name: forms.Reader(api_name, forms.cents, forms.MONEY_PROBLEM)
        for api_name, name in CONTRACT_INPUTS.items()
    },
}


def _contract_values(listing: dict[str, Any], made: Page) -> dict[str, str]:
    """A new contract's form, filled from the listing: its rents, deposit and free date."""
    return {
        "start_date": listing.get("available_from") or "",
        "end_date": "",
        "cold_rent": forms.euros(listing.get("cold_rent_cents"), made.language),
        "utilities": forms.euros(listing.get("utilities_cents"), made.language),
        "deposit": forms.euros(listing.get("deposit_cents"), made.language),
        "deposit_plan": "once",
    }


async def _contract_form(
    request: Request,
    made: Page,
    viewing: dict[str, Any],
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem: ApiProblem | None = None,
    status: int = 200,
) -> Response:
    listing = await api(made).get(f"/listings/{viewing['listing_id']}")
    context = {
        "viewing": viewing,
        "listing": listing,
        "values": values or _contract_values(listing, made),
        "errors": errors or {},
        "problem": problem,
    }
    made.template = "landlord/contract_form"
    return render(request, made, context, status=status)


@router.get(CONTRACTS + "/neu")
async def new_contract_page(request: Request, viewing: ViewingParam = None) -> Response:
    """With `?viewing=`: the contract's form; without: the viewings to draft one from."""
    made = await signed_in(request, "landlord/contract_pick", role="landlord")
    if viewing:
        return await _contract_form(request, made, await _viewing(made, viewing))
    found = await api(made).get("/viewings", **{"as": "landlord"}, limit=100)
    ready = [v for v in found["items"] if v["status"] in CONTRACTABLE]
    titles = await listing_titles(made, (v["listing_id"] for v in ready))
    return render(request, made, {"viewings": ready, "titles": titles})


@router.post(CONTRACTS + "/neu")
async def create_contract(request: Request) -> Response:
    form = await checked_form(request)
    made = await signed_in(request, "landlord/contract_form", role="landlord")
    viewing = await _viewing(made, forms.text_of(form, "viewing_id"))
    values = {name: forms.text_of(form, name) for name in CONTRACT_FIELDS}
    parsed = forms.Parsed(body={"viewing_id": viewing["id"]})
    for name, how in CONTRACT_READERS.items():
        forms.read_into(parsed, name, values[name], how, partial=False)
    parsed.body["deposit_plan"] = values["deposit_plan"] or "once"
    try:
        created = await api(made).post("/contracts", parsed.body)
    except ApiProblem as problem:
        if not forms.for_the_form(problem):
            raise
        errors = forms.input_errors(
            problem, CONTRACT_INPUTS, parsed.problems, made.language, known=CONTRACT_FIELDS
        )
        return await _contract_form(
            request,
            made,
            viewing,
            values=values,
            errors=errors,
            problem=problem,
            status=problem.status,
        )
    return redirect(request, made, f"/vertraege/{created['id']}")


@router.post(CONTRACTS + "/{contract_id}/senden")
async def send_contract(request: Request, contract_id: str) -> Response:
    """draft -> sent (the PDF is frozen); then the contract's page, where both sign."""
    await checked_form(request)
    made = await signed_in(request, "landlord/contracts", role="landlord")
    contract_id = _id(contract_id, "contract")
    await api(made).post(f"/contracts/{contract_id}/send")
    return redirect(request, made, f"/vertraege/{contract_id}")
