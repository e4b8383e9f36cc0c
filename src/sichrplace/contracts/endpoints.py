"""Contract routes: draft, send, sign, choose the deposit plan, read (the contract, the list,
the PDF, the audit trail). Everything but drafting is for the two parties only; anyone else is
told the contract does not exist."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status

from sichrplace.accounts.dependencies import CurrentUser, LandlordUser
from sichrplace.contracts import service
from sichrplace.contracts.errors import ContractNotFound
from sichrplace.contracts.records import Client
from sichrplace.contracts.schemas import (
    AuditOut,
    ContractCreate,
    ContractOut,
    ContractPage,
    DepositPlanIn,
    SignIn,
)
from sichrplace.contracts.vocabulary import Party
from sichrplace.platform.http.dependencies import PrimaryDB
from sichrplace.platform.http.openapi import problems

router = APIRouter(prefix="/contracts", tags=["contracts"])

MAX_USER_AGENT = 512  # what the audit trail keeps of a User-Agent header


def _client(request: Request) -> Client:
    # Behind nginx, uvicorn's proxy headers (trusted forwarded_allow_ips) make request.client
    # the caller's address from X-Forwarded-For.
    agent = request.headers.get("user-agent")
    return Client(
        ip=request.client.host if request.client else None,
        user_agent=None if agent is None else agent[:MAX_USER_AGENT],
    )


def _contract_id(contract_id: str) -> uuid.UUID:
    """Ids are opaque: anything that is not one of ours is simply not found."""
    try:
        return uuid.UUID(contract_id)
    except ValueError:
        raise ContractNotFound() from None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ContractOut,
    responses=problems(
        401,
        403,
        404,
        409,
        422,
        s403="Only landlords draft contracts, and only for their own listings",
        s404="No such viewing (of the caller's), listing or tenant",
        s409="The viewing is not confirmed or completed",
    ),
)
async def create_contract(
    body: ContractCreate,
    user: LandlordUser,
    session: PrimaryDB,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    """A draft from a confirmed viewing (`viewing_id`), or for a listing and a tenant. The
    deposit is capped at three cold rents (§551 BGB); `deposit_plan` is the landlord's
    proposal, the tenant chooses (`PUT /contracts/{id}/deposit-plan`)."""
    out = await service.create_contract(session, user, body, _client(request))
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{out['id']}"
    return out


@router.get("", response_model=ContractPage, responses=problems(401, 422))
async def list_contracts(
    user: CurrentUser,
    session: PrimaryDB,
    as_: Annotated[
        Literal["tenant", "landlord"] | None,
        Query(alias="as", description="the caller's side; default: by the caller's role"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> dict[str, Any]:
    party = Party(as_) if as_ else Party.LANDLORD if user.role == "landlord" else Party.TENANT
    return {"items": await service.list_contracts(session, user, party, limit)}


@router.get("/{contract_id}", response_model=ContractOut, responses=problems(401, 404))
async def get_contract(contract_id: str, user: CurrentUser, session: PrimaryDB) -> dict[str, Any]:
    return await service.get_contract(session, user, _contract_id(contract_id))


@router.get(
    "/{contract_id}/document",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {}},
            "description": "The lease (Wohnraummietvertrag) as PDF: the frozen document once "
            "sent (its SHA-256 is `document_sha256`), a preview while a draft",
        },
        **problems(401, 404),
    },
)
async def get_document(
    contract_id: str, user: CurrentUser, session: PrimaryDB, request: Request
) -> Response:
    doc = await service.get_document(session, user, _contract_id(contract_id), _client(request))
    return Response(
        content=doc.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="mietvertrag-{contract_id}.pdf"',
            "X-Document-SHA256": doc.sha256,
            "X-Document-Frozen": "true" if doc.frozen else "false",
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/{contract_id}/audit", response_model=AuditOut, responses=problems(401, 404))
async def get_audit(contract_id: str, user: CurrentUser, session: PrimaryDB) -> dict[str, Any]:
    """Every step in order: who did what, when, from which address."""
    return await service.audit_trail(session, user, _contract_id(contract_id))


@router.post(
    "/{contract_id}/send",
    response_model=ContractOut,
    responses=problems(
        401, 403, 404, 409, s403="Only the landlord sends", s409="The contract is not a draft"
    ),
)
async def send_contract(
    contract_id: str, user: CurrentUser, session: PrimaryDB, request: Request
) -> dict[str, Any]:
    """draft → sent: the PDF is frozen and its SHA-256 recorded as `document_sha256`."""
    return await service.send_contract(session, user, _contract_id(contract_id), _client(request))


@router.post(
    "/{contract_id}/sign",
    response_model=ContractOut,
    responses=problems(
        401,
        404,
        409,
        422,
        s409="Not awaiting this party's signature, already signed, or not the frozen "
        "document's hash",
    ),
)
async def sign_contract(
    contract_id: str, body: SignIn, user: CurrentUser, session: PrimaryDB, request: Request
) -> dict[str, Any]:
    """The caller's signature (tenant or landlord) over the frozen document's SHA-256."""
    return await service.sign_contract(
        session, user, _contract_id(contract_id), body, _client(request)
    )


@router.put(
    "/{contract_id}/deposit-plan",
    response_model=ContractOut,
    responses=problems(
        401,
        403,
        404,
        409,
        422,
        s403="Only the tenant chooses",
        s409="The first deposit payment has been started",
    ),
)
async def choose_deposit_plan(
    contract_id: str,
    body: DepositPlanIn,
    user: CurrentUser,
    session: PrimaryDB,
    request: Request,
) -> dict[str, Any]:
    """The tenant pays the deposit at once or in three monthly parts (§551 Abs. 2 BGB)."""
    return await service.choose_deposit_plan(
        session, user, _contract_id(contract_id), body.deposit_plan, _client(request)
    )
