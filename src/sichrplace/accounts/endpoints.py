"""Accounts routes: /auth/*, /me, /admin/users/{id}."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from sichrplace.accounts.dependencies import AdminUser, AuthDep, CurrentUser
from sichrplace.accounts.models import Role
from sichrplace.accounts.schemas import (
    AcceptedOut,
    LoginIn,
    PasswordResetConfirmIn,
    PasswordResetRequestIn,
    RefreshIn,
    RegisterIn,
    TokenPairOut,
    UserOut,
    VerifyEmailIn,
)
from sichrplace.accounts.service import AccountService, TokenPair
from sichrplace.platform.http.dependencies import PrimaryDB, RedisDep

router = APIRouter(tags=["accounts"])


async def get_service(session: PrimaryDB, auth: AuthDep, redis: RedisDep) -> AccountService:
    return AccountService(session, auth, redis)


Service = Annotated[AccountService, Depends(get_service)]
_401: dict[int | str, dict[str, Any]] = {401: {"description": "Missing or invalid credentials"}}


def _pair(pair: TokenPair) -> TokenPairOut:
    return TokenPairOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        refresh_expires_in=pair.refresh_expires_in,
    )


@router.post("/auth/register", status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def register(body: RegisterIn, service: Service) -> UserOut:
    user = await service.register(
        email=body.email, password=body.password, full_name=body.full_name, role=Role(body.role)
    )
    return UserOut.of(user)


@router.post("/auth/login", response_model=TokenPairOut, responses=_401)
async def login(body: LoginIn, request: Request, service: Service) -> TokenPairOut:
    # uvicorn runs with proxy headers from nginx, so this is the real client address.
    client_ip = request.client.host if request.client else "unknown"
    pair = await service.login(email=body.email, password=body.password, client_ip=client_ip)
    return _pair(pair)


@router.post("/auth/refresh", response_model=TokenPairOut, responses=_401)
async def refresh(body: RefreshIn, service: Service) -> TokenPairOut:
    # A replayed token raises RefreshTokenReused, which commits the family's revocation first.
    return _pair(await service.refresh(body.refresh_token))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=_401)
async def logout(user: CurrentUser, service: Service) -> Response:
    """Revoke the caller's session: the refresh-token family the access token was issued for.

    Every refresh token of that login is dead afterwards; the access token itself expires on
    its own (short lifetime). No body is needed.
    """
    await service.logout(user_id=user.id, session_id=user.session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserOut, responses=_401)
async def me(user: CurrentUser, service: Service) -> UserOut:
    return UserOut.of(await service.profile(user.id))


@router.post("/auth/verify-email", response_model=UserOut)
async def verify_email(body: VerifyEmailIn, service: Service) -> UserOut:
    return UserOut.of(await service.verify_email(body.token))


@router.post(
    "/auth/password-reset/request",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedOut,
)
async def request_password_reset(body: PasswordResetRequestIn, service: Service) -> AcceptedOut:
    await service.request_password_reset(body.email)
    return AcceptedOut(detail="If an account exists for this address, a reset link is on its way.")


@router.post("/auth/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
async def confirm_password_reset(body: PasswordResetConfirmIn, service: Service) -> Response:
    await service.confirm_password_reset(body.token, body.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/admin/users/{user_id}", response_model=UserOut, responses=_401)
async def admin_get_user(user_id: uuid.UUID, admin: AdminUser, service: Service) -> UserOut:
    return UserOut.of(await service.profile(user_id))
