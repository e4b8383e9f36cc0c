"""Contracts for both parties: the list, one contract (its terms, signatures and history), its
PDF, signing it, and the tenant's deposit once both have signed.

The PDF comes from the API through the page (the browser holds a session cookie, not the
bearer token the API wants). Signing sends the SHA-256 of the frozen document the page showed:
if the document changed meanwhile the API refuses (409). The deposit is paid like the viewing
fee, on the provider's approval page; back from there the contract's page polls its deposit
until the provider's webhook has recorded the payment.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sichrplace.kit.errors import ProblemError
from sichrplace.kit.i18n import N_
from sichrplace.web.client import ApiClient, ApiProblem
from sichrplace.web.csrf import checked_form
from sichrplace.web.pages.base import Page, api, page_router, redirect, render, signed_in
from sichrplace.web.pages.journey import (
    OPEN_PAYMENT,
    for_the_form,
    form_key,
    is_uuid,
    listing_of,
    listing_path,
    listings_of,
    new_key,
    segment,
    text_of,
    to_provider,
    user_agent,
)
from sichrplace.web.session import apply_cookies

router = page_router()

SIGNABLE = ("sent", "partially_signed")
PLANS = ("once", "three_parts")
STILL_POLLING = 200
STOP_POLLING = 286  # htmx: swap this answer and stop polling


def _contract_id(value: str) -> str:
    if not is_uuid(value):
        raise ProblemError(N_("No such contract."), status=404, slug="contract-not-found")
    return value


def party_of(made: Page, contract: dict[str, Any]) -> str:
    me = str(made.viewer.principal.id) if made.viewer.principal else ""
    return "landlord" if contract["landlord_id"] == me else "tenant"


@router.get("/vertraege")
async def contracts_page(request: Request) -> Response:
    made = await signed_in(request, "contracts/list")
    client = api(made)
    found = await client.get("/contracts")
    items = found["items"]
    listings = await listings_of(client, (c["listing_id"] for c in items))
    rows = [
        {
            "contract": c,
            "listing": listings.get(c["listing_id"]),
            "party": party_of(made, c),
            "my_turn": c["status"] in SIGNABLE
            and party_of(made, c) not in {s["party"] for s in c["signatures"]},
        }
        for c in items
    ]
    return render(request, made, {"rows": rows})


# --- one contract ---------------------------------------------------------------------------------


async def _payment(client: ApiClient, contract_id: str, payment_ref: str | None) -> dict[str, Any]:
    """The deposit payment the payer came back from (`?zahlung=`), if it is this contract's."""
    if not (payment_ref and is_uuid(payment_ref)):
        return {}
    with contextlib.suppress(ApiProblem):
        found: dict[str, Any] = await client.get(f"/payments/{segment(payment_ref)}")
        if found.get("contract_id") == contract_id and found.get("purpose") == "deposit":
            return found
    return {}


async def _deposit_context(
    client: ApiClient, made: Page, contract_id: str, payment_ref: str | None
) -> dict[str, Any]:
    contract, payment = await asyncio.gather(
        client.get(f"/contracts/{segment(contract_id)}"),
        _payment(client, contract_id, payment_ref),
    )
    party = party_of(made, contract)
    owed = [p for p in contract["deposit_installments"] if p["paid_at"] is None]
    return {
        "contract": contract,
        "party": party,
        "payment": payment,
        "payment_ref": payment["id"] if payment else "",
        "waiting": payment.get("status") in OPEN_PAYMENT,
        "owed": owed,
        "may_pay": party == "tenant"
        and contract["status"] == "fully_signed"
        and contract["deposit_status"] in ("unpaid", "partially_paid")
        and bool(owed),
        "key": new_key(),
    }


async def _detail(
    request: Request, made: Page, contract_id: str, payment_ref: str | None = None, **extra: Any
) -> Response:
    """The contract's page; `extra`: a refused form's values, errors, problem and `status`."""
    made.template = "contracts/detail"
    client = api(made)
    context, audit = await asyncio.gather(
        _deposit_context(client, made, contract_id, payment_ref),
        client.get(f"/contracts/{segment(contract_id)}/audit"),
    )
    contract = context["contract"]
    signed = {s["party"] for s in contract["signatures"]}
    context.update(
        listing=await listing_of(client, contract["listing_id"]),
        listing_path=listing_path,
        events=audit["events"],
        may_sign=contract["status"] in SIGNABLE
        and context["party"] not in signed
        and bool(contract["document_sha256"]),
        sign_values={},
        sign_errors={},
        sign_problem=None,
        deposit_problem=None,
        signed_now=request.query_params.get("unterschrieben") == "1",
    )
    status = extra.pop("status", 200)
    context.update(extra)
    return render(request, made, context, status=status)


