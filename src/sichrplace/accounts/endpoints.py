"""Accounts routes: /auth/*, /me, /admin/users/{id}."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from sichrplace.accounts import service
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
from sichrplace.accounts.service import TokenPair
from sichrplace.platform.http.dependencies import PrimaryDB, RedisDep
from sichrplace.platform.http.openapi import problems

router = APIRouter(tags=["accounts"])


def _pair(pair: TokenPair) -> TokenPairOut:
    return TokenPairOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        refresh_expires_in=pair.refresh_expires_in,
    )


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=problems(
        409, 422, s409="An account with this email exists", s422="Invalid input or a weak password"
    ),
)
async def register(body: RegisterIn, session: PrimaryDB, auth: AuthDep) -> UserOut:
    user = await service.register(
        session,
        auth,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        role=Role(body.role),
    )
    return UserOut.of(user)


@router.post("/auth/login", response_model=TokenPairOut, responses=problems(401, 422, 429))
async def login(
    body: LoginIn, request: Request, session: PrimaryDB, auth: AuthDep, redis: RedisDep
) -> TokenPairOut:
    # uvicorn runs with proxy headers from nginx, so this is the real client address.
    client_ip = request.client.host if request.client else "unknown"
    pair = await service.login(
        session, auth, redis, email=body.email, password=body.password, client_ip=client_ip
    )
    return _pair(pair)


@router.post("/auth/refresh", response_model=TokenPairOut, responses=problems(401, 422))
async def refresh(body: RefreshIn, session: PrimaryDB, auth: AuthDep) -> TokenPairOut:
    # A replayed token raises RefreshTokenReused, which commits the family's revocation first.
    return _pair(await service.refresh(session, auth, body.refresh_token))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401))
async def logout(user: CurrentUser, session: PrimaryDB) -> Response:
    """Revoke the caller's session: the refresh-token family the access token was issued for.

    Every refresh token of that login is dead afterwards; the access token itself expires on
    its own (short lifetime). No body is needed.
    """
    await service.logout(session, user_id=user.id, session_id=user.session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserOut, responses=problems(401, 404))
async def me(user: CurrentUser, session: PrimaryDB) -> UserOut:
    return UserOut.of(await service.profile(session, user.id))


@router.post("/auth/verify-email", response_model=UserOut, responses=problems(422))
async def verify_email(body: VerifyEmailIn, session: PrimaryDB) -> UserOut:
    return UserOut.of(await service.verify_email(session, body.token))


@router.post(
    "/auth/password-reset/request",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedOut,
    responses=problems(422),
)
async def request_password_reset(
    body: PasswordResetRequestIn, session: PrimaryDB, auth: AuthDep, redis: RedisDep
) -> AcceptedOut:
    await service.request_password_reset(session, auth, redis, body.email)
    return AcceptedOut(detail="If an account exists for this address, a reset link is on its way.")


@router.post(
    "/auth/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(422, s422="Invalid, expired or used token, or a weak password"),
)
async def confirm_password_reset(
    body: PasswordResetConfirmIn, session: PrimaryDB, auth: AuthDep, redis: RedisDep
) -> Response:
    await service.confirm_password_reset(session, auth, redis, body.token, body.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/admin/users/{user_id}", response_model=UserOut, responses=problems(401, 403, 404, 422)
)
async def admin_get_user(user_id: uuid.UUID, admin: AdminUser, session: PrimaryDB) -> UserOut:
    return UserOut.of(await service.profile(session, user_id))
