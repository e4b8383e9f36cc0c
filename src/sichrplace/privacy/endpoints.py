"""Privacy routes: GET /me/export (the caller's data as a JSON download) and DELETE /me
(anonymise the caller's account after re-authentication)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from sichrplace.accounts.dependencies import AuthDep, CurrentUser
from sichrplace.kit.clock import utcnow
from sichrplace.listings.parts import LISTINGS, ListingsParts
from sichrplace.payments.parts import PAYMENTS, PaymentsParts
from sichrplace.platform.http.dependencies import PrimaryDB, RedisDep, SettingsDep, part
from sichrplace.platform.http.openapi import problems
from sichrplace.privacy import rules, service
from sichrplace.privacy.schemas import DeleteAccountIn, ExportOut

router = APIRouter(tags=["privacy"])

PaymentsDep = Annotated[PaymentsParts, Depends(part(PAYMENTS))]
ListingsPartsDep = Annotated[ListingsParts, Depends(part(LISTINGS))]
MAX_USER_AGENT = 512


def _client(request: Request) -> tuple[str, str | None]:
    # `sichrplace serve` believes X-Forwarded-For from the load balancer only, so this is
    # the real client address (as for login).
    ip = request.client.host if request.client else "unknown"
    agent = request.headers.get("user-agent")
    return ip, agent[:MAX_USER_AGENT] if agent else None


@router.get("/me/export", response_model=ExportOut, responses=problems(401))
async def export_my_data(request: Request, user: CurrentUser, session: PrimaryDB) -> JSONResponse:
    """All of the caller's data as a JSON download (Art. 15/20 DSGVO). Audited."""
    now = utcnow()
    ip, agent = _client(request)
    document = await service.export(session, user.id, ip=ip, user_agent=agent, now=now)
    filename = rules.export_filename(now.date().isoformat())
    return JSONResponse(
        jsonable_encoder(document),
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(
        401,
        409,
        422,
        429,
        s401="Not signed in, or the password is wrong",
        s409="A contract still awaits signatures or the caller's deposit",
        s429="Too many wrong passwords",
    ),
)
async def delete_my_account(
    body: DeleteAccountIn,
    request: Request,
    user: CurrentUser,
    session: PrimaryDB,
    auth: AuthDep,
    redis: RedisDep,
    payments: PaymentsDep,
    listings: ListingsPartsDep,
    settings: SettingsDep,
) -> Response:
    """Delete the caller's account (Art. 17 DSGVO): the password again, then the account is
    anonymised, every session ends, listings are archived and bookings ahead cancelled (paid
    ones refunded). Messages stay for the other participant ("Gelöschtes Konto"); payments
    and signed contracts are kept as the law requires (the export's `retention`). Audited."""
    ip, agent = _client(request)
    await service.delete_account(
        session,
        auth,
        redis,
        payments,
        listings.read_path,
        user,
        password=body.password,
        ip=ip,
        user_agent=agent,
        viewings_settings=settings.viewings,
        now=utcnow(),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