@router.get("/vertraege/{contract_id}")
async def contract_page(request: Request, contract_id: str, zahlung: str | None = None) -> Response:
    made = await signed_in(request, "contracts/detail")
    return await _detail(request, made, _contract_id(contract_id), zahlung)


@router.get("/vertraege/{contract_id}/kaution")
async def deposit_status(
    request: Request, contract_id: str, zahlung: str | None = None
) -> Response:
    """The deposit box alone: what the page polls until the payment is confirmed."""
    made = await signed_in(request, "contracts/_deposit")
    context = await _deposit_context(api(made), made, _contract_id(contract_id), zahlung)
    context["deposit_problem"] = None
    status = STILL_POLLING if context["waiting"] else STOP_POLLING
    return render(request, made, context, status=status)


@router.get("/vertraege/{contract_id}/dokument")
async def document(request: Request, contract_id: str) -> Response:
    """The contract's PDF, shown in the browser."""
    made = await signed_in(request, "contracts/detail")
    answer = await api(made).call(
        "GET",
        f"/contracts/{segment(_contract_id(contract_id))}/document",
        headers={"Accept": "application/pdf", **user_agent(request)},
    )
    headers = {
        "Content-Disposition": answer.headers.get("content-disposition")
        or f'inline; filename="mietvertrag-{contract_id}.pdf"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if sha := answer.headers.get("x-document-sha256"):
        headers["X-Document-SHA256"] = sha
    response = Response(answer.content, media_type="application/pdf", headers=headers)
    apply_cookies(response, request, made.viewer)
    return response


@router.post("/vertraege/{contract_id}/unterschreiben")
async def sign(request: Request, contract_id: str) -> Response:
    form = await checked_form(request)
    made = await signed_in(request, "contracts/detail")
    cid = _contract_id(contract_id)
    values = {
        "full_name": text_of(form, "full_name"),
        "accept": form.get("accept") == "yes",
        "document_sha256": text_of(form, "document_sha256"),
    }
    try:
        await api(made).call(
            "POST", f"/contracts/{segment(cid)}/sign", json=values, headers=user_agent(request)
        )
    except ApiProblem as problem:
        if not for_the_form(problem):
            raise
        return await _detail(
            request,
            made,
            cid,
            sign_values=values,
            sign_errors=problem.field_errors(),
            sign_problem=problem,
            status=problem.status,
        )
    return redirect(request, made, f"/vertraege/{cid}?unterschrieben=1")


@router.post("/vertraege/{contract_id}/kaution")
async def pay_deposit(request: Request, contract_id: str) -> Response:
    """The tenant pays the deposit (or its next part) on the provider's page, having chosen
    the plan if it is still open."""
    form = await checked_form(request)
    made = await signed_in(request, "contracts/detail")
    cid = _contract_id(contract_id)
    client = api(made)
    plan = text_of(form, "deposit_plan")
    try:
        if plan in PLANS:
            contract = await client.get(f"/contracts/{segment(cid)}")
            if not contract["deposit_plan_fixed"] and contract["deposit_plan"] != plan:
                await client.call(
                    "PUT",
                    f"/contracts/{segment(cid)}/deposit-plan",
                    json={"deposit_plan": plan},
                    headers=user_agent(request),
                )
        payment = (
            await client.call(
                "POST",
                "/payments/intents",
                json={"purpose": "deposit", "contract_id": cid},
                headers={"Idempotency-Key": form_key(form)},
            )
        ).json()
    except ApiProblem as problem:
        if not for_the_form(problem):
            raise
        return await _detail(request, made, cid, deposit_problem=problem, status=problem.status)
    gone = to_provider(request, made, payment, kind="contract", ref=cid)
    return gone or redirect(request, made, f"/vertraege/{cid}?zahlung={payment['id']}")
