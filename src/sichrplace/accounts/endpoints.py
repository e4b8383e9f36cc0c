"""Accounts routes: /auth/*, /me, /me/password, /admin/users/{id}[/suspend|/unsuspend]."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from sichrplace.accounts import service
from sichrplace.accounts.dependencies import AdminUser, AuthDep, CurrentUser, SignedUser
from sichrplace.accounts.models import Role
from sichrplace.accounts.schemas import (
    AcceptedOut,
    LoginIn,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetRequestIn,
    ProfileOut,
    ProfilePatch,
    RefreshIn,
    RegisterIn,
    TokenPairOut,
    UserOut,
    VerifyEmailIn,
)
from sichrplace.accounts.service import TokenPair
from sichrplace.kit.clock import utcnow
from sichrplace.platform.http.dependencies import PrimaryDB, RedisDep
from sichrplace.platform.http.language import request_language
from sichrplace.platform.http.openapi import problems

router = APIRouter(tags=["accounts"])

# The device token of accounts/throttle.py: a cookie for browsers, a header for API clients.
DEVICE_COOKIE = "sp_device"
DEVICE_HEADER = "X-Device-Token"


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
async def register(
    body: RegisterIn, request: Request, session: PrimaryDB, auth: AuthDep
) -> UserOut:
    """The new account's language is the request's (Accept-Language; German by default):
    its verification mail is written in it, and `PATCH /me` changes it."""
    user = await service.register(
        session,
        auth,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        role=Role(body.role),
        language=request_language(request),
    )
    return UserOut.of(user)


@router.post("/auth/login", response_model=TokenPairOut, responses=problems(401, 403, 422, 429))
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    session: PrimaryDB,
    auth: AuthDep,
    redis: RedisDep,
) -> TokenPairOut:
    """Sign in. Failed attempts are throttled (429 with Retry-After); a device that signed
    in to this account before (its device token in the X-Device-Token header or the
    sp_device cookie) is throttled on its own, never by other people's failures."""
    # `sichrplace serve` believes X-Forwarded-For from the load balancer only
    # (SICHRPLACE_APP_FORWARDED_ALLOW_IPS), so this is the real client address.
    client_ip = request.client.host if request.client else "unknown"
    presented = [
        t
        for t in (request.headers.get(DEVICE_HEADER), request.cookies.get(DEVICE_COOKIE))
        if t and len(t) <= 2048
    ]
    result = await service.login(
        session,
        auth,
        redis,
        email=body.email,
        password=body.password,
        client_ip=client_ip,
        device_tokens=presented,
    )
    response.set_cookie(
        DEVICE_COOKIE,
        result.device_token,
        max_age=auth.settings.device_token_ttl_seconds,
        path="/api/v1/auth",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    out = _pair(result.tokens)
    out.device_token = result.device_token
    return out


@router.post("/auth/refresh", response_model=TokenPairOut, responses=problems(401, 403, 422))
async def refresh(body: RefreshIn, session: PrimaryDB, auth: AuthDep) -> TokenPairOut:
    # A replayed token raises RefreshTokenReused, which commits the family's revocation first.
    return _pair(await service.refresh(session, auth, body.refresh_token))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401))
async def logout(user: SignedUser, session: PrimaryDB, auth: AuthDep, redis: RedisDep) -> Response:
    """End the caller's session (the login the access token belongs to): its refresh tokens
    at once, its access tokens within seconds on every instance. Idempotent: a token whose
    session already ended gets 204 too. No body is needed."""
    await service.logout(session, redis, auth.settings, user_id=user.id, session_id=user.session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401))
async def logout_all(
    user: CurrentUser, session: PrimaryDB, auth: AuthDep, redis: RedisDep
) -> Response:
    """Log out everywhere: every session of the caller ends, this one included."""
    await service.end_sessions(session, redis, auth.settings, user.id, "logout_all")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/me/password", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401, 422, 429)
)
async def change_password(
    body: PasswordChangeIn,
    request: Request,
    user: CurrentUser,
    session: PrimaryDB,
    auth: AuthDep,
    redis: RedisDep,
) -> Response:
    """Change the password (the current one is required: 422 naming `current_password` if
    wrong, 429 after repeated wrong ones). Every other session of the caller ends; this one
    goes on."""
    await service.change_password(
        session,
        auth,
        redis,
        user_id=user.id,
        session_id=user.session_id,
        current_password=body.current_password,
        new_password=body.new_password,
        client_ip=request.client.host if request.client else "unknown",
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=ProfileOut, responses=problems(401, 404))
async def me(user: CurrentUser, session: PrimaryDB) -> ProfileOut:
    return ProfileOut.of_profile(await service.full_profile(session, user.id))


@router.patch(
    "/me",
    response_model=ProfileOut,
    summary="Change the caller's name, language or notification preferences",
    responses=problems(401, 404, 422, s422="a field has a value it cannot take"),
)
async def patch_me(
    body: ProfilePatch, user: CurrentUser, session: PrimaryDB, redis: RedisDep
) -> ProfileOut:
    """A new language holds from the caller's next request on, on every instance."""
    profile = await service.update_profile(
        session,
        redis,
        user.id,
        full_name=body.full_name,
        language=body.language,
        notification_preferences=body.preference_changes(),
        now=utcnow(),
    )
    return ProfileOut.of_profile(profile)


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


@router.post(
    "/admin/users/{user_id}/suspend", response_model=UserOut, responses=problems(401, 403, 404)
)
async def admin_suspend_user(
    user_id: uuid.UUID, admin: AdminUser, session: PrimaryDB, auth: AuthDep, redis: RedisDep
) -> UserOut:
    """Suspend an account (admins only): every session ends within seconds; login and
    refresh answer 403 `account-suspended` until it is lifted."""
    return UserOut.of(
        await service.set_suspended(session, redis, auth.settings, user_id, suspended=True)
    )


@router.post(
    "/admin/users/{user_id}/unsuspend",
    response_model=UserOut,
    responses=problems(401, 403, 404),
)
async def admin_unsuspend_user(
    user_id: uuid.UUID, admin: AdminUser, session: PrimaryDB, auth: AuthDep, redis: RedisDep
) -> UserOut:
    """Lift a suspension (admins only): the user can log in again."""
    return UserOut.of(
        await service.set_suspended(session, redis, auth.settings, user_id, suspended=False)
    )
